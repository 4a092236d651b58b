"""The README's Python block and every script in examples/ run, each in its own interpreter, and do what they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def readme_python() -> str:
    """The first ```python block of the README's "Python" section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Python\n"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_computes_a_dose(tmp_path):
    (tmp_path / "readme.py").write_text(readme_python())
    done = _run(["readme.py"], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("5,000 primaries") and lines[3].startswith("20,000 primaries")
    assert "'Target (demo SOBP)': " in lines[4] and (tmp_path / "let.nrrd").stat().st_size > 0


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_run(script, tmp_path):
    done = _run([str(script)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), f"{script.name} printed nothing"


def test_the_demo_example_writes_what_it_says(tmp_path):
    done = _run([str(ROOT / "examples" / "dose_on_the_demo_case.py"), str(tmp_path / "out")], tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"dose.mhd", "uncertainty.mhd", "let.mhd", "dvh.csv", "metrics.csv", "RD_demo.dcm"} <= set(written)
