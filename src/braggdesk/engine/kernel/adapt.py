"""What differs between the kernel's two targets, CPU cores (Numba) and NVIDIA GPUs (numba-cuda).

The physics is written once as scalar functions compiled with ``numba.njit``; the CUDA kernel
calls the same functions (numba-cuda compiles an ``njit`` function as a device function when a
kernel calls it).  Only two things differ by target and they live here:

* :func:`atomic_add` -- an integer add that several threads may do to one tally element at once:
  an LLVM ``atomicrmw add`` on the CPU, ``cuda.atomic.add`` on the GPU.  Tallies are int64
  counts of quanta, so the order of the adds never changes the sum (bit-identical results for
  any thread count).
* the outer loops and per-thread scratch arrays, which are in :mod:`.cpu` and :mod:`.cuda`.

:func:`kernel_function` is the one decorator of the shared physics functions.

Run as plain Python (``NUMBA_DISABLE_JIT=1``, as the CUDA simulator test does), :func:`atomic_add`
is an ordinary add under a lock, since the simulator runs a block's threads as Python threads.
(The pattern follows MC/DC's ``adapt.py``: ``global_add`` is a plain add on the CPU and an atomic
on the GPU.)
"""

from __future__ import annotations

import threading

from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .cache import numba_cache_dir

_PYTHON_LOCK = threading.Lock()


def kernel_function(fn):
    """Compile a scalar physics function for the kernel: nopython, cached on disk (see
    :mod:`.cache`), and without reference counting (``_nrt=False``): these functions never
    allocate, and the counting of the array arguments would otherwise cost more than a table
    look-up on every call.  A CUDA kernel that calls the function compiles it again as a device
    function."""
    return cached_jit(_nrt=False)(fn)


def kernel_leaf(fn):
    """:func:`kernel_function` for a small leaf function (a few arithmetic operations, no calls but
    to other leaves), inlined into its callers at the Numba IR level: a call with array arguments
    and tuple results costs more than such a function's body.  Only leaves: inlining the large
    functions multiplies compile time and memory."""
    return cached_jit(_nrt=False, inline="always")(fn)


def cached_jit(**options):
    """``numba.njit(**options)`` with the kernel's disk cache when it can have one."""

    def decorate(fn):
        with numba_cache_dir() as can_cache:
            try:
                return njit(cache=can_cache, **options)(fn)
            except RuntimeError:  # "no locator available": the source file is not on disk (a frozen app)
                return njit(cache=False, **options)(fn)

    return decorate


def atomic_add(array, index, value):
    """array[index] += value, atomically (pure-Python body: used only with the JIT disabled)."""
    with _PYTHON_LOCK:
        array[index] += value


@intrinsic
def _cpu_atomic_add(typingctx, array, index, value):
    """``atomicrmw add`` on the element's address (monotonic: only the sum matters, not ordering)."""
    signature = types.void(array, index, value)

    def codegen(context, builder, sig, args):
        array_type, _, value_type = sig.args
        array_value, index_value, add_value = args
        array_struct = context.make_array(array_type)(context, builder, array_value)
        pointer = cgutils.get_item_pointer(context, builder, array_type, array_struct, [index_value])
        add_value = context.cast(builder, add_value, value_type, array_type.dtype)
        builder.atomic_rmw("add", pointer, add_value, "monotonic")
        return context.get_dummy_value()

    return signature, codegen


@overload(atomic_add, target="cpu")
def _atomic_add_cpu(array, index, value):
    def impl(array, index, value):
        _cpu_atomic_add(array, index, value)

    return impl


def register_cuda() -> None:
    """Register the GPU implementation of :func:`atomic_add` (called by :mod:`.cuda` on import, so
    that a CPU-only process never imports numba-cuda).  In Numba's CUDA simulator nothing is
    compiled and the Python body above serves."""
    from numba import config, cuda  # noqa: PLC0415

    if config.ENABLE_CUDASIM:
        return

    @overload(atomic_add, target="cuda")
    def _atomic_add_cuda(array, index, value):
        def impl(array, index, value):
            cuda.atomic.add(array, index, value)

        return impl
