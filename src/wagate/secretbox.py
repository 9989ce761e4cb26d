"""Credentials at rest (webhook secrets, proxy passwords): encrypted with one key per node.

The key is `WAGATE_SECRET_KEY` or, when that is unset, a key file generated in the data
directory (600). Every node of a cluster must have the same key: what one node stores the
others must read. Encrypted values carry a prefix, so a value stored before encryption (an
older database) is still read as it is, and encrypted on its next write or at start.
"""

from __future__ import annotations

import binascii
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from wagate.config import Settings
from wagate.files import PRIVATE_FILE, private_dir, private_file

PREFIX = "enc:v1:"
KEY_FILE = "secret.key"
KEY_HELP = (
    "a Fernet key: 32 random bytes, URL-safe base64 (44 characters), as `wagate secret-key` prints"
)


class SecretKeyError(RuntimeError):
    """The key is missing, malformed, or not the one the stored values were encrypted with."""


class SecretBox:
    """Encrypts and decrypts short strings with the node's key."""

    def __init__(self, key: str | bytes, source: str) -> None:
        self.source = source  # where the key came from, for error messages (never the key)
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise SecretKeyError(f"{source} is not a valid key: it must be {KEY_HELP}") from exc

    @staticmethod
    def is_encrypted(value: str) -> bool:
        return value.startswith(PREFIX)

    def encrypt(self, value: str) -> str:
        if self.is_encrypted(value):
            return value
        return PREFIX + self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, value: str) -> str:
        """The plain value; a value stored before encryption comes back as it is."""
        if not self.is_encrypted(value):
            return value
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise SecretKeyError(
                f"a stored secret cannot be decrypted with the key from {self.source} (it was "
                "encrypted with another key; every node of a cluster needs the same "
                "WAGATE_SECRET_KEY)"
            ) from exc


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def _key_file(data_dir: Path) -> str:
    """The data directory's key, generated on first use. Written to a temporary file and
    linked into place, so that two processes starting on one data directory agree on one
    key and neither ever reads a half-written file."""
    path = data_dir / KEY_FILE
    if not path.exists():
        private_dir(data_dir)
        temporary = data_dir / f".{KEY_FILE}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        private_file(temporary)
        temporary.write_text(generate_key() + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: its key is the key
        finally:
            temporary.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, PRIVATE_FILE)
    return path.read_text().strip()


def open_box(settings: Settings) -> SecretBox:
    """The node's box; a malformed key fails here, at start."""
    # Set but empty counts as unset (an environment blanking inherited WAGATE_* variables).
    given = settings.secret_key.get_secret_value().strip() if settings.secret_key else ""
    if given:
        return SecretBox(given, "WAGATE_SECRET_KEY")
    path = settings.data_dir / KEY_FILE
    try:
        key = _key_file(settings.data_dir)
    except OSError as exc:
        raise SecretKeyError(
            f"the key file {path} cannot be made or read ({exc.strerror or exc}): make the "
            "data directory writable, or set WAGATE_SECRET_KEY"
        ) from exc
    return SecretBox(key, f"the key file {path}")
