"""The documentation site builds without a warning (mkdocs --strict fails on any), holds the guides, and
documents the API's names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_without_warnings(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr
    page = (tmp_path / "site" / "api" / "index.html").read_text()
    import braggdesk

    for name in braggdesk.__all__[1:]:
        assert name in page, f"braggdesk.{name} is not in the API reference"
    for guide, heading in (("user-guide", "braggdesk user guide"), ("planning", "objectives file")):
        assert heading in (tmp_path / "site" / guide / "index.html").read_text(), guide


def test_the_package_is_typed_and_its_api_loads_on_first_use():
    import braggdesk as bd

    assert (Path(bd.__file__).parent / "py.typed").is_file()
    assert callable(bd.calculate) and callable(bd.open_folder) and bd.Workspace.__name__ == "Workspace"
    with pytest.raises(AttributeError):
        bd.no_such_thing  # noqa: B018
