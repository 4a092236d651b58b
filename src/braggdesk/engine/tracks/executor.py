"""Executors of the track-repeating mode: the full engine's executors (same batches, same sparse
tallies, same spot-resolved blocks for dose-influence matrices) launching the re-tracing kernel
(:mod:`braggdesk.engine.kernel.retrace_cpu`, :mod:`~braggdesk.engine.kernel.retrace_cuda`) with the packed
track database as extra arguments."""

from __future__ import annotations

from ...errors import DeviceError
from ..device import Device
from ..executor import CpuExecutor, CudaExecutor
from ..packing import KernelInputs
from .inputs import TrackInputs


class TrackCpuExecutor(CpuExecutor):
    def __init__(self, inputs: KernelInputs, tracks: TrackInputs, device: Device):
        super().__init__(inputs, device)
        self.tracks = tracks

    def _kernel(self):
        from ..kernel.retrace_cpu import retrace_histories  # noqa: PLC0415

        return retrace_histories

    def _extra_arrays(self) -> tuple:
        return self.tracks.arrays()


class TrackCudaExecutor(CudaExecutor):
    """The database lives on the GPU beside the job's arrays for the executor's lifetime."""

    histories_label = "track-repeating histories"

    def __init__(self, inputs: KernelInputs, tracks: TrackInputs, device: Device):
        from numba import cuda  # noqa: PLC0415

        super().__init__(inputs, device)
        self.tracks = tracks
        try:
            self._track_arrays = tuple(cuda.to_device(a) for a in tracks.arrays())
        except Exception as exc:
            raise DeviceError(f"the GPU could not take the track database ({tracks.nbytes / 1e6:.0f} MB): "
                              f"{exc}") from exc

    def _kernel(self):
        from ..kernel.retrace_cuda import THREADS_PER_BLOCK, retrace_histories  # noqa: PLC0415

        return THREADS_PER_BLOCK, retrace_histories

    def _extra_arrays(self) -> tuple:
        return self._track_arrays


def make_track_executor(inputs: KernelInputs, tracks: TrackInputs, device: Device):
    return TrackCudaExecutor(inputs, tracks, device) if device.is_gpu else TrackCpuExecutor(inputs, tracks, device)
