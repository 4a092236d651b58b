"""Keep freed large buffers in the process, so batch after batch reuses memory instead of faulting it in.

Each batch makes a few arrays the size of the CT grid (tallies, the Snapshot's sums, the merged
total).  glibc hands allocations above 128 kB straight back to the kernel when they are freed,
so the next batch's arrays are new pages that must be faulted in and zeroed.  On the virtual
machines braggdesk is developed and benchmarked on that costs 15-60 us a page: 0.2-0.9 s for a
15-60 MB array, against 5-13 ms for reused memory (measured on the 1.94 M-voxel demo grid), more
than the transport of a batch.  So the first job raises glibc's mmap and trim thresholds: large
blocks come from and return to the process's heap.  The cost is that the process keeps its peak
memory.  Nothing happens off glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from the heap
_done = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory (once per process); True if it took the setting."""
    global _done
    if _done:
        return True
    _done = True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
