"""How the process gets its memory: reused, in small pages.

Each job makes arrays the size of the CT grid (media, dose scale, tallies, the merged total, the
dose), and the first touch of fresh memory is a page fault.  Two settings make those cheap:

* numpy asks the kernel for transparent huge pages on arrays of 4 MB and more.  Where the kernel
  compacts memory to find them on a fault (``defrag`` = madvise, common on cloud and virtual
  machines) a fresh array can stall for a second: on the development machine a ``braggdesk run``
  of a 150 MeV pencil beam on a 1.6 M-voxel CT took 5.4-6.1 s with huge pages (3.0-3.7 s of it in
  the kernel) and 2.6 s without (0.2 s), and the transport on a 3.8 M-voxel grid ran at 69 000
  primaries/s instead of 187 000 while its tally's pages were faulted in.  So numpy's huge-page
  advice is switched off.
* glibc hands allocations above 128 kB back to the kernel when they are freed, so the next
  batch's arrays would be faulted in again; raising glibc's mmap and trim thresholds keeps them in
  the process's heap (the process keeps its peak memory).

Both are process-wide and set once, by the command line at start and by the engine before a job;
nothing happens off Linux or glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from the heap
_done = False


def tune_memory() -> None:
    """Apply both settings (once per process)."""
    global _done
    if _done:
        return
    _done = True
    _no_numpy_huge_pages()
    _keep_freed_memory()


def _no_numpy_huge_pages() -> bool:
    try:
        from numpy._core import multiarray  # numpy 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is None:
        return False
    setter(False)
    return True


def _keep_freed_memory() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
