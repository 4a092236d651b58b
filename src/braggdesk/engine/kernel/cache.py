"""Where the compiled kernel is kept on disk, and why there.

Numba checks a cached function against its own source file only: change a function in one file
and the cached kernel that inlined it from another file would still be loaded.  So every kernel
function is cached in one folder named by a digest of all the kernel's sources (and the Numba
and Python versions): any change to any kernel file starts a fresh folder, an unchanged kernel is
loaded in a fraction of a second.  The folder is under the user's cache directory
(``$XDG_CACHE_HOME/braggdesk`` or ``~/.cache/braggdesk``; ``BRAGGDESK_CACHE_DIR`` overrides),
which also works when the package itself is installed read-only.  Each use marks its folder; kernel
folders unused for ``STALE_DAYS`` are removed (not at once: two installed versions of braggdesk
share the cache root and must not keep deleting each other's kernel).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

_PREFIX = "kernel-"
STALE_DAYS = 14


def kernel_digest() -> str:
    """A digest of the kernel's source files, the Numba version and the Python version."""
    import numba  # noqa: PLC0415

    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    h.update(numba.__version__.encode())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    env = os.environ.get("BRAGGDESK_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "braggdesk"


def _prepare_folder() -> Path | None:
    """This kernel's cache folder, created (and older kernel folders removed); None if not writable."""
    root = cache_root()
    folder = root / f"{_PREFIX}{kernel_digest()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    now = time.time()
    os.utime(folder, (now, now))  # in use
    for old in root.glob(f"{_PREFIX}*"):
        try:
            stale = old != folder and old.is_dir() and now - old.stat().st_mtime > STALE_DAYS * 86400
        except OSError:
            continue
        if stale:
            shutil.rmtree(old, ignore_errors=True)
    return folder


_FOLDER: Path | None = None
_READY = False


def kernel_cache_folder() -> Path | None:
    global _FOLDER, _READY
    if not _READY:
        _FOLDER = _prepare_folder()
        _READY = True
    return _FOLDER


@contextlib.contextmanager
def numba_cache_dir() -> Iterator[bool]:
    """Point Numba's cache at the kernel's folder while functions are decorated; yields whether
    caching is possible (else the kernel is compiled in memory, every process anew)."""
    from numba.core import config  # noqa: PLC0415

    folder = kernel_cache_folder()
    previous = config.CACHE_DIR
    if folder is not None:
        config.CACHE_DIR = str(folder)
    try:
        yield folder is not None
    finally:
        config.CACHE_DIR = previous
