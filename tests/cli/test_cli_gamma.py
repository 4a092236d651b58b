"""``braggdesk gamma`` on two RT Dose files, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from braggdesk.io.rtdose import write_rtdose
from braggdesk.model import Volume


def _doses(tmp_path):
    grid = Volume(np.zeros((12, 14, 16), np.float32), (2.0, 2.0, 2.0), (-15.0, -13.0, -11.0))
    x, y, z = grid.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    ref = 2.0 * np.exp(-(xx**2 + yy**2 + zz**2) / (2 * 25.0**2))
    ref_path = write_rtdose(ref, grid, tmp_path / "RD_ref.dcm")
    # the evaluated dose 6 % higher, on a finer grid with another origin
    fine = Volume(np.zeros((20, 24, 26), np.float32), (1.5, 1.5, 1.5), (-18.0, -17.0, -14.0))
    x, y, z = fine.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    ev_path = write_rtdose(1.06 * 2.0 * np.exp(-(xx**2 + yy**2 + zz**2) / (2 * 25.0**2)), fine, tmp_path / "RD_ev.dcm")
    return ref_path, ev_path


def _gamma(*args):
    return subprocess.run([sys.executable, "-m", "braggdesk", "gamma", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_gamma_command_prints_and_writes_the_pass_rate(tmp_path):
    ref, ev = _doses(tmp_path)
    res = _gamma(ref, ev, "--dose-percent", "2", "--dta-mm", "2", "--json", "-")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert 0 < summary["pass_rate_percent"] < 100  # 6 % too high fails near the maximum only
    assert summary["evaluated_resampled_to_reference_grid"] is True and "pass rate" in res.stderr
    loose = _gamma(ref, ev, "--dose-percent", "3", "--dta-mm", "3", "--local", "--json", tmp_path / "g.json")
    assert loose.returncode == 0 and "pass rate" in loose.stdout
    assert json.loads((tmp_path / "g.json").read_text())["pass_rate_percent"] > summary["pass_rate_percent"]


def test_gamma_command_refuses_bad_input_in_one_line(tmp_path):
    ref, _ = _doses(tmp_path)
    (tmp_path / "junk.dcm").write_bytes(b"not dicom")
    res = _gamma(ref, tmp_path / "junk.dcm")
    assert res.returncode == 2 and "junk.dcm" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = _gamma(ref, ref, "--dta-mm", "0")
    assert res.returncode == 2 and "--dta-mm" in res.stderr  # refused by argparse now, naming the option


def test_a_fraction_dose_against_a_course_dose_is_said(tmp_path):
    ref, _ = _doses(tmp_path)
    grid = Volume(np.zeros((12, 14, 16), np.float32), (2.0, 2.0, 2.0), (-15.0, -13.0, -11.0))
    fraction = write_rtdose(np.full(grid.shape, 0.1, np.float32), grid, tmp_path / "RD_fraction.dcm",
                            summation="FRACTION")
    res = _gamma(ref, fraction, "--json", "-")
    assert res.returncode == 0, res.stderr
    assert "one fraction against the whole course" in res.stderr
    assert json.loads(res.stdout)["notes"] and json.loads(_gamma(ref, ref, "--json", "-").stdout)["notes"] == []
