"""The compiled per-history kernel: scalar functions written once and compiled for the CPU cores (Numba) and
for CUDA (numba-cuda); see :mod:`.adapt` for how one source serves both."""
