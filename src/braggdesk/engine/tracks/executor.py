"""Executors of the track-repeating mode: the full engine's executors (same batches, same sparse
tallies, same spot-resolved blocks for dose-influence matrices) launching the re-tracing kernel
(:mod:`braggdesk.engine.kernel.retrace_cpu`, :mod:`~braggdesk.engine.kernel.retrace_cuda`) with the packed
track database as extra arguments."""

from __future__ import annotations

import numpy as np

from ...errors import DeviceError
from ..device import Device
from ..executor import _CPU_LAUNCH, CHUNKS_PER_THREAD, CpuExecutor, CudaExecutor, split_key
from ..packing import KernelInputs
from .inputs import TrackInputs


class TrackCpuExecutor(CpuExecutor):
    def __init__(self, inputs: KernelInputs, tracks: TrackInputs, device: Device):
        super().__init__(inputs, device)
        self.tracks = tracks

    def _launch(self, key: int, n_histories: int, tally: np.ndarray, rows: np.ndarray, counters: np.ndarray,
                first_spot: int, per_spot: int, rows_per_spot: int) -> None:
        import numba  # noqa: PLC0415

        from ..kernel.retrace_cpu import retrace_histories  # noqa: PLC0415

        if n_histories <= 0:
            return
        inp, db = self.inputs, self.tracks
        threads = min(self.device.threads, numba.config.NUMBA_NUM_THREADS)
        chunks = max(1, min(n_histories, threads * CHUNKS_PER_THREAD))
        key_lo, key_hi = split_key(key)
        with _CPU_LAUNCH:
            numba.set_num_threads(threads)
            retrace_histories(0, n_histories, chunks, key_lo, key_hi, inp.header, inp.tables, inp.voxels, inp.spots,
                              inp.spot_cdf, inp.beams, *db.arrays(), tally, rows, counters,
                              first_spot, per_spot, rows_per_spot)


class TrackCudaExecutor(CudaExecutor):
    """The database lives on the GPU beside the job's arrays for the executor's lifetime."""

    def __init__(self, inputs: KernelInputs, tracks: TrackInputs, device: Device):
        from numba import cuda  # noqa: PLC0415

        super().__init__(inputs, device)
        self.tracks = tracks
        try:
            self._track_arrays = tuple(cuda.to_device(a) for a in tracks.arrays())
        except Exception as exc:
            raise DeviceError(f"the GPU could not take the track database ({tracks.nbytes / 1e6:.0f} MB): "
                              f"{exc}") from exc

    def _launch(self, key: int, n_histories: int, tally, rows, first_spot: int, per_spot: int,
                rows_per_spot: int) -> tuple[np.ndarray, np.ndarray]:
        from numba import cuda  # noqa: PLC0415

        from ..kernel.retrace_cuda import THREADS_PER_BLOCK, retrace_histories  # noqa: PLC0415

        key_lo, key_hi = split_key(key)
        try:
            tally[:] = 0
            self._counters[:] = 0
            if n_histories > 0:
                blocks = max(1, min(self._max_blocks, -(-n_histories // THREADS_PER_BLOCK)))
                retrace_histories[blocks, THREADS_PER_BLOCK](0, n_histories, key_lo, key_hi, *self._arrays,
                                                             *self._track_arrays, tally,
                                                             rows, self._counters, first_spot, per_spot,
                                                             rows_per_spot)
                cuda.synchronize()
            return tally.copy_to_host(), self._counters.copy_to_host()
        except Exception as exc:
            raise DeviceError(f"the GPU failed during a batch of {n_histories} track-repeating histories: "
                              f"{exc}") from exc


def make_track_executor(inputs: KernelInputs, tracks: TrackInputs, device: Device):
    return TrackCudaExecutor(inputs, tracks, device) if device.is_gpu else TrackCpuExecutor(inputs, tracks, device)
