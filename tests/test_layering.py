"""The architecture as a test: imports point down, and nothing below viewers/ touches Qt."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BLOCK_QT = r"""
import importlib.abc, pkgutil, sys
BLOCKED = ("PySide6", "vtk", "pyqtgraph", "PyQt5", "PyQt6")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked GUI import: {name}")
        return None
sys.meta_path.insert(0, Block())
import braggdesk
failed = []
for layer in ("model", "io", "engine", "analysis", "compute", "report"):
    pkg = __import__(f"braggdesk.{layer}", fromlist=["x"])
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"braggdesk.{layer}."):
        try:
            __import__(info.name)
        except ImportError as exc:
            failed.append(f"{info.name}: {exc}")
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is not installed (it is in the test extra)"
    res = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_layers_below_viewers_import_without_qt():
    res = subprocess.run([sys.executable, "-c", _BLOCK_QT], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
