"""Which CT series the workstation loads when a folder holds several (workflow.workspace, no window)."""

from __future__ import annotations

from braggdesk.workflow.workspace import load_path
from braggdesk.io.phantoms import make_phantom, write_phantom


def _two_phantoms(tmp_path):
    small = make_phantom("water", spacing_mm=10.0)
    large = make_phantom("slab", spacing_mm=8.0)
    write_phantom(large, tmp_path / "a")  # first by folder name
    write_phantom(small, tmp_path / "b")
    return small, large


def test_the_ct_series_the_structure_set_refers_to_is_loaded(tmp_path):
    small, large = _two_phantoms(tmp_path)
    (tmp_path / "a" / "RS_phantom.dcm").unlink()  # only b's structure set remains: it names the smaller series
    loaded = load_path(tmp_path)
    assert loaded.ct.shape == small.volume.shape != large.volume.shape
    assert loaded.ct_folder == tmp_path / "b"
    assert any("2 CT series found; loaded the one RS_phantom.dcm refers to" in n for n in loaded.notes)


def test_without_a_reference_the_largest_series_is_loaded_and_said(tmp_path):
    small, large = _two_phantoms(tmp_path)
    for sub in ("a", "b"):
        (tmp_path / sub / "RS_phantom.dcm").unlink()
    loaded = load_path(tmp_path)
    assert loaded.ct.shape == large.volume.shape
    assert loaded.ct_folder == tmp_path / "a"
    assert any("none is referred to" in n for n in loaded.notes)
