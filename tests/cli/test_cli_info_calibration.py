"""``braggdesk info CALIBRATION``: the HU table the engine uses, for people and as JSON; bad input in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from braggdesk.io.ct_calibration import read_ct_calibration, write_calibration_csv
from braggdesk.physics.packaged import resource_path


def braggdesk(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "braggdesk", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _points(report: dict) -> dict[float, dict]:
    return {p["hu"]: p for p in report["points"]}


def test_mcsquare_scanner_folder_as_json(tmp_path):
    folder = tmp_path / "UCL_Toshiba"
    shutil.copytree(resource_path("calibrations/mcsquare_ucl_toshiba"), folder)
    res = braggdesk("info", folder, "--json", "-")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["calibration"] == "UCL_Toshiba" and len(report["materials"]) == 24
    points = _points(report)
    # MCsquare's own RSPs with its scanner (issue 13): 1.0171 at HU 0, 1.065 at HU 20, 1.414 at HU 1000
    assert points[0.0]["rsp"] == pytest.approx(1.0171, abs=1e-4)
    assert points[20.0]["rsp"] == pytest.approx(1.065, abs=5e-4)
    assert points[1000.0]["rsp"] == pytest.approx(1.414, abs=5e-4)
    assert points[1565.0]["density_g_cm3"] == pytest.approx(1.825) and not points[1565.0]["density_extrapolated"]
    assert points[3071.0]["density_extrapolated"] and points[3071.0]["density_g_cm3"] > 2.5
    assert points[0.0]["radiation_length_mm"] == pytest.approx(10 * 38.835, rel=2e-3)  # MCsquare's X0 of SI4
    assert report["materials"][0]["stopping_power_source"] == "MCsquare table Schneider_Air"
    assert "CT calibration 'UCL_Toshiba'" in res.stderr and "(density extrapolated)" in res.stderr


def test_one_mcsquare_file_and_builtin_names_as_text():
    res = braggdesk("info", resource_path("calibrations/mcsquare_ucl_toshiba/HU_Density_Conversion.txt"))
    assert res.returncode == 0, res.stderr
    assert "Schneider_Marrow_Bone10" in res.stdout and "1.4136" in res.stdout
    water = braggdesk("info", "water")
    assert water.returncode == 0, water.stderr
    assert "1 density point (HU 0 to 0), 1 material" in water.stdout
    assert "Water" in water.stdout and "1.0000" in water.stdout and "Bethe, I = 78.0 eV" in water.stdout


def test_braggdesk_csv_and_json_file(tmp_path):
    path = write_calibration_csv(read_ct_calibration("schneider"), tmp_path / "my_calibration.csv")
    out = tmp_path / "info.json"
    res = braggdesk("info", path, "--json", out)
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    points = _points(report)
    assert points[2995.0]["material"] == "Schneider2000_S25_Titanium"
    assert points[3071.0]["density_g_cm3"] == pytest.approx(4.54)  # TOPAS clamps: constant titanium
    assert points[-1024.0]["rsp"] == pytest.approx(0.00121 * report["materials"][0]["rsp_per_g_cm3"], rel=1e-4)
    assert "Schneider2000_S08_SoftTissue" in res.stdout


@pytest.mark.parametrize(("content", "problem"), [
    ("[density]\nhu,density_g_cm3\n0,1.0\n", "no [materials] section"),
    ("[density]\nhu,density_g_cm3\n0,abc\n[materials]\nhu_min,material\n0,Water\n", "line 3: density 'abc'"),
    ("[density]\nhu,density_g_cm3\n0,1\n[materials]\nhu_min,material\n0,Watr\n", "line 6: unknown material 'Watr'"),
])
def test_bad_calibration_is_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "broken.csv"
    path.write_text(content)
    res = braggdesk("info", path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and problem in lines[0], res.stderr
