"""The GPU kernel without a GPU: in Numba's CUDA simulator against the CPU kernel on the same
histories, and compiled to PTX for an H100 (sm_90).  Both run in a subprocess, since the simulator and
the compile-only set-up change how numba-cuda behaves for the whole process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from braggdesk.engine.device import select_device
from braggdesk.engine.executor import CpuExecutor
from braggdesk.engine.kernel.layout import C_STEPS, COUNTER_NAMES, T_ENERGY, TALLY_ROWS
from braggdesk.engine.simulate import prepare

from cases import check_job
from cuda_checks import HISTORIES, KEY

pytest.importorskip("numba.cuda")
HERE = Path(__file__).parent


def _run_check(mode: str, out: Path, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]), **env}
    return subprocess.run([sys.executable, str(HERE / "cuda_checks.py"), mode, str(out)], env=environment,
                          capture_output=True, text=True, timeout=600)


def test_the_cuda_kernel_in_the_simulator_scores_what_the_cpu_kernel_scores(tmp_path):
    out = tmp_path / "sim.npz"
    done = _run_check("simulate", out, NUMBA_ENABLE_CUDASIM="1", NUMBA_DISABLE_JIT="1")
    assert done.returncode == 0, done.stderr[-3000:]
    sim = np.load(out)
    prepared = prepare(check_job(), select_device("cpu", 2))
    batch = CpuExecutor(prepared.inputs, prepared.device).run(KEY, HISTORIES)
    counters = batch.counters
    tally = np.zeros((prepared.inputs.n_voxels, TALLY_ROWS), np.int64)
    tally[batch.voxels] = batch.rows
    named = dict(zip(COUNTER_NAMES, counters))
    assert named["nonelastic_primary"] > 0 and named["pp_elastic"] >= 0 and named["primaries_missing_ct"] < HISTORIES
    assert counters[C_STEPS] > 3 * HISTORIES
    # the same histories, the same random numbers, the same physics source: the same scores
    np.testing.assert_array_equal(sim["counters"], counters)
    np.testing.assert_array_equal(sim["tally"], tally.reshape(-1))
    assert tally[:, T_ENERGY].sum() > 0


def test_the_cuda_kernel_compiles_to_ptx_for_an_h100(tmp_path):
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as exc:  # no libNVVM (pip install 'numba-cuda[cu12]')
        pytest.skip(f"libNVVM is not available: {exc}")
    out = tmp_path / "kernel.ptx"
    done = _run_check("ptx", out)
    assert done.returncode == 0, done.stderr[-3000:]
    ptx = out.read_text()
    assert ".target sm_90" in ptx and ".entry" in ptx
    assert "atom.global.add.u64" in ptx or "red.global.add.u64" in ptx  # the integer tallies


def test_the_cuda_executor_in_the_simulator_gives_the_cpu_executors_dose_and_dij_blocks(tmp_path):
    from cuda_checks import spot_block

    out = tmp_path / "executor.npz"
    done = _run_check("executor", out, NUMBA_ENABLE_CUDASIM="1", NUMBA_DISABLE_JIT="1")
    assert done.returncode == 0, done.stderr[-3000:]
    sim = np.load(out)
    prepared = prepare(check_job(), select_device("cpu", 1))
    cpu = CpuExecutor(prepared.inputs, prepared.device)
    dose = cpu.run(KEY, 32)
    dij = cpu.run_spots(KEY, spot_block(prepared.inputs.n_voxels, prepared.inputs.spots.shape[0]))
    assert dij.sums.shape[0] > 0
    np.testing.assert_array_equal(sim["dose_voxels"], dose.voxels)
    np.testing.assert_array_equal(sim["dose_rows"], dose.rows)
    np.testing.assert_array_equal(sim["dij_slots"], dij.slots)
    np.testing.assert_array_equal(sim["dij_rows"], dij.rows)
    np.testing.assert_array_equal(sim["dij_sums"], dij.sums)
