"""The layers stay layered: import-linter's contracts, and a Qt-free core proven by import.

Why both: import-linter reads the source statically (pyproject.toml, [tool.importlinter])
and catches an upward import before it runs; the second test imports every module
below viewers/ with PySide6, vtk and pyqtgraph blocked, so a lazy or optional Qt
import hidden in a function body at import time, or in a third-party package we pull
in, fails too, even on a machine where Qt is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE_PACKAGES = ("model", "physics", "io", "engine", "analysis", "planning", "compute", "workflow", "report")
BLOCKED = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "vtk", "vtkmodules", "pyqtgraph", "superqt", "qtpy")
# Optional extras a core module may need at import time; missing ones are reported, not failed.
OPTIONAL = ("cupy", "cupyx", "asyncssh", "dask", "distributed")


def _env() -> dict[str, str]:
    """Analyse this checkout's source even if braggdesk is installed from somewhere else."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_import_linter_contracts_are_kept():
    command = [
        sys.executable, "-c",
        "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
        "--config", str(REPO / "pyproject.toml"), "--no-cache", "--no-logo",
    ]
    done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"import-linter found broken contracts:\n{report}"
    assert "0 broken" in report and "kept" in report, report


_IMPORT_ALL = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys, traceback

    blocked, optional, packages = set(sys.argv[1].split(",")), set(sys.argv[2].split(",")), sys.argv[3].split(",")
    result = {"imported": [], "attempts": [], "errors": [], "missing_optional": []}
    current = ["(start)"]

    class QtBlocker:
        # First on sys.meta_path: every import statement, importlib call or find_spec probe
        # for a blocked top-level name lands here and is refused and recorded.
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in blocked:
                ours = [f"{f.filename}:{f.lineno}" for f in traceback.extract_stack() if "braggdesk" in f.filename]
                result["attempts"].append({"module": current[0], "import": name, "from": ours[-3:]})
                raise ModuleNotFoundError(f"{name} is blocked by the layering test", name=name)
            return None

    sys.meta_path.insert(0, QtBlocker())

    def load(name):
        current[0] = name
        try:
            importlib.import_module(name)
            result["imported"].append(name)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").partition(".")[0]
            if top in optional:
                result["missing_optional"].append(f"{name}: {exc}")
            elif top not in blocked:
                result["errors"].append(f"{name}: {traceback.format_exc()}")
        except BaseException:
            result["errors"].append(f"{name}: {traceback.format_exc()}")

    for package in packages:
        load(package)
        module = sys.modules.get(package)
        if module is None:
            continue
        names = [info.name for info in pkgutil.walk_packages(module.__path__, prefix=package + ".",
                                                              onerror=lambda n: None)]
        for name in names:
            load(name)

    leaked = sorted(m for m in sys.modules if m.partition(".")[0] in blocked)
    if leaked:
        result["errors"].append(f"blocked modules ended up in sys.modules: {leaked}")
    print(json.dumps(result))
    """
)


def test_core_packages_import_without_qt_vtk_or_pyqtgraph():
    packages = [f"braggdesk.{name}" for name in CORE_PACKAGES]
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, ",".join(BLOCKED), ",".join(OPTIONAL), ",".join(packages)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    attempts = "\n".join(f"  {a['module']} tried {a['import']} via {a['from']}" for a in result["attempts"])
    assert not result["attempts"], f"core modules reached for a GUI library:\n{attempts}"
    assert not result["errors"], "core modules failed to import:\n" + "\n".join(result["errors"])
    assert set(packages) <= set(result["imported"]), result
    if result["missing_optional"]:
        print("imported without optional extras:", *result["missing_optional"], sep="\n  ")
