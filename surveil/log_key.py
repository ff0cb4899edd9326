"""The log's signing key: an Ed25519 signer key in ``data_dir/log.key``, never in the index.

The file holds one line in Go's note signer-key form (``PRIVATE+KEY+<name>+<id>+<key>``),
created at the first start with mode 0600 and refused if others could read it, like the
camera key (cameras/credentials.py). The key's name is the log's origin:
``surveil/<installation id>`` with a random id, or ``[integrity] origin`` when that is set
before the first start. A key that cannot be read stops the service: making a new one
silently would orphan every checkpoint signed so far.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import ClassVar, Final

from cameras.credentials import PrivateFileError, create_private_file, read_private_file
from tlog.note import NoteError, Signer

LOG_KEY_FILE: Final = "log.key"


class LogKeyError(Exception):
    """The log's signing key file is unusable; the message says what to fix."""

    code: ClassVar[str] = "log_key_unusable"


def default_origin() -> str:
    return f"surveil/{secrets.token_hex(6)}"


def open_log_key(data_dir: Path, origin: str | None = None, *, create: bool = True) -> Signer:
    """The installation's signer, creating its key file on first use (unless create is
    False: verify must never make a key)."""
    path = Path(data_dir) / LOG_KEY_FILE
    if create and not path.exists() and not path.is_symlink():
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        try:
            signer = Signer.generate(origin or default_origin())
        except NoteError as exc:
            raise LogKeyError(f"[integrity] origin cannot name a key: {exc}") from None
        try:
            create_private_file(path, signer.line().encode() + b"\n")
        except OSError as exc:
            raise LogKeyError(f"cannot create the log key file {path}: {exc.strerror}") from None
    try:
        raw = read_private_file(path, "log key file")
    except PrivateFileError as exc:
        raise LogKeyError(str(exc)) from None
    try:
        signer = Signer.parse(raw.decode("ascii"))
    except (UnicodeDecodeError, NoteError) as exc:
        raise LogKeyError(
            f"the log key file {path} does not hold a signer key ({exc}); restore it from a backup"
        ) from None
    if origin is not None and signer.name != origin:
        raise LogKeyError(
            f"[integrity] origin is {origin!r} but the log key in {path} signs as "
            f"{signer.name!r}; the origin is fixed when the key is made: remove the setting"
        )
    return signer
