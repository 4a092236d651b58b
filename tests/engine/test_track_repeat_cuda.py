"""The track-repeating kernel's CUDA target without a GPU: in Numba's CUDA simulator it scores what the
CPU target scores on the same histories (the check job: bone, lung, air, two beams, a range shifter,
double-Gaussian spots), bit for bit."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from braggdesk.engine.device import select_device
from braggdesk.engine.kernel.layout import C_SECONDARY_PROTONS, C_STEPS, COUNTER_NAMES, T_ENERGY, TALLY_ROWS
from braggdesk.engine.simulate import prepare

from cases import check_job
from cuda_checks import HISTORIES, KEY, TRACKS

pytest.importorskip("numba.cuda")
HERE = Path(__file__).parent


def test_the_retrace_kernel_in_the_cuda_simulator_scores_what_the_cpu_kernel_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAGGDESK_TRACKS_DIR", str(tmp_path / "tracks"))
    job = check_job()
    job.settings = dataclasses.replace(job.settings, engine="track-repeat", tracks_per_energy=TRACKS)
    prepared = prepare(job, select_device("cpu", 2))  # records the small database the simulator then loads
    assert any("recorded" in note for note in prepared.notes)
    batch = prepared.executor.run(KEY, HISTORIES)
    tally = np.zeros((prepared.inputs.n_voxels, TALLY_ROWS), np.int64)
    tally[batch.voxels] = batch.rows
    out = tmp_path / "sim.npz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "NUMBA_ENABLE_CUDASIM": "1", "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run([sys.executable, str(HERE / "cuda_checks.py"), "retrace", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    sim = np.load(out)
    named = dict(zip(COUNTER_NAMES, batch.counters))
    assert named["primaries_missing_ct"] < HISTORIES and batch.counters[C_STEPS] > 10 * HISTORIES
    assert batch.counters[C_SECONDARY_PROTONS] > 0 and tally[:, T_ENERGY].sum() > 0
    np.testing.assert_array_equal(sim["counters"], batch.counters)
    np.testing.assert_array_equal(sim["tally"], tally.reshape(-1))


def test_the_retrace_kernel_compiles_to_ptx_for_an_h100(tmp_path):
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as exc:  # no libNVVM (pip install 'numba-cuda[cu12]')
        pytest.skip(f"libNVVM is not available: {exc}")
    out = tmp_path / "retrace.ptx"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(HERE / "cuda_checks.py"), "retrace_ptx", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ptx = out.read_text()
    assert ".target sm_90" in ptx and ".entry" in ptx
    assert "atom.global.add.u64" in ptx or "red.global.add.u64" in ptx  # the integer tallies


def test_the_track_cuda_executor_in_the_simulator_gives_the_cpu_executors_dose_and_dij_blocks(tmp_path, monkeypatch):
    from cuda_checks import spot_block

    monkeypatch.setenv("BRAGGDESK_TRACKS_DIR", str(tmp_path / "tracks"))
    job = check_job()
    job.settings = dataclasses.replace(job.settings, engine="track-repeat", tracks_per_energy=TRACKS)
    prepared = prepare(job, select_device("cpu", 1))  # records the database the simulator loads
    cpu = prepared.executor
    dose = cpu.run(KEY, 32)
    dij = cpu.run_spots(KEY, spot_block(prepared.inputs.n_voxels, prepared.inputs.spots.shape[0]))
    assert dose.voxels.size > 0 and dij.sums.shape[0] > 0
    out = tmp_path / "track_executor.npz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "NUMBA_ENABLE_CUDASIM": "1", "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run([sys.executable, str(HERE / "cuda_checks.py"), "track_executor", str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    sim = np.load(out)
    np.testing.assert_array_equal(sim["dose_voxels"], dose.voxels)
    np.testing.assert_array_equal(sim["dose_rows"], dose.rows)
    np.testing.assert_array_equal(sim["dij_slots"], dij.slots)
    np.testing.assert_array_equal(sim["dij_rows"], dij.rows)
    np.testing.assert_array_equal(sim["dij_sums"], dij.sums)
