"""Writing results so that none is ever lost: checked before the work, written whole, rescued on failure.

Why: a Monte Carlo run can take an hour, and its dose exists only in memory until
it is written.  So (1) every output path is checked before the work starts
(:func:`check_output_path`: not a folder, its folder writable, by writing a probe
file there, which also catches read-only file systems); (2) a file is written to a
temporary name beside the target and renamed over it (:func:`write_atomically`),
so a reader never sees half a file and an old file survives a failed write; (3) a
write that still fails (a full disk, a share that went away) writes the same
content to a rescue folder and says where, in an :class:`OutputError`.

The rescue folder is ``$BRAGGDESK_RESCUE_DIR`` when set, else ``~/braggdesk-rescued``,
else the system's temporary folder: the first one that takes the file.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Callable

from braggdesk.errors import InputError, OutputError

RESCUE_DIR_VARIABLE = "BRAGGDESK_RESCUE_DIR"


def check_output_path(path: str | Path, what: str) -> Path:
    """InputError now, before any work, if ``what`` (e.g. 'RT Dose') cannot be written at ``path``.

    The folder is created if missing (as the write would); a path that is a
    folder, a folder that is a file, or a folder where no file can be made is
    refused with the reason.  An existing file is fine: it is replaced at the end.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, f"is a folder; expected the name of the {what} file to write (e.g. "
                               f"{path / _example_name(what)})")
    if path.exists() and not path.is_file():
        raise InputError(path, f"is not a regular file (a pipe or a device); expected the name of the {what} "
                               f"file to write")
    _writable_folder(path.parent, what, path)
    return path


def check_output_folder(folder: str | Path, what: str) -> Path:
    """InputError now, before any work, if the folder for ``what`` (e.g. 'demo outputs') cannot be made or
    written in; the folder is created if missing."""
    folder = Path(folder)
    _writable_folder(folder, what, folder)
    return folder


def _writable_folder(folder: Path, what: str, target: Path) -> None:
    """Make ``folder`` (for ``target``) if missing, and prove a file can be made in it; InputError otherwise."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise InputError(existing, f"is a file, not a folder; cannot write the {what} to {target}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(folder, f"cannot create the folder for the {what} ({_reason(exc)})") from None
    _probe(folder, what, target)


def write_atomically(path: str | Path, write: Callable[[Path], object], what: str) -> Path:
    """Call ``write(temporary_path)`` and rename the file to ``path``; on failure, rescue it.

    ``write`` writes the complete file to the path it is given.  If writing or
    renaming fails, ``write`` is called again for a file in the rescue folder,
    and an OutputError names both the failure and the rescued file (or says
    that the rescue failed too).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")  # suffix kept for writers that read it
    try:
        write(temporary)
        os.replace(temporary, path)
        return path
    except OSError as exc:
        _remove_quietly(temporary)
        failure = _reason(exc)
    rescued, rescue_failures = _rescue(path, write)
    if rescued is None:
        raise OutputError(path, f"the {what} could not be written ({failure}), nor kept in a rescue folder "
                                f"({'; '.join(rescue_failures)})")
    raise OutputError(path, f"the {what} could not be written ({failure}); it was kept at {rescued}",
                      kept_at=rescued)


def rescue_folders() -> list[Path]:
    """Where a result that cannot be written where asked goes, in the order tried."""
    folders = []
    if os.environ.get(RESCUE_DIR_VARIABLE):
        folders.append(Path(os.environ[RESCUE_DIR_VARIABLE]))
    folders.append(Path.home() / "braggdesk-rescued")
    folders.append(Path(tempfile.gettempdir()) / "braggdesk-rescued")
    return folders


def _rescue(path: Path, write: Callable[[Path], object]) -> tuple[Path | None, list[str]]:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    failures = []
    for folder in rescue_folders():
        target = folder / f"{path.stem}-{stamp}-{os.getpid()}{path.suffix}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write(target)
            return target, failures
        except OSError as exc:
            _remove_quietly(target)
            failures.append(f"{folder}: {_reason(exc)}")
    return None, failures


def _probe(folder: Path, what: str, path: Path) -> None:
    """Make and remove a small file in ``folder``: the only test that a write will succeed (ACLs, read-only mounts)."""
    probe = folder / f".braggdesk-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        os.close(fd)
    except OSError as exc:
        raise InputError(folder, f"no file can be written in this folder ({_reason(exc)}); choose another place "
                                 f"for the {what} than {path}") from None
    _remove_quietly(probe)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _reason(exc: OSError) -> str:
    """An OSError in words, without the path (the message names it already)."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc) or type(exc).__name__


def _example_name(what: str) -> str:
    return {"RT Dose": "RD.dcm", "JSON summary": "summary.json", "PDF report": "report.pdf"}.get(what, "out")
