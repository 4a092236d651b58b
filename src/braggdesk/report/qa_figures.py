"""Figures of a plan QA comparison: the dose difference map and profiles of both doses.

Off-screen matplotlib like :mod:`braggdesk.report.figures`; the difference map uses
the same views (radiological convention, patient mm) with the CT underneath.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from braggdesk.analysis.plan_qa import PlanQaResult, ProfilePair
from braggdesk.model import Volume

from .figures import _VIEWS, _decorate, _draw_ct, _draw_structure, _Grid

DIFFERENCE_RANGE_PERCENT = 10.0  # colour scale of the difference map: +- this % of the reference maximum


def difference_figure(result: PlanQaResult, ct: Volume, point_mm: Sequence[float], *, title: str = "") -> Figure:
    """(evaluated - reference) in % of the reference maximum on three slices through ``point_mm``, and a histogram."""
    diff = result.difference_percent
    grid = _Grid.of(result.reference, "reference dose")
    point = np.asarray(point_mm, dtype=float).reshape(3)
    norm = Normalize(-DIFFERENCE_RANGE_PERCENT, DIFFERENCE_RANGE_PERCENT)
    fig = Figure(figsize=(15.0, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4, width_ratios=(1, 1, 1, 0.8))
    ct_grid = _Grid.of(ct, "CT")
    image = None
    for ax, view in zip(axes[:3], _VIEWS, strict=True):
        k = ct_grid.index_of(view.fixed_axis, point[view.fixed_axis])
        if k is not None:
            _draw_ct(ax, ct_grid, ct.hu, view, k, (-1000.0, 1000.0))
        index = grid.index_of(view.fixed_axis, point[view.fixed_axis])
        if index is None:
            continue
        h, v, plane = grid.plane(diff, view, index)
        image = ax.imshow(np.ma.masked_invalid(plane), cmap="RdBu_r", norm=norm, origin="lower",
                          extent=grid.extent(view, h, v), interpolation="nearest", alpha=0.9)
        for mask in result.masks:
            _draw_structure(ax, mask, view, point)
        _decorate(ax, view, point, float(grid.coords[view.fixed_axis][index]), "difference  ")
    if image is not None:
        fig.colorbar(image, ax=axes[:3].tolist(), extend="both", fraction=0.025, pad=0.01,
                     label="evaluated \u2212 reference (% of reference max)")
    hist_ax = axes[3]
    values = diff[np.isfinite(diff)]
    if values.size:
        bins = np.linspace(-2 * DIFFERENCE_RANGE_PERCENT, 2 * DIFFERENCE_RANGE_PERCENT, 81)
        counts, edges = np.histogram(np.clip(values, bins[0], bins[-1]), bins=bins)
        hist_ax.bar(edges[:-1], 100.0 * counts / values.size, width=np.diff(edges), align="edge", color="#4a6fa5")
        hist_ax.axvline(0.0, color="black", lw=0.8)
        hist_ax.set_title(f"median {np.median(values):+.1f} %, 5-95 % [{np.percentile(values, 5):+.1f}, "
                          f"{np.percentile(values, 95):+.1f}] %", fontsize=9)
    hist_ax.set_xlabel("difference (% of reference max)")
    hist_ax.set_ylabel("voxels (%)")
    fig.suptitle(title or "Dose difference, evaluated \u2212 reference, where either dose \u2265 10 % of the "
                          "reference maximum")
    return fig


def profiles_figure(pairs: Sequence[ProfilePair], *, reference_label: str = "reference",
                    evaluated_label: str = "evaluated", title: str = "") -> Figure:
    """One panel per profile: reference dashed, evaluated solid; the local difference underneath."""
    n = max(1, len(pairs))
    fig = Figure(figsize=(15.0, 6.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n, squeeze=False, height_ratios=(3, 1.2), sharex="col")
    for col, pair in enumerate(pairs):
        ax, dax = axes[0, col], axes[1, col]
        ax.plot(pair.position_mm, pair.evaluated_gy, color="#c0392b", lw=1.3, label=evaluated_label)
        ax.plot(pair.position_mm, pair.reference_gy, color="black", lw=1.3, ls="--", label=reference_label)
        ax.set_title(pair.name)
        ax.set_ylabel("dose (Gy)")
        ax.grid(alpha=0.3)
        ax.axvline(0.0, color="grey", lw=0.6)
        top = float(np.nanmax(pair.reference_gy)) if pair.reference_gy.size else 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(pair.reference_gy >= 0.1 * top, 100.0 * (pair.evaluated_gy - pair.reference_gy) / top,
                            np.nan) if top > 0 else np.full(pair.position_mm.shape, np.nan)
        dax.plot(pair.position_mm, diff, color="#4a6fa5", lw=1.0)
        dax.axhline(0.0, color="black", lw=0.6)
        finite = diff[np.isfinite(diff)]
        span = max(5.0, min(50.0, float(np.percentile(np.abs(finite), 98)) * 1.2)) if finite.size else 5.0
        dax.set_ylim(-span, span)
        dax.set_ylabel("diff. (% of max)")
        dax.set_xlabel(pair.axis_label)
        dax.grid(alpha=0.3)
        if col == 0:
            ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(title or "Profiles through the isocentre")
    return fig
