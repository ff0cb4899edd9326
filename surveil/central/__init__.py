"""Central storage targets: where sealed segments go within 24 h, and come back from for playback.

Two kinds share one protocol (:class:`~surveil.central.target.CentralTarget`): an S3-compatible
object store (:mod:`surveil.central.s3`) and a mounted directory (:mod:`surveil.central.directory`).
They are the I/O layer only: they know keys, bytes and SHA-256 digests, never the index; the
transfer service decides what to upload and records what a target confirmed.
"""

from surveil.central.target import CentralError, CentralTarget, StoredObject, verify_object
from surveil.central.throttle import Throttle

__all__ = ["CentralError", "CentralTarget", "StoredObject", "Throttle", "verify_object"]
