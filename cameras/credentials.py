"""Camera passwords at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key kept outside the index.

The key is the file ``secret.key`` in the data directory, created on first use atomically
(written to a private temporary file, fsynced, then hard-linked into place so that two
processes starting at once agree on one key) with mode 0600. The index holds only the
ciphertext (``cameras.secret_enc``), so a database dump or backup alone reveals no camera
password; the key file must be backed up separately (and kept as private as the config file).

A key file that other users could read, or that cannot be read or parsed, stops the service
with a :class:`CredentialError` that says what to fix: silently making a new key would turn
every stored password into garbage.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import ClassVar, Final

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE: Final = "secret.key"
_PRIVATE_MODE: Final = 0o600


class PrivateFileError(Exception):
    """A key file in the data directory is unusable; the message says what to fix."""

    code: ClassVar[str] = "key_file_unusable"


class CredentialError(Exception):
    """The key file is unusable, or a stored secret cannot be decrypted. Never holds a secret."""

    code: ClassVar[str] = "credentials_unreadable"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private_file(path: Path, content: bytes) -> bool:
    """Write content to path with mode 0600 unless a file is there already (another process
    won the race); True if this call created it. Atomic: a private temporary file, fsynced,
    hard-linked into place (never replacing), then the directory fsynced."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _PRIVATE_MODE)
    created = False
    try:
        try:
            os.fchmod(fd, _PRIVATE_MODE)  # the umask may have narrowed it, never widened
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic, and never replaces an existing key
            created = True
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return created


def read_private_file(path: Path, what: str) -> bytes:
    """The bytes of a key file that only its owner can read; PrivateFileError saying what to
    fix if it is missing, not a regular file, readable by others, or unreadable."""
    try:
        st = path.lstat()
    except OSError as exc:
        raise PrivateFileError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise PrivateFileError(f"the {what} {path} is not a regular file")
    if st.st_mode & 0o077:
        raise PrivateFileError(
            f"the {what} {path} has mode {stat.S_IMODE(st.st_mode):04o}; "
            f"other users could read it. Restrict it with: chmod 600 {path}"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PrivateFileError(f"cannot read the {what} {path}: {exc.strerror}") from None


def _read_key(path: Path) -> bytes:
    try:
        raw = read_private_file(path, "camera key file").strip()
    except PrivateFileError as exc:
        raise CredentialError(str(exc)) from None
    try:
        Fernet(raw)
    except ValueError:
        raise CredentialError(
            f"the camera key file {path} does not hold a valid key (32 url-safe base64 bytes); "
            "restore it from a backup"
        ) from None
    return raw


class CredentialBox:
    """Encrypts and decrypts camera passwords with the data directory's key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "CredentialBox(<key hidden>)"

    @classmethod
    def open(cls, data_dir: Path) -> CredentialBox:
        """The box for data_dir, creating its key file on first use; CredentialError if unusable."""
        path = Path(data_dir) / KEY_FILE
        if not path.exists() and not path.is_symlink():
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            try:
                create_private_file(path, Fernet.generate_key() + b"\n")
            except OSError as exc:
                raise CredentialError(
                    f"cannot create the camera key file {path}: {exc.strerror}"
                ) from None
        return cls(_read_key(path))

    def encrypt(self, plaintext: str) -> str:
        """The ciphertext of plaintext, as ASCII text for the index."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext; CredentialError if token was altered or made with another key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise CredentialError(
                "a stored camera password cannot be decrypted: it was altered, or the key file "
                f"{KEY_FILE} is not the one it was encrypted with; set the password again"
            ) from None
