"""File > Export writes what the window shows: LETd and uncertainty maps, DVH curves and metrics read back equal."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("PySide6")
sitk = pytest.importorskip("SimpleITK")

from braggdesk.model import SimulationSettings  # noqa: E402


def test_exported_maps_and_tables_read_back_as_shown(make_window, qtbot, tmp_path):
    from test_main_window import DEMO_SPACING_MM, _run

    w = make_window()
    w.open_demo(DEMO_SPACING_MM)
    assert w.wait_for_background()
    entry = _run(w, qtbot, SimulationSettings(primaries=4000, batches=2, device="cpu"))
    assert entry is w.session.dose and entry.let_kev_um is not None
    for quantity, shown in (("let", entry.let_kev_um), ("uncertainty", entry.uncertainty)):
        for suffix in (".nrrd", ".mhd"):
            image = sitk.ReadImage(str(w.exporter.map(tmp_path / f"{quantity}{suffix}", quantity)))
            assert np.array_equal(sitk.GetArrayFromImage(image), shown.astype(np.float32))
            assert np.allclose(image.GetSpacing(), w.session.ct.spacing_mm)
            assert np.allclose(image.GetOrigin(), w.session.ct.origin_mm)
    # the cursor readout and the file agree at a voxel with dose
    k, j, i = np.unravel_index(np.argmax(entry.dose_gy), entry.dose_gy.shape)
    image = sitk.ReadImage(str(tmp_path / "let.nrrd"))
    assert image.GetPixel(int(i), int(j), int(k)) == pytest.approx(float(entry.let_kev_um[k, j, i]))

    with open(w.exporter.dvh_csv(tmp_path / "dvh.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    drawn = {name: curve.getData() for name, curve in w.dvh_plot._curves.items()}
    assert drawn, "no DVH curve is drawn"
    for name, (x, y) in drawn.items():
        mine = [r for r in rows if r["structure"] == name]
        assert np.allclose([float(r["dose_gy"]) for r in mine], x)
        assert np.allclose([float(r["volume_percent"]) for r in mine], y)
    with open(w.exporter.metrics_csv(tmp_path / "metrics.csv"), newline="") as fh:
        table = {r.pop("structure"): r for r in csv.DictReader(fh)}
    target = "Target (demo SOBP)"
    for column in ("Dmean [Gy]", "D95 [Gy]", "V95 [%]"):  # the table shows 3 significant digits of the same number
        assert f"{float(table[target][column]):.3g}" == w.stats.cell_text(target, column)
    assert float(table[target]["Dmean [Gy]"]) == next(a for a in w.shown_analysis if a.name == target).metrics[
        "Dmean [Gy]"]


def test_pictures_and_menus(make_window, tmp_path):
    w = make_window()
    w.open_demo(8.0)
    assert w.wait_for_background()
    svg = w.exporter.views()["DVH"]
    from braggdesk.gui.screenshot import save_picture

    assert save_picture(svg, tmp_path / "dvh.svg").read_text().lstrip().startswith("<?xml")
    assert save_picture(w.views["axial"], tmp_path / "axial.png").read_bytes()[:4] == b"\x89PNG"
    file_menu = w.menuBar().actions()[0].menu()
    export = next(a.menu() for a in file_menu.actions() if a.text() == "&Export")
    texts = [a.text() for a in export.actions()]
    assert {"D&VH curves as CSV...", "&Metrics as CSV...", "&LETd map (NRRD, MHD)...",
            "&Uncertainty map (NRRD, MHD)..."} <= set(texts)
    assert any("Save Axial view" in a.text() for a in w.views["axial"].actions())
    # the DVH's plot area keeps pyqtgraph's menu, with the save entry on top of it
    from braggdesk.gui.exporting import plot_area_menus

    menus = plot_area_menus(w.dvh_plot)
    assert menus and menus[0].actions()[0].text() == "Save DVH view as PNG or SVG..."
    with pytest.raises(Exception, match="no dose to export"):
        w.exporter.map(tmp_path / "x.nrrd", "let")
