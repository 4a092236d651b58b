"""The desktop bundle builds from a clean environment and runs the demo far from the source tree.

Takes minutes (a fresh virtual environment with Qt and VTK, then PyInstaller), so it runs only
when asked:

    BRAGGDESK_BUILD_BUNDLE=1 python -m pytest -q -m slow tests/packaging/test_bundle.py
        builds with packaging/build.sh into pytest's temporary folder, then tests that bundle;
    BRAGGDESK_BUNDLE=dist/braggdesk python -m pytest -q -m slow tests/packaging/test_bundle.py
        tests a bundle that is already built (build.sh's own smoke test ran when it was made).

The demo runs from a copy of the bundle in an empty folder with a bare environment (no
PYTHONPATH, no virtual environment on PATH), so it can only use what the bundle holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("BRAGGDESK_BUILD_BUNDLE") == "1"
EXISTING = os.environ.get("BRAGGDESK_BUNDLE")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (BUILD or EXISTING),
                       reason="builds a PyInstaller bundle (minutes): set BRAGGDESK_BUILD_BUNDLE=1, "
                              "or BRAGGDESK_BUNDLE=path/to/dist/braggdesk to test one already built"),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    if EXISTING:
        folder = Path(EXISTING).resolve()
        assert (folder / "braggdesk").is_file(), f"{folder} has no braggdesk executable"
        return folder
    root = tmp_path_factory.mktemp("bundle")
    env = dict(os.environ, BRAGGDESK_BUILD_DIR=str(root / "build"), BRAGGDESK_DIST_DIR=str(root / "dist"),
               PYTHON=os.environ.get("PYTHON", sys.executable))
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["bash", str(REPO / "packaging" / "build.sh")], env=env, capture_output=True, text=True,
                          timeout=3000)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = (root / "build" / "bundle-report.txt").read_text(encoding="utf-8")
    print(report)  # the figures: build time, bundle size, start-up times
    return root / "dist" / "braggdesk"


def run_bare(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {"HOME": str(cwd), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TMPDIR": str(cwd)}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(3600)
def test_bundle_runs_the_demo_without_the_source_tree(bundle, tmp_path):
    import pydicom

    from braggdesk import __version__

    app = tmp_path / "app"
    shutil.copytree(bundle, app, symlinks=True)  # a copied bundle must work: it is how it reaches a GPU node
    work = tmp_path / "work"
    work.mkdir()
    exe = str(app / "braggdesk")

    version = run_bare([exe, "--version"], work, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"braggdesk {__version__}"

    demo = run_bare([exe, "demo", "--primaries", "20000", "--out", "demo", "--json", "summary.json"], work,
                    timeout=900)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    rd = pydicom.dcmread(work / "demo" / "RD_demo.dcm")
    assert rd.Modality == "RTDOSE" and rd.DoseUnits == "GY"
    dose_gy = rd.pixel_array * float(rd.DoseGridScaling)
    assert dose_gy.max() > 0.1, "the demo from the bundle deposited (almost) no dose"
    assert np.count_nonzero(dose_gy) > 100
    assert (work / "demo" / "dose_slices.png").stat().st_size > 10_000
    summary = json.loads((work / "summary.json").read_text(encoding="utf-8"))
    assert summary["primaries"] == 20000 and summary["braggdesk_version"] == __version__

    # same job, same seed: the frozen engine gives the same dose, bit for bit, as this interpreter's
    from braggdesk.cli import main

    assert main(["demo", "--primaries", "20000", "--out", str(tmp_path / "here")]) == 0
    here = pydicom.dcmread(tmp_path / "here" / "RD_demo.dcm")
    assert np.array_equal(here.pixel_array, rd.pixel_array) and here.DoseGridScaling == rd.DoseGridScaling

    assert (app / "braggdesk.desktop").is_file() and (app / "install-desktop-entry.sh").is_file()
    assert (app / "_internal" / "braggdesk" / "resources" / "icons" / "braggdesk.svg").is_file()
