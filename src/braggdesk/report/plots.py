"""DVH and gamma figures for reports, drawn off-screen like :mod:`braggdesk.report.figures`.

matplotlib ``Figure`` objects on the Agg canvas: no display, no pyplot state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from braggdesk.analysis.dvh import Dvh
from braggdesk.analysis.gamma import GammaResult
from braggdesk.model import Volume

from .figures import _VIEWS, _decorate, _draw_ct, _Grid

# gamma colours: green shades below 1 (pass), orange to red above (fail)
_GAMMA_BOUNDS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
_GAMMA_COLOURS = ("#0b6e2f", "#3aa655", "#8fd18f", "#d8f0c8", "#fdb863", "#e66101", "#b2182b")


@dataclass
class DvhCurve:
    """One line of a DVH plot: a structure's DVH for one dose."""

    dvh: Dvh
    colour_rgb: tuple[int, int, int]
    dose_label: str = ""  # e.g. "MC" or "TPS"; solid for the first label seen, dashed for the second
    dashed: bool = False


def dvh_figure(curves: Sequence[DvhCurve], *, title: str = "Cumulative DVH") -> Figure:
    fig = Figure(figsize=(8.0, 4.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    top = 0.0
    for c in curves:
        label = f"{c.dvh.name} ({c.dose_label})" if c.dose_label else c.dvh.name
        ax.plot(c.dvh.bin_edges_gy, c.dvh.cumulative_percent, color=np.asarray(c.colour_rgb) / 255.0,
                ls="--" if c.dashed else "-", lw=1.4, label=label)
        top = max(top, float(c.dvh.bin_edges_gy[-1]))
    ax.set_xlim(0, top * 1.02 if top > 0 else 1)
    ax.set_ylim(0, 102)
    ax.set_xlabel("dose (Gy)")
    ax.set_ylabel("volume (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    if curves:
        ax.legend(fontsize=7, ncol=2 if len(curves) > 8 else 1, loc="upper right", framealpha=0.8)
    return fig


def gamma_figure(result: GammaResult, ct: Volume | None = None, *, title: str = "") -> Figure:
    """Gamma on axial / coronal / sagittal slices through the worst failing region, and a histogram."""
    gamma = result.gamma
    grid = _Grid.of(result.grid, "gamma")
    finite = np.isfinite(gamma)
    cmap = ListedColormap(_GAMMA_COLOURS)
    norm = BoundaryNorm(_GAMMA_BOUNDS, cmap.N)
    fig = Figure(figsize=(15.0, 4.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4, width_ratios=(1, 1, 1, 0.8))
    point = _focus_point(result)
    ct_grid = _Grid.of(ct, "CT") if ct is not None else None
    for ax, view in zip(axes[:3], _VIEWS, strict=True):
        if ct_grid is not None:
            k = ct_grid.index_of(view.fixed_axis, point[view.fixed_axis])
            if k is not None:
                _draw_ct(ax, ct_grid, ct.hu, view, k, (-1000.0, 1000.0))
        else:
            ax.set_facecolor("black")
        index = grid.index_of(view.fixed_axis, point[view.fixed_axis])
        h, v, image = grid.plane(gamma, view, index)
        ax.imshow(np.ma.masked_invalid(image), cmap=cmap, norm=norm, origin="lower", alpha=0.85,
                  extent=grid.extent(view, h, v), interpolation="nearest")
        _decorate(ax, view, point, float(grid.coords[view.fixed_axis][index]), "gamma  ")
    fig.colorbar(axes[0].images[-1], ax=axes[:3].tolist(), label="gamma", fraction=0.025, pad=0.01,
                 ticks=_GAMMA_BOUNDS)
    hist_ax = axes[3]
    values = gamma[finite]
    if values.size:
        bins = np.linspace(0, result.criteria.max_gamma, 41)
        counts, edges = np.histogram(values, bins=bins)
        share = 100.0 * counts / values.size
        colours = ["#3aa655" if e < 1.0 else "#e66101" for e in edges[:-1]]
        hist_ax.bar(edges[:-1], share, width=np.diff(edges), align="edge", color=colours)
        hist_ax.axvline(1.0, color="black", lw=0.8)
    hist_ax.set_xlabel("gamma")
    hist_ax.set_ylabel("voxels (%)")
    hist_ax.set_title(f"pass rate {result.pass_rate_percent:.1f} %")
    fig.suptitle(title or f"Gamma {result.criteria.label}")
    return fig


def _focus_point(result: GammaResult) -> np.ndarray:
    """Patient position of the centre of the failing voxels (or of the evaluated ones if none fail)."""
    gamma = result.gamma
    with np.errstate(invalid="ignore"):
        pick = gamma > 1.0
    if not pick.any():
        pick = np.isfinite(gamma)
    if not pick.any():
        k, j, i = (s // 2 for s in gamma.shape)
    else:
        # the failing voxel nearest the median position of all failing ones: a region, not an outlier
        kk, jj, ii = np.nonzero(pick)
        k, j, i = int(np.median(kk)), int(np.median(jj)), int(np.median(ii))
        if not pick[k, j, i]:
            n = int(np.argmin((kk - k) ** 2 + (jj - j) ** 2 + (ii - i) ** 2))
            k, j, i = int(kk[n]), int(jj[n]), int(ii[n])
    return (result.grid.index_to_patient() @ np.array([i, j, k, 1.0]))[:3]
