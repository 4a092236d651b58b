"""Owner-only folders and files for patient data and key material on a node or on this machine.

Why: a job folder holds the job (the CT as an array, the plan) and its doses; a TLS folder
holds a private key.  On a shared node other accounts must not read them, so braggdesk
creates such folders 0700 and their files 0600, and refuses a folder that already exists
with looser permissions or another owner instead of using it (a folder someone else can
read, or made by someone else, cannot be made private again by writing into it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputError

FOLDER_MODE = 0o700
FILE_MODE = 0o600


class NotPrivate(InputError):
    """A folder or file that should be owner-only is not (or is owned by someone else)."""


def check_private(path: Path, *, folder: bool = True) -> None:
    """Refuse ``path`` unless it is a folder (or file) of this user that no one else can read or enter."""
    path = Path(path)
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise NotPrivate(path, "does not exist") from None
    kind = "folder" if folder else "file"
    if stat.S_ISLNK(st.st_mode):
        raise NotPrivate(path, f"is a symbolic link; braggdesk keeps patient data only in a real {kind} of its own")
    if folder != stat.S_ISDIR(st.st_mode):
        raise NotPrivate(path, f"is not a {kind}")
    if st.st_uid != os.getuid():
        raise NotPrivate(path, f"belongs to user id {st.st_uid}, not to this user ({os.getuid()}); braggdesk keeps "
                               f"patient data only in its own {kind}s: remove it or choose another place")
    loose = stat.S_IMODE(st.st_mode) & 0o077
    if loose:
        want = FOLDER_MODE if folder else FILE_MODE
        raise NotPrivate(path, f"has permissions {stat.S_IMODE(st.st_mode):04o}, which let other users "
                               f"{'read or enter' if folder else 'read'} it; braggdesk keeps patient data only in "
                               f"owner-only {kind}s ({want:04o}): chmod {want:o} {path}")


def private_folder(path: Path) -> Path:
    """``path`` as an owner-only folder: created 0700 (with any missing parents 0700), or checked if it exists."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and not p.is_symlink():
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # made meanwhile by another process: checked below like any existing folder
            pass
        os.chmod(p, FOLDER_MODE)  # mkdir's mode is filtered by the umask; 0700 is never widened by it
    check_private(path)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file of mode 0600 (an existing file is replaced, never written through)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a stale temporary file from a crash keeps its old mode otherwise
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
    finally:
        if fd >= 0:
            os.close(fd)
    os.replace(tmp, path)


def open_private_append(path: Path):
    """``path`` opened for appending, created 0600 if new (a log that may hold file names or notes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, FILE_MODE)
    return os.fdopen(fd, "ab")


def touch_private(path: Path) -> None:
    """An empty 0600 marker file (e.g. ``cancel``)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE))
