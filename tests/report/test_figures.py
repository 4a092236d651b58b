"""The dose slice PNG: a valid file, dose where the dose is, patient orientation, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from braggdesk.model import DoseResult, Volume
from braggdesk.report.figures import dose_slices_figure, save_dose_slices_png

CENTRE_MM = (19.0, 9.0, -10.0)  # on a voxel centre: patient left, posterior, inferior


def _phantom(direction: np.ndarray | None = None) -> tuple[Volume, np.ndarray]:
    """Water ellipse in air, 2 x 2 x 4 mm voxels, and a Gaussian dose (2 Gy peak) off centre."""
    nk, nj, ni = 16, 30, 40
    spacing = (2.0, 2.0, 4.0)
    direction = np.eye(3) if direction is None else direction
    signs = np.diag(direction)
    # keep the same patient-space box whatever the axis directions
    origin = tuple(-s * (n - 1) * d / 2 for s, n, d in zip(signs, (ni, nj, nk), spacing, strict=True))
    ct = Volume(values=np.zeros((nk, nj, ni), np.float32), spacing_mm=spacing, origin_mm=origin, direction=direction)
    x, y, z = ct.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    ct.hu[(xx / 36) ** 2 + (yy / 26) ** 2 > 1] = -1000
    cx, cy, cz = CENTRE_MM
    dose = 2.0 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 8.0**2) - (zz - cz) ** 2 / (2 * 12.0**2))
    return ct, dose


def _is_coloured(rgb: np.ndarray) -> bool:
    return float(rgb[:3].max() - rgb[:3].min()) > 0.25


def test_png_is_written_with_colour_in_the_dose_region(tmp_path):
    ct, dose = _phantom()
    out = save_dose_slices_png(dose, ct, tmp_path / "sub" / "dose.png", title="Gaussian", isodose_percent=())
    assert out == tmp_path / "sub" / "dose.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(out)
    height, width = image.shape[:2]
    assert 300 <= height <= 2000 and 900 <= width <= 3000

    # Where the axial panel shows the dose (8 mm beside the maximum, off the '+' marker) the
    # pixel is coloured; far from the dose, inside the water, it is grey.
    fig = dose_slices_figure(dose, ct, title="Gaussian", isodose_percent=())
    fig.canvas.draw()
    assert fig.canvas.get_width_height() == (width, height)
    axial = fig.axes[0]
    for (x_mm, y_mm), coloured in (((CENTRE_MM[0] + 8, CENTRE_MM[1]), True), ((-25.0, 0.0), False)):
        px, py = axial.transData.transform((x_mm, y_mm))
        pixel = image[int(round(height - py)), int(round(px))]
        assert _is_coloured(pixel) is coloured, (x_mm, y_mm, pixel)


def test_panels_follow_patient_orientation():
    ct, dose = _phantom()
    fig = dose_slices_figure(dose, ct)
    fig.canvas.draw()  # the equal aspect is applied when drawing
    axial, coronal, sagittal = fig.axes[:3]
    # axial: R on the left, anterior (low y) at the top; coronal and sagittal: superior at the top
    assert axial.get_xlim()[0] < axial.get_xlim()[1]
    assert axial.get_ylim()[0] > axial.get_ylim()[1]
    assert coronal.get_ylim()[0] < coronal.get_ylim()[1]
    assert sagittal.get_xlim()[0] < sagittal.get_xlim()[1]
    assert "R" in axial.get_xlabel() and "A" in axial.get_ylabel() and "S" in coronal.get_ylabel()
    # slices pass through the dose maximum
    assert "z = -10.0 mm" in axial.get_title()
    assert "y = 9.0 mm" in coronal.get_title()
    assert "x = 19.0 mm" in sagittal.get_title()
    # physical aspect: one data mm is as wide as it is high on screen
    for ax in (axial, coronal, sagittal):
        (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (10.0, 10.0)])
        assert abs(abs(x1 - x0) - abs(y1 - y0)) < 1e-6


def test_flipped_axes_give_the_same_picture(tmp_path):
    """Same patient-space content stored with reversed x and y axes (as a prone series) draws alike."""
    ct, dose = _phantom()
    flipped_ct, flipped_dose = _phantom(np.diag([-1.0, -1.0, 1.0]))
    a = imread(save_dose_slices_png(dose, ct, tmp_path / "a.png"))
    b = imread(save_dose_slices_png(flipped_dose, flipped_ct, tmp_path / "b.png"))
    assert a.shape == b.shape
    assert np.mean(np.abs(a - b) > 0.05) < 0.002


def test_dose_result_on_its_own_grid_and_uncertainty_row(tmp_path):
    ct, _ = _phantom()
    coarse = Volume(values=np.zeros((4, 6, 8)), spacing_mm=(8.0, 8.0, 12.0), origin_mm=(-28.0, -20.0, -18.0))
    x, y, z = coarse.axis_coordinates_mm()
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    dose = 1.5 * np.exp(-(xx**2 + yy**2 + zz**2) / (2 * 15.0**2))
    unc = np.where(dose > 0.15, 0.02, 0.5)
    result = DoseResult(grid=coarse.with_values(dose), uncertainty=unc, batch_uncertainty=unc,
                        let_kev_um=np.zeros_like(dose), primaries=1000, batches=10, compute_seconds=1.0,
                        device="cpu", dose_to="water", mean_relative_uncertainty=0.02)
    one_row = imread(save_dose_slices_png(result, ct, tmp_path / "one.png"))
    two_rows = imread(save_dose_slices_png(result, ct, tmp_path / "two.png", uncertainty=result.uncertainty,
                                           isocenter_mm=(0, 0, 0), title="with uncertainty"))
    assert two_rows.shape[0] > 1.6 * one_row.shape[0]
    fig = dose_slices_figure(result, ct, uncertainty=result.uncertainty)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "dose (Gy)" in labels and "relative uncertainty (%)" in labels


def test_zero_dose_still_draws_the_ct(tmp_path):
    ct, dose = _phantom()
    out = save_dose_slices_png(np.zeros_like(dose), ct, tmp_path / "zero.png", isocenter_mm=(0, 0, 0))
    assert imread(out).shape[0] > 300


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dose": np.zeros((3, 3, 3))}, "shape"),
        ({"isocenter_mm": (500.0, 0.0, 0.0)}, "outside the CT"),
        ({"isocenter_mm": (1.0, 2.0)}, "three coordinates"),
        ({"uncertainty": np.zeros((2, 2, 2))}, "uncertainty has shape"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    ct, dose = _phantom()
    args = {"dose": dose, **kwargs}
    with pytest.raises(ValueError, match=message):
        save_dose_slices_png(args.pop("dose"), ct, tmp_path / "x.png", **args)
    assert not (tmp_path / "x.png").exists()


def test_oblique_grid_is_refused(tmp_path):
    ct, dose = _phantom()
    c, s = np.cos(0.3), np.sin(0.3)
    oblique = Volume(values=ct.hu, spacing_mm=ct.spacing_mm, origin_mm=ct.origin_mm,
                     direction=np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]))
    with pytest.raises(ValueError, match="oblique"):
        save_dose_slices_png(dose, oblique, tmp_path / "x.png")
