"""What `python -m build` makes of this checkout: complete metadata, resources in the wheel, a full sdist.

Why build for real instead of reading pyproject.toml: the metadata a user's pip sees is what
setuptools writes into the wheel (dynamic version, licence files, package data, MANIFEST.in);
a typo in any of them only shows there. The sdist and the wheel built from it take a few seconds
with `--no-isolation` (build and setuptools>=77 come with the `test` extra).
Also checked here, without building: the desktop entry, the icons and the PyInstaller spec's
lists of modules loaded by name (a misspelt VTK or Qt module would only fail inside the bundle).
"""

from __future__ import annotations

import ast
import configparser
import csv
import email.parser
import importlib.util
import shutil
import struct
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
RESOURCES = REPO / "src" / "braggdesk" / "resources"
# What the sdist is built from: everything MANIFEST.in names, nothing generated.
PROJECT_ITEMS = ("pyproject.toml", "MANIFEST.in", "README.md", "CHANGELOG.md", "LICENSE", "NOTICE",
                 "src", "tests", "docs", "examples", "packaging", "benchmarks", ".ci")
EXTRAS = {"gpu", "remote", "cluster", "gui", "export", "docs", "test", "bundle", "all"}


def source_version() -> str:
    """braggdesk.__version__ as written in the source: the one place the version lives (braggdesk/_version.py)."""
    tree = ast.parse((REPO / "src" / "braggdesk" / "_version.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("src/braggdesk/_version.py has no __version__")


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """sdist and wheel of a clean copy of the checkout (the wheel built from the sdist, as pip would)."""
    root = tmp_path_factory.mktemp("dist")
    project = root / "braggdesk"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")
    project.mkdir()
    for item in PROJECT_ITEMS:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, project / item, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, project / item)
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(root / "out"), str(project)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels = list((root / "out").glob("braggdesk-*.whl"))
    sdists = list((root / "out").glob("braggdesk-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list((root / "out").iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(f"braggdesk-{source_version()}.dist-info/METADATA").decode("utf-8")
    return email.parser.Parser().parsestr(text)


def test_version_has_one_source():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "braggdesk._version.__version__"}
    # the test extra brings what the fixture below builds with
    test_extra = project["project"]["optional-dependencies"]["test"]
    assert any(r.startswith("build") for r in test_extra) and any(r.startswith("setuptools>=77") for r in test_extra)


def test_wheel_metadata_is_complete(dists):
    meta = wheel_metadata(dists["wheel"])
    assert meta["Name"] == "braggdesk"
    assert meta["Version"] == source_version()
    assert meta["Summary"] and meta["Requires-Python"] == ">=3.10"
    assert meta["Description-Content-Type"] == "text/markdown" and "braggdesk" in meta.get_payload()
    assert meta["License-Expression"] == "Apache-2.0"
    assert set(meta.get_all("License-File")) == {"LICENSE", "NOTICE"}
    classifiers = meta.get_all("Classifier")
    # PEP 639: a licence expression and licence classifiers must not both be given
    assert not [c for c in classifiers if c.startswith("License ::")]
    for wanted in ("Development Status :: 3 - Alpha", "Operating System :: POSIX :: Linux",
                   "Programming Language :: Python :: 3.11", "Environment :: X11 Applications :: Qt",
                   "Topic :: Scientific/Engineering :: Medical Science Apps.", "Intended Audience :: Healthcare Industry"):
        assert wanted in classifiers
    assert set(meta.get_all("Provides-Extra")) == EXTRAS
    requires = meta.get_all("Requires-Dist")
    for dependency in ("numpy", "scipy", "pydicom"):
        assert any(r.startswith(dependency) and "extra ==" not in r for r in requires), dependency
    for extra, package in (("gpu", "cupy"), ("remote", "asyncssh"), ("cluster", "dask"), ("gui", "PySide6-Essentials"),
                           ("gui", "vtk"), ("gui", "pyqtgraph"), ("gui", "superqt"), ("bundle", "pyinstaller")):
        assert any(r.startswith(package) and f'extra == "{extra}"' in r for r in requires), (extra, package)


def test_wheel_has_the_command_licences_and_every_resource(dists):
    with zipfile.ZipFile(dists["wheel"]) as zf:
        names = set(zf.namelist())
        info = f"braggdesk-{source_version()}.dist-info"
        entry_points = configparser.ConfigParser()
        entry_points.read_string(zf.read(f"{info}/entry_points.txt").decode("utf-8"))
        assert zf.read(f"{info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
        index = zf.read("braggdesk/resources/index.csv").decode("utf-8")
    assert dict(entry_points["console_scripts"]) == {"braggdesk": "braggdesk.cli:main"}
    rows = list(csv.DictReader(line for line in index.splitlines() if not line.startswith("#")))
    assert rows, "resources/index.csv lists no file"
    for row in rows:
        assert f"braggdesk/resources/{row['path']}" in names, row["path"]
    for folder in ("physics", "materials", "beam_models", "calibrations", "icons"):
        assert f"braggdesk/resources/{folder}/README.md" in names
    assert "braggdesk/cli/__init__.py" in names and "braggdesk/__main__.py" in names
    # every module of the source tree is in the wheel
    source = {str(p.relative_to(REPO / "src")) for p in (REPO / "src" / "braggdesk").rglob("*.py")
              if "__pycache__" not in p.parts}
    assert not source - names, sorted(source - names)[:5]
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n or n.endswith(".pyc")]


def test_sdist_holds_tests_docs_and_packaging(dists):
    top = f"braggdesk-{source_version()}"
    with tarfile.open(dists["sdist"]) as tf:
        names = set(tf.getnames())
        pkg_info = email.parser.Parser().parsestr(tf.extractfile(f"{top}/PKG-INFO").read().decode("utf-8"))
    assert pkg_info["Version"] == source_version() and pkg_info["License-Expression"] == "Apache-2.0"
    for path in ("README.md", "CHANGELOG.md", "LICENSE", "NOTICE", "pyproject.toml", "docs/user-guide.md",
                 "packaging/build.sh", "packaging/braggdesk.spec", "packaging/braggdesk_entry.py",
                 "packaging/braggdesk.desktop", "tests/packaging/test_distribution.py", "tests/test_cli.py",
                 "src/braggdesk/resources/icons/braggdesk.svg"):
        assert f"{top}/{path}" in names, path
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def png_size_px(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_icons_are_square_at_the_sizes_desktops_use():
    svg = ET.parse(RESOURCES / "icons" / "braggdesk.svg").getroot()
    assert svg.tag.endswith("svg") and svg.get("viewBox") == "0 0 256 256"
    assert svg.findall(".//{http://www.w3.org/2000/svg}path"), "the icon has no curve"
    for size in (256, 64):
        assert png_size_px(RESOURCES / "icons" / f"braggdesk-{size}.png") == (size, size)


def test_desktop_entry_starts_the_gui_from_the_menu():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive in desktop entries
    entry.read(PACKAGING / "braggdesk.desktop", encoding="utf-8")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Terminal"] == "false"
    assert d["Exec"] == "braggdesk gui %F"
    assert d["Icon"] == "braggdesk" and (RESOURCES / "icons" / "braggdesk.svg").is_file()
    assert {"Science", "MedicalSoftware"} <= set(filter(None, d["Categories"].split(";")))
    validator = shutil.which("desktop-file-validate")
    if validator:  # apt desktop-file-utils; the checks above hold without it
        done = subprocess.run([validator, str(PACKAGING / "braggdesk.desktop")], capture_output=True, text=True)
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def spec_list(name: str) -> list[str]:
    """A literal list assigned in packaging/braggdesk.spec (read, not run: PyInstaller need not be installed)."""
    tree = ast.parse((PACKAGING / "braggdesk.spec").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"packaging/braggdesk.spec has no {name}")


@pytest.mark.parametrize("package, list_name", [("vtkmodules", "VTK_MODULES"), ("PySide6", "QT_MODULES")])
def test_spec_names_modules_that_exist(package, list_name):
    names = spec_list(list_name)
    assert names
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (the gui extra); the names cannot be checked here")
    missing = [m for m in names if importlib.util.find_spec(f"{package}.{m}") is None]
    assert not missing, f"packaging/braggdesk.spec names {package} modules that do not exist: {missing}"


def test_build_scripts_parse():
    for script in ("build.sh", "install-desktop-entry.sh"):
        done = subprocess.run(["bash", "-n", str(PACKAGING / script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script}: {done.stderr}"
    for script in ("braggdesk.spec", "braggdesk_entry.py", "render_icons.py"):
        compile((PACKAGING / script).read_text(encoding="utf-8"), script, "exec")


def test_changelog_has_an_unreleased_section():
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text
    assert text.startswith("# Changelog")


def test_desktop_entry_installer_points_the_menu_at_the_bundle(tmp_path):
    """install-desktop-entry.sh on a bundle-shaped folder: Exec becomes that folder's executable."""
    bundle = tmp_path / "opt" / "my bundle"
    icons = bundle / "_internal" / "braggdesk" / "resources" / "icons"
    icons.mkdir(parents=True)
    for icon in ("braggdesk.svg", "braggdesk-256.png", "braggdesk-64.png"):
        shutil.copy2(RESOURCES / "icons" / icon, icons / icon)
    shutil.copy2(PACKAGING / "braggdesk.desktop", bundle / "braggdesk.desktop")
    shutil.copy2(PACKAGING / "install-desktop-entry.sh", bundle / "install-desktop-entry.sh")
    (bundle / "braggdesk").write_text("#!/bin/sh\n", encoding="utf-8")
    (bundle / "braggdesk").chmod(0o755)
    data_home = tmp_path / "share"
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(data_home), "PATH": "/usr/bin:/bin"}

    done = subprocess.run(["bash", str(bundle / "install-desktop-entry.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    entry_path = data_home / "applications" / "braggdesk.desktop"
    entry = entry_path.read_text(encoding="utf-8")
    assert f'Exec="{bundle}/braggdesk" gui %F' in entry.splitlines()
    assert f"TryExec={bundle}/braggdesk" in entry.splitlines()
    assert (data_home / "icons" / "hicolor" / "256x256" / "apps" / "braggdesk.png").is_file()
    assert (data_home / "icons" / "hicolor" / "scalable" / "apps" / "braggdesk.svg").is_file()
    validator = shutil.which("desktop-file-validate")
    if validator:
        check = subprocess.run([validator, str(entry_path)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout

    done = subprocess.run(["bash", str(bundle / "install-desktop-entry.sh"), "--remove"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0 and not entry_path.exists()
    assert not (data_home / "icons" / "hicolor" / "64x64" / "apps" / "braggdesk.png").exists()


def test_desktop_entry_installer_refuses_a_folder_that_is_no_bundle(tmp_path):
    shutil.copy2(PACKAGING / "install-desktop-entry.sh", tmp_path / "install-desktop-entry.sh")
    done = subprocess.run(["bash", str(tmp_path / "install-desktop-entry.sh")],
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert done.returncode == 2 and "bundle folder" in done.stderr
    assert not (tmp_path / ".local").exists()
