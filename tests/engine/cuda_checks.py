"""Run in a subprocess by test_cuda_kernel.py and test_track_repeat_cuda.py: the CUDA kernels in Numba's
CUDA simulator, or compiled to PTX without a GPU.  ``python cuda_checks.py simulate OUT.npz``,
``executor OUT.npz``, ``retrace OUT.npz``, ``track_executor OUT.npz``, ``python cuda_checks.py ptx OUT.txt`` or ``retrace_ptx``."""

from __future__ import annotations

import sys
import warnings

import numpy as np

from cases import check_job

HISTORIES = 96
KEY = 0x1234_5678_9ABC
TRACKS = 64  # track-repeat: histories per energy of the check's small database


def simulate(out: str) -> None:
    """Needs NUMBA_ENABLE_CUDASIM=1 and NUMBA_DISABLE_JIT=1 in the environment."""
    from braggdesk.engine.device import select_device
    from braggdesk.engine.executor import split_key
    from braggdesk.engine.kernel import cuda as cuda_kernel
    from braggdesk.engine.kernel.layout import N_COUNTERS, TALLY_ROWS
    from braggdesk.engine.simulate import prepare

    inputs = prepare(check_job(), select_device("cpu", 1)).inputs
    tally = np.zeros(TALLY_ROWS * inputs.n_voxels, np.int64)
    counters = np.zeros(N_COUNTERS, np.int64)
    key_lo, key_hi = split_key(KEY)
    with warnings.catch_warnings(), np.errstate(over="ignore"):  # Philox's uint64 products wrap, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        cuda_kernel.run_histories[3, 32](0, HISTORIES, key_lo, key_hi, inputs.header, inputs.tables, inputs.voxels,
                                         inputs.spots, inputs.spot_cdf, inputs.beams, tally,
                                         np.zeros(0, np.int64), counters, 0, 0, 0)
    np.savez(out, tally=tally, counters=counters)


def retrace(out: str) -> None:
    """The track-repeating kernel in the simulator, on the check job with the track database that the
    test recorded (BRAGGDESK_TRACKS_DIR).  Needs NUMBA_ENABLE_CUDASIM=1 and NUMBA_DISABLE_JIT=1."""
    import dataclasses

    from braggdesk.engine.device import select_device
    from braggdesk.engine.executor import split_key
    from braggdesk.engine.kernel import retrace_cuda
    from braggdesk.engine.kernel.layout import N_COUNTERS, TALLY_ROWS
    from braggdesk.engine.simulate import prepare

    job = check_job()
    job.settings = dataclasses.replace(job.settings, engine="track-repeat", tracks_per_energy=TRACKS)
    prepared = prepare(job, select_device("cpu", 1))
    inputs, tracks = prepared.inputs, prepared.executor.tracks
    tally = np.zeros(TALLY_ROWS * inputs.n_voxels, np.int64)
    counters = np.zeros(N_COUNTERS, np.int64)
    key_lo, key_hi = split_key(KEY)
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        retrace_cuda.retrace_histories[3, 32](0, HISTORIES, key_lo, key_hi, inputs.header, inputs.tables, inputs.voxels,
                                              inputs.spots, inputs.spot_cdf, inputs.beams, *tracks.arrays(), tally,
                                              np.zeros(0, np.int64), counters, 0, 0, 0)
    np.savez(out, tally=tally, counters=counters)


def ptx(out: str, mode: str = "ptx") -> None:
    """Compile the CUDA kernel for an H100 (sm_90) without a GPU.  numba-cuda asks the driver for the
    current device's compute capability while it compiles device functions; with no driver we answer
    for it (sm_90)."""
    import types

    from numba import cuda
    from numba import types as nt
    from numba.cuda import api
    from numba.cuda.cudadrv import devices

    context = types.SimpleNamespace(device=types.SimpleNamespace(compute_capability=(9, 0), id=0))
    devices.get_context = lambda devnum=None: context
    api.current_context = lambda devnum=None: context
    from braggdesk.engine.kernel import cuda as cuda_kernel
    from braggdesk.engine.kernel import retrace_cuda

    f64, f32, i64 = nt.float64, nt.float32, nt.int64
    job = (i64, i64, i64, i64, f64[::1], f32[::1], f32[:, ::1], f64[:, ::1], f64[::1], f64[:, ::1])
    scores = (i64[::1], i64[::1], i64[::1], i64, i64, i64)
    if mode == "retrace_ptx":  # the track-repeating kernel: the database (records, offsets, energies) in between
        text, _ = cuda.compile_ptx(retrace_cuda._retrace_histories, job + (f32[:, ::1], i64[::1], f64[:, ::1]) + scores,
                                   cc=(9, 0))
    else:
        text, _ = cuda.compile_ptx(cuda_kernel._run_histories, job + scores, cc=(9, 0))
    with open(out, "w") as fh:
        fh.write(text)


def executor(out: str) -> None:
    """The CUDA executor (device arrays, launches, spot-resolved blocks) in the simulator: a dose batch and a
    dose-influence block, saved for comparison with the CPU executor's.  Needs the simulator's environment."""
    from braggdesk.engine.device import select_device
    from braggdesk.engine.executor import CudaExecutor
    from braggdesk.engine.simulate import prepare

    prepared = prepare(check_job(), select_device("cpu", 1))
    cuda = CudaExecutor(prepared.inputs, prepared.device)
    block = spot_block(prepared.inputs.n_voxels, prepared.inputs.spots.shape[0])
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        dose = cuda.run(KEY, 32)
        dij = cuda.run_spots(KEY, block)
    np.savez(out, dose_voxels=dose.voxels, dose_rows=dose.rows, dij_slots=dij.slots, dij_rows=dij.rows,
             dij_sums=dij.sums)


def track_executor(out: str) -> None:
    """The track-repeating CUDA executor in the simulator (the database the test recorded, in
    BRAGGDESK_TRACKS_DIR, on the device beside the job): a dose batch and a dose-influence block."""
    import dataclasses

    from braggdesk.engine.device import select_device
    from braggdesk.engine.simulate import prepare
    from braggdesk.engine.tracks.executor import TrackCudaExecutor

    job = check_job()
    job.settings = dataclasses.replace(job.settings, engine="track-repeat", tracks_per_energy=TRACKS)
    prepared = prepare(job, select_device("cpu", 1))
    cuda = TrackCudaExecutor(prepared.inputs, prepared.executor.tracks, prepared.device)
    block = spot_block(prepared.inputs.n_voxels, prepared.inputs.spots.shape[0])
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        dose = cuda.run(KEY, 32)
        dij = cuda.run_spots(KEY, block)
    np.savez(out, dose_voxels=dose.voxels, dose_rows=dose.rows, dij_slots=dij.slots, dij_rows=dij.rows,
             dij_sums=dij.sums)


def spot_block(n_voxels: int, n_spots: int):
    """Every other voxel of interest, 8 histories of each of the first two spots."""
    from braggdesk.engine.executor import SpotBlock

    rows = np.full(n_voxels, -1, np.int64)
    wanted = np.arange(0, n_voxels, 2)
    rows[wanted] = np.arange(wanted.size)
    return SpotBlock(0, min(n_spots, 2), 8, rows, wanted.size)


if __name__ == "__main__":
    if sys.argv[1] in ("ptx", "retrace_ptx"):
        ptx(sys.argv[2], sys.argv[1])
    else:
        {"simulate": simulate, "retrace": retrace, "executor": executor,
         "track_executor": track_executor}[sys.argv[1]](sys.argv[2])
