"""Files at rest: the data directory and what is in it are the node's owner's alone.

The data directory holds the gateway's SQLite database, the WhatsApp device stores (the keys
of every linked number) and the key that encrypts webhook secrets: read access to any of them
is access to the accounts. Directories are 700 and files 600, whatever the umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# What SQLite writes beside a database: it gives them the database file's own mode.
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


def _loose(mode: int) -> bool:
    return bool(stat.S_IMODE(mode) & 0o077)


def private_dir(path: Path) -> Path:
    """Create the directory (and missing parents) as 700; an existing one is tightened."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    mode = path.stat().st_mode
    if _loose(mode):
        # mkdir's mode is filtered by the umask, and a directory made by an older version
        # (or by hand) may be 755.
        os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create the file empty as 600 if it is missing; an existing one is tightened."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        if _loose(path.stat().st_mode):
            os.chmod(path, PRIVATE_FILE)
    else:
        os.close(fd)
    return path


def private_sqlite(path: Path) -> Path:
    """A SQLite database file created 600 before SQLite opens it, so that its -wal and -shm
    files (which SQLite creates with the database's mode) are 600 too; existing ones are
    tightened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    private_file(path)
    for end in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + end)
        try:
            if _loose(side.stat().st_mode):
                os.chmod(side, PRIVATE_FILE)
        except FileNotFoundError:
            pass
    return path


# What the gateway keeps in the data directory (the device stores' folder in full); anything
# else a user put there is left as it is.
OWN_FILES = ("*.db", "*.db-*", "*.sqlite3", "*.sqlite3-*", "secret.key")
OWN_DIRS = ("whatsmeow", "media")


def _tighten(path: Path, wanted: int) -> bool:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False  # removed meanwhile (a SQLite side file)
    if stat.S_ISLNK(mode) or not _loose(mode):
        return False
    os.chmod(path, wanted)
    return True


def prepare_data_dir(path: Path) -> Path:
    """At start: the data directory as 700, and what an older version left in it readable by
    others (databases, device stores, the key file) made private; a warning says so."""
    existed = path.exists()
    loose_root = existed and _loose(path.stat().st_mode)
    private_dir(path)
    tightened = 0
    if existed:
        for pattern in OWN_FILES:
            tightened += sum(_tighten(item, PRIVATE_FILE) for item in path.glob(pattern))
        for name in OWN_DIRS:
            own = path / name
            if not own.is_dir() or own.is_symlink():
                continue
            tightened += _tighten(own, PRIVATE_DIR)
            for root, dirs, files in os.walk(own):
                tightened += sum(_tighten(Path(root) / d, PRIVATE_DIR) for d in dirs)
                tightened += sum(_tighten(Path(root) / f, PRIVATE_FILE) for f in files)
    if loose_root or tightened:
        log.warning(
            "data directory was readable by other users: made private (700/600)",
            data_dir=str(path),
            tightened=tightened + int(loose_root),
        )
    return path
