"""Dose on CT as a PNG: axial, coronal and sagittal slices through one point.

Why a separate figure module: the CLI (``braggdesk demo``, batch QA) and the PDF
report need pictures of a dose without any GUI.  matplotlib's ``Figure`` with the
Agg canvas draws to memory, so neither a display nor a GUI backend is touched,
and importing this module never changes pyplot's global backend.

Geometry is drawn in patient coordinates (mm), so the physical aspect ratio comes
from the voxel spacing and a dose grid other than the CT grid (an RTDOSE) lands
where it belongs.  Display follows the radiological convention: axial seen from
the feet (patient right on the left of the picture, anterior at the top),
coronal seen from the front (superior at the top), sagittal with anterior on the
left.  Only axis-aligned grids (direction a diagonal of +-1) are drawn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from braggdesk.model import DoseResult, StructureMask, Volume

WASH_THRESHOLD = 0.10  # dose below this fraction of the maximum is not coloured
WASH_ALPHA = 0.55
DEFAULT_CT_WINDOW_HU = (-1000.0, 1000.0)
DEFAULT_ISODOSE_PERCENT = (50.0, 90.0, 95.0)
_ISODOSE_COLOURS = ("white", "magenta", "black")

# Patient axis p (0 = x, 1 = y, 2 = z); each name pairs the low and the high end (DICOM LPS).
_AXIS_NAMES = ("x", "y", "z")
_AXIS_ENDS = (("R", "L"), ("A", "P"), ("I", "S"))


@dataclass(frozen=True)
class _View:
    """One panel: the patient axis held fixed, and which way the vertical axis runs."""

    name: str
    fixed_axis: int
    vertical_down: bool  # axial shows y (A->P) growing downwards, the others z upwards

    @property
    def horizontal_axis(self) -> int:
        return min(a for a in range(3) if a != self.fixed_axis)

    @property
    def vertical_axis(self) -> int:
        return max(a for a in range(3) if a != self.fixed_axis)


_VIEWS = (_View("Axial", 2, True), _View("Coronal", 1, False), _View("Sagittal", 0, False))


@dataclass(frozen=True)
class _Grid:
    """Sorted-axis view of an axis-aligned Volume geometry: voxel centres per patient axis."""

    coords: tuple[np.ndarray, np.ndarray, np.ndarray]  # x, y, z of voxel centres (as stored)
    step_mm: tuple[float, float, float]

    @classmethod
    def of(cls, volume: Volume, what: str) -> _Grid:
        d = volume.direction
        if not np.allclose(d, np.diag(np.diag(d)), atol=1e-6):
            raise ValueError(
                f"{what} grid is oblique (direction {d.round(3).tolist()}); "
                "only axis-aligned grids can be drawn, resample it first"
            )
        return cls(volume.axis_coordinates_mm(), tuple(abs(float(s)) for s in volume.spacing_mm))

    def index_of(self, axis: int, position_mm: float) -> int | None:
        """Nearest voxel index along a patient axis, or None when the point is outside the grid."""
        c = self.coords[axis]
        half = self.step_mm[axis] / 2
        if not (c.min() - half - 1e-6 <= position_mm <= c.max() + half + 1e-6):
            return None
        return int(np.argmin(np.abs(c - position_mm)))

    def plane(self, values: np.ndarray, view: _View, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(horizontal coords, vertical coords, image[v, h]) with both coordinates increasing."""
        image = np.take(values, index, axis=2 - view.fixed_axis)  # rows: higher patient axis
        h = self.coords[view.horizontal_axis]
        v = self.coords[view.vertical_axis]
        if h.size > 1 and h[0] > h[-1]:
            h, image = h[::-1], image[:, ::-1]
        if v.size > 1 and v[0] > v[-1]:
            v, image = v[::-1], image[::-1, :]
        return h, v, image

    def extent(self, view: _View, h: np.ndarray, v: np.ndarray) -> tuple[float, float, float, float]:
        dh, dv = self.step_mm[view.horizontal_axis] / 2, self.step_mm[view.vertical_axis] / 2
        return (float(h[0] - dh), float(h[-1] + dh), float(v[0] - dv), float(v[-1] + dv))


def _dose_array_and_grid(dose: DoseResult | Volume | np.ndarray, ct: Volume) -> tuple[np.ndarray, Volume]:
    if isinstance(dose, DoseResult):
        return np.asarray(dose.dose_gy, dtype=float), dose.grid
    if isinstance(dose, Volume):  # e.g. a planning system's RT Dose on its own grid
        return np.asarray(dose.values, dtype=float), dose
    array = np.asarray(dose, dtype=float)
    if array.shape != ct.shape:
        raise ValueError(f"dose array has shape {array.shape}, the CT {ct.shape}; pass a DoseResult "
                         "to draw a dose on its own grid")
    return array, ct


def _slice_point_mm(dose: np.ndarray, dose_volume: Volume, isocenter_mm: Sequence[float] | None) -> np.ndarray:
    if isocenter_mm is not None:
        point = np.asarray(isocenter_mm, dtype=float).reshape(-1)
        if point.size != 3:
            raise ValueError(f"isocenter_mm needs three coordinates (x, y, z) in mm, got {isocenter_mm!r}")
        return point
    k, j, i = np.unravel_index(int(np.argmax(dose)), dose.shape)
    return (dose_volume.index_to_patient() @ np.array([i, j, k, 1.0]))[:3]


def dose_slices_figure(
    dose: DoseResult | np.ndarray,
    ct: Volume,
    *,
    title: str = "",
    isocenter_mm: Sequence[float] | None = None,
    uncertainty: np.ndarray | None = None,
    ct_window_hu: tuple[float, float] = DEFAULT_CT_WINDOW_HU,
    isodose_percent: Sequence[float] = DEFAULT_ISODOSE_PERCENT,
    cmap: str = "jet",
    structures: Sequence[StructureMask] = (),
) -> Figure:
    """Build (not save) the slice figure; the PDF report reuses it.

    ``structures`` (fractional masks on any axis-aligned grid) are outlined where their
    fraction crosses one half, in the ROI colour, on every panel.

    ``dose`` is a DoseResult (drawn on its own grid) or an array on the CT grid, in Gy.
    ``uncertainty`` is relative (0.02 = 2 %) on the dose grid; when given, a second row
    shows it in percent where the dose is at least 10 % of its maximum.
    ``isodose_percent`` are lines in percent of the maximum dose; pass ``()`` for none.
    """
    dose_array, dose_volume = _dose_array_and_grid(dose, ct)
    if uncertainty is not None:
        uncertainty = np.asarray(uncertainty, dtype=float)
        if uncertainty.shape != dose_array.shape:
            raise ValueError(f"uncertainty has shape {uncertainty.shape}, the dose {dose_array.shape}")
    ct_grid, dose_grid = _Grid.of(ct, "CT"), _Grid.of(dose_volume, "dose")
    point = _slice_point_mm(dose_array, dose_volume, isocenter_mm)
    ct_index = [ct_grid.index_of(a, point[a]) for a in range(3)]
    if any(i is None for i in ct_index):
        raise ValueError(f"slice point {point.round(1).tolist()} mm lies outside the CT")
    dose_index = [dose_grid.index_of(a, point[a]) for a in range(3)]

    max_gy = float(np.nanmax(dose_array)) if dose_array.size else 0.0
    dose_norm = Normalize(vmin=0.0, vmax=max_gy if max_gy > 0 else 1.0)
    visible = dose_array >= WASH_THRESHOLD * max_gy if max_gy > 0 else np.zeros(dose_array.shape, bool)
    rows = 1 if uncertainty is None else 2
    fig = Figure(figsize=(15.0, 4.8 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 3, squeeze=False)

    unc_norm = unc_percent = unc_visible = None
    if uncertainty is not None:
        unc_percent, unc_visible = 100.0 * uncertainty, visible & np.isfinite(uncertainty)
        shown = unc_percent[unc_visible]
        top = float(np.percentile(shown, 99)) if shown.size else 1.0
        unc_norm = Normalize(vmin=0.0, vmax=top if top > 0 else 1.0)

    for col, view in enumerate(_VIEWS):
        for row in range(rows):
            ax = axes[row, col]
            _draw_ct(ax, ct_grid, ct.hu, view, ct_index[view.fixed_axis], ct_window_hu)
            d_index = dose_index[view.fixed_axis]
            if d_index is not None and max_gy > 0:
                if row == 0:
                    _draw_wash(ax, dose_grid, dose_array, visible, view, d_index, dose_norm, cmap)
                    _draw_isodoses(ax, dose_grid, dose_array, view, d_index, max_gy, isodose_percent)
                else:
                    _draw_wash(ax, dose_grid, unc_percent, unc_visible, view, d_index, unc_norm, "viridis", alpha=0.8)
            for mask in structures:
                _draw_structure(ax, mask, view, point)
            slice_mm = float(ct_grid.coords[view.fixed_axis][ct_index[view.fixed_axis]])
            _decorate(ax, view, point, slice_mm, "" if row == 0 else "uncertainty  ")

    fig.colorbar(ScalarMappable(dose_norm, cmap), ax=axes[0, :].tolist(), label="dose (Gy)",
                 fraction=0.025, pad=0.01)
    if uncertainty is not None:
        fig.colorbar(ScalarMappable(unc_norm, "viridis"), ax=axes[1, :].tolist(), extend="max",
                     label="relative uncertainty (%)", fraction=0.025, pad=0.01)
    levels = [p for p in isodose_percent if 0 < p <= 100]
    if levels and max_gy > 0:
        handles = [Line2D([], [], color=_ISODOSE_COLOURS[n % len(_ISODOSE_COLOURS)], lw=1.2, label=f"{p:g} %")
                   for n, p in enumerate(levels)]
        axes[0, 0].legend(handles=handles, title="isodose", loc="lower left", fontsize=7, title_fontsize=7,
                          framealpha=0.6)
    if structures:
        handles = [Line2D([], [], color=np.asarray(m.roi.color_rgb) / 255.0, lw=1.5, label=m.name) for m in structures]
        axes[0, 2].legend(handles=handles, title="structures", loc="lower right", fontsize=7, title_fontsize=7,
                          framealpha=0.6)
    heading = f"max {max_gy:.3g} Gy at ({point[0]:.1f}, {point[1]:.1f}, {point[2]:.1f}) mm"
    if isocenter_mm is not None:
        heading = f"slices through ({point[0]:.1f}, {point[1]:.1f}, {point[2]:.1f}) mm, max {max_gy:.3g} Gy"
    fig.suptitle(f"{title}\n{heading}" if title else heading)
    return fig


def save_dose_slices_png(
    dose: DoseResult | np.ndarray,
    ct: Volume,
    path: str | os.PathLike[str],
    *,
    title: str = "",
    isocenter_mm: Sequence[float] | None = None,
    uncertainty: np.ndarray | None = None,
    ct_window_hu: tuple[float, float] = DEFAULT_CT_WINDOW_HU,
    isodose_percent: Sequence[float] = DEFAULT_ISODOSE_PERCENT,
) -> Path:
    """Write axial / coronal / sagittal dose-on-CT slices as a PNG and return its path.

    Slices pass through the dose maximum, or through ``isocenter_mm`` (x, y, z) when given.
    See :func:`dose_slices_figure` for the arguments.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = dose_slices_figure(dose, ct, title=title, isocenter_mm=isocenter_mm, uncertainty=uncertainty,
                             ct_window_hu=ct_window_hu, isodose_percent=isodose_percent)
    from braggdesk._version import __version__

    fig.savefig(out, format="png", metadata={"Software": f"braggdesk {__version__}"})
    return out


def _draw_ct(ax, grid: _Grid, hu: np.ndarray, view: _View, index: int, window: tuple[float, float]) -> None:
    h, v, image = grid.plane(np.asarray(hu), view, index)
    ax.imshow(image, cmap="gray", vmin=window[0], vmax=window[1], origin="lower",
              extent=grid.extent(view, h, v), interpolation="nearest")
    ax.set_facecolor("black")


def _draw_wash(ax, grid: _Grid, values: np.ndarray, shown: np.ndarray, view: _View, index: int, norm: Normalize,
               cmap: str, alpha: float = WASH_ALPHA) -> None:
    """``values`` coloured where ``shown`` (a boolean volume) holds; masked on the plane, not on the volume."""
    h, v, image = grid.plane(values, view, index)
    image = np.where(grid.plane(shown, view, index)[2], image, np.nan)
    ax.imshow(np.ma.masked_invalid(image), cmap=cmap, norm=norm, alpha=alpha, origin="lower",
              extent=grid.extent(view, h, v), interpolation="nearest")


def _draw_isodoses(ax, grid: _Grid, dose: np.ndarray, view: _View, index: int, max_gy: float,
                   percents: Sequence[float]) -> None:
    h, v, image = grid.plane(dose, view, index)
    if h.size < 2 or v.size < 2:
        return
    for n, p in enumerate(percents):
        level = max_gy * p / 100.0
        if 0 < p <= 100 and image.min() < level <= image.max():
            ax.contour(h, v, image, levels=[level], colors=[_ISODOSE_COLOURS[n % len(_ISODOSE_COLOURS)]],
                       linewidths=1.0)


def _draw_structure(ax, mask: StructureMask, view: _View, point: np.ndarray) -> None:
    grid = _Grid.of(mask.grid, f"structure {mask.name!r}")
    index = grid.index_of(view.fixed_axis, point[view.fixed_axis])
    if index is None:
        return
    h, v, image = grid.plane(np.asarray(mask.fraction, dtype=float), view, index)
    if h.size < 2 or v.size < 2 or image.max() < 0.5 or image.min() >= 0.5:
        return
    ax.contour(h, v, image, levels=[0.5], colors=[np.asarray(mask.roi.color_rgb) / 255.0], linewidths=1.3)


def _decorate(ax, view: _View, point: np.ndarray, slice_mm: float, title_prefix: str) -> None:
    """Axis labels with patient directions, orientation letters and the CT slice position."""
    ha, va, fa = view.horizontal_axis, view.vertical_axis, view.fixed_axis
    ax.set_aspect("equal")
    x0, x1 = sorted(ax.get_xlim())
    y0, y1 = sorted(ax.get_ylim())
    ax.set_xlim(x0, x1)
    ax.set_ylim((y1, y0) if view.vertical_down else (y0, y1))
    low_h, high_h = _AXIS_ENDS[ha]
    low_v, high_v = _AXIS_ENDS[va]
    ax.set_xlabel(f"{_AXIS_NAMES[ha]} (mm)   {low_h} \u2192 {high_h}")
    arrow = "\u2193" if view.vertical_down else "\u2191"
    ax.set_ylabel(f"{_AXIS_NAMES[va]} (mm)   {low_v} {arrow} {high_v}")
    ax.plot([point[ha]], [point[va]], marker="+", color="white", markersize=8, mew=0.8)
    style = dict(transform=ax.transAxes, color="yellow", fontsize=9, fontweight="bold")
    ax.text(0.01, 0.5, low_h, ha="left", va="center", **style)
    ax.text(0.99, 0.5, high_h, ha="right", va="center", **style)
    top, bottom = (low_v, high_v) if view.vertical_down else (high_v, low_v)
    ax.text(0.5, 0.99, top, ha="center", va="top", **style)
    ax.text(0.5, 0.01, bottom, ha="center", va="bottom", **style)
    ax.set_title(f"{title_prefix}{view.name}   {_AXIS_NAMES[fa]} = {slice_mm:.1f} mm")
