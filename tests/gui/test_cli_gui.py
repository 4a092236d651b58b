"""`braggdesk gui ... --screenshot` loads, runs, saves and exits (a subprocess, as documentation builds use it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

SRC = Path(__file__).resolve().parents[2] / "src"


def _gui(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "braggdesk", "gui", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_demo_run_and_screenshot(tmp_path):
    png = tmp_path / "window.png"
    done = _gui("--demo", "--demo-spacing", "8", "--run", "--primaries", "3000", "--batches", "3",
                "--size", "900x600", "--screenshot", str(png), "--json", "-", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["primaries"] == 3000 and not summary["partial"] and summary["max_dose_gy"] > 0
    assert png.stat().st_size > 10_000


def test_a_bad_path_exits_2_with_the_message(tmp_path):
    done = _gui(str(tmp_path / "missing"), "--screenshot", str(tmp_path / "x.png"), tmp_path=tmp_path)
    assert done.returncode == 2
    assert "missing: no such file or folder" in done.stderr  # the Workspace's words, as `info` says it
