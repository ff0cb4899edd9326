"""The host clock's synchronisation state, read from the kernel (adjtimex)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_TIME_ERROR = 5
_STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: we need only modes and status, but the
    # kernel writes the whole struct, so reserve its full size.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    ]


def host_clock_sync() -> str:
    """'synced' when the kernel says an NTP/PTP daemon disciplines the clock, else 'unsynced'.

    'unknown' where the call is not available (non-Linux, restricted sandbox).
    """
    if not sys.platform.startswith("linux"):
        return "unknown"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return "unknown"
    if state < 0:
        return "unknown"
    if state == _TIME_ERROR or tx.status & _STA_UNSYNC:
        return "unsynced"
    return "synced"
