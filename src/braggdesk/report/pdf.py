"""The PDF report: what a physicist files after a calculation or a plan QA.

Built from plain data (:class:`ReportData`), so the CLI, the GUI and tests make the
same report without a display: matplotlib draws the figures off-screen
(:mod:`braggdesk.report.figures`, :mod:`braggdesk.report.plots`) and reportlab
lays out the pages.  Sections with nothing to show (no structures, no reference
dose) are left out, not drawn empty.  Nothing patient-identifying goes in: the
caller passes a plan label, never a patient name or ID.
"""

from __future__ import annotations

import datetime
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table,
                                TableStyle)

from braggdesk._version import __version__
from braggdesk.analysis.dvh import DvhMetrics
from braggdesk.analysis.gamma import GammaResult
from braggdesk.model import DoseResult, StructureMask, Volume

from .figures import dose_slices_figure
from .plots import DvhCurve, dvh_figure, gamma_figure

_PAGE_WIDTH = A4[0] - 30 * mm


@dataclass
class ReportData:
    """Everything the report shows; each optional part adds its section when present."""

    title: str
    ct: Volume
    dose: DoseResult | Volume  # the dose the report is about, on its own grid, in Gy
    summary_rows: list[tuple[str, str]]  # plan and run summary: label, value
    provenance: dict[str, str]  # engine, device, version, seed, date ...
    beam_rows: list[list[str]] = field(default_factory=list)  # a header row, then one row per beam
    uncertainty: np.ndarray | None = None  # relative, on the dose grid
    mean_relative_uncertainty: float | None = None
    isocenter_mm: Sequence[float] | None = None
    structures: list[StructureMask] = field(default_factory=list)
    dvh_curves: list[DvhCurve] = field(default_factory=list)
    metrics: list[tuple[str, DvhMetrics]] = field(default_factory=list)  # (dose label, metrics)
    gamma: list[GammaResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    subtitle: str = ""
    warnings: list[str] = field(default_factory=list)  # shown in red under the title
    comparison_rows: list[tuple[str, str]] = field(default_factory=list)  # against a reference dose: label, value
    metric_difference_rows: list[list[str]] = field(default_factory=list)  # a header row, then one row per structure
    figures: list[ReportFigure] = field(default_factory=list)  # further pages, one figure each, after the gamma
    goal_rows: list[list[str]] = field(default_factory=list)  # clinical goals: a header row, then one row per goal


@dataclass
class ReportFigure:
    """A page of its own: a heading, a matplotlib figure and a caption."""

    heading: str
    figure: Any  # matplotlib Figure
    caption: str = ""
    with_dose: bool = False  # on the dose page, under the dose figure, rather than on a page of its own


def write_report_pdf(data: ReportData, path: str | Path) -> Path:
    """Lay out and write the report; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    styles = _styles()
    story: list = [Paragraph(_esc(data.title), styles["title"])]
    if data.subtitle:
        story.append(Paragraph(_esc(data.subtitle), styles["small"]))
    for warning in data.warnings:
        story.append(Paragraph(_esc(f"Warning: {warning}"), styles["warning"]))
    story += [Spacer(1, 4 * mm), Paragraph("Summary", styles["h2"]), _key_value_table(data.summary_rows)]
    if data.comparison_rows:
        story += [Spacer(1, 4 * mm), Paragraph("Comparison with the reference dose", styles["h2"]),
                  _key_value_table(data.comparison_rows)]
    if data.goal_rows:
        story += [Spacer(1, 4 * mm), Paragraph("Clinical goals", styles["h2"]), _grid_table(data.goal_rows)]
    if data.beam_rows:
        story += [Spacer(1, 4 * mm), Paragraph("Beams", styles["h2"]), _grid_table(data.beam_rows)]
    story += [Spacer(1, 4 * mm), Paragraph("Statistical uncertainty", styles["h2"]),
              Paragraph(_esc(_uncertainty_text(data)), styles["body"])]
    if data.gamma:
        story += [Spacer(1, 4 * mm), Paragraph("Gamma index", styles["h2"]), _gamma_table(data.gamma)]
    story += [Spacer(1, 4 * mm), Paragraph("Provenance", styles["h2"]),
              _key_value_table(list(data.provenance.items()))]
    for note in data.notes:
        story.append(Paragraph(_esc(f"Note: {note}"), styles["small"]))

    story += [PageBreak(), Paragraph("Dose", styles["h2"])]
    fig = dose_slices_figure(data.dose, data.ct, title=data.title, isocenter_mm=data.isocenter_mm,
                             uncertainty=data.uncertainty, structures=data.structures)
    story += [_figure(fig), Paragraph(_esc(_slices_caption(data)), styles["small"])]
    for extra in (f for f in data.figures if f.with_dose):
        story += [Spacer(1, 3 * mm), KeepTogether(_figure_block(extra, styles))]

    if data.dvh_curves or data.metrics:
        story += [PageBreak(), Paragraph("Dose-volume histograms", styles["h2"])]
        if data.dvh_curves:
            story.append(_figure(dvh_figure(data.dvh_curves), width=_PAGE_WIDTH * 0.9))
        if data.metrics:
            story += [Spacer(1, 3 * mm), _metrics_table(data.metrics)]
        if data.metric_difference_rows:
            header = data.metric_difference_rows[0]
            widths = [38 * mm] + [(_PAGE_WIDTH - 38 * mm) / (len(header) - 1)] * (len(header) - 1)
            story += [Spacer(1, 3 * mm), Paragraph("Differences (evaluated – reference)", styles["h2"]),
                      _grid_table(data.metric_difference_rows, widths)]
    for n, result in enumerate(data.gamma):  # all gamma maps on one page while they fit
        story += [PageBreak()] if n == 0 else [Spacer(1, 4 * mm)]
        story.append(KeepTogether([Paragraph(_esc(f"Gamma {result.criteria.label}"), styles["h2"]),
                                   _figure(gamma_figure(result, data.ct)),
                                   Paragraph(_esc(_gamma_caption(result)), styles["small"])]))
    for n, extra in enumerate(f for f in data.figures if not f.with_dose):  # likewise the further figures
        story += [PageBreak()] if n == 0 else [Spacer(1, 4 * mm)]
        story.append(KeepTogether(_figure_block(extra, styles)))

    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=data.title, author=f"braggdesk {__version__}",
                            creator=f"braggdesk {__version__}", subject="Monte Carlo dose report")
    footer = f"braggdesk {__version__}  \u00b7  {data.title}"
    doc.build(story, onFirstPage=_footer(footer), onLaterPages=_footer(footer))
    return path


# ------------------------------------------------------------------------------------------ layout helpers


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=17, spaceAfter=2 * mm, alignment=0),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, spaceBefore=1 * mm, spaceAfter=1.5 * mm),
        "body": ParagraphStyle("b", parent=base["BodyText"], fontSize=9, leading=12),
        "small": ParagraphStyle("s", parent=base["BodyText"], fontSize=8, leading=10, textColor=colors.grey),
        "warning": ParagraphStyle("w", parent=base["BodyText"], fontSize=9.5, leading=12.5,
                                  textColor=colors.HexColor("#b2182b"), fontName="Helvetica-Bold", spaceBefore=2 * mm),
    }


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _figure_block(extra: ReportFigure, styles: dict[str, ParagraphStyle]) -> list:
    block = [Paragraph(_esc(extra.heading), styles["h2"]), _figure(extra.figure)]
    if extra.caption:
        block.append(Paragraph(_esc(extra.caption), styles["small"]))
    return block


def _figure(fig, width: float = _PAGE_WIDTH) -> Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    w, h = fig.get_size_inches()
    buf.seek(0)
    return Image(buf, width=width, height=width * h / w)


_TABLE_STYLE = [
    ("FONT", (0, 0), (-1, -1), "Helvetica", 8.5),
    ("GRID", (0, 0), (-1, -1), 0.3, colors.lightgrey),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ("TOPPADDING", (0, 0), (-1, -1), 2),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
]


def _key_value_table(rows: Sequence[tuple[str, str]]) -> Table:
    body = [[Paragraph(_esc(str(k)), _cell(bold=True)), Paragraph(_esc(str(v)), _cell())] for k, v in rows]
    t = Table(body or [["", ""]], colWidths=[50 * mm, _PAGE_WIDTH - 50 * mm], hAlign="LEFT")
    t.setStyle(TableStyle(_TABLE_STYLE + [("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2"))]))
    return t


def _grid_table(rows: Sequence[Sequence[str]], col_widths=None) -> Table:
    body = [[Paragraph(_esc(str(c)), _cell(bold=(r == 0))) for c in row] for r, row in enumerate(rows)]
    t = Table(body, colWidths=col_widths, hAlign="LEFT", repeatRows=1)
    t.setStyle(TableStyle(_TABLE_STYLE + [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e9f2"))]))
    return t


def _cell(bold: bool = False) -> ParagraphStyle:
    return ParagraphStyle("c", fontName="Helvetica-Bold" if bold else "Helvetica", fontSize=8.5, leading=10.5)


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _gy(value: float) -> str:
    """Doses to the milligray: no 1.15e-05 in a table."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3f}"


def _metrics_table(metrics: Sequence[tuple[str, DvhMetrics]]) -> KeepTogether:
    header = ["structure", "dose", "volume (cm\u00b3)", "Dmean", "Dmin", "Dmax", "D98", "D95", "D50", "D2"]
    rows = [header]
    for label, m in metrics:
        rows.append([m.name, label, f"{m.volume_cm3:.1f}"] + [
            _gy(v) for v in (m.dmean_gy, m.dmin_gy, m.dmax_gy, m.d98_gy, m.d95_gy, m.d50_gy, m.d2_gy)])
    widths = [38 * mm, 14 * mm, 20 * mm] + [(_PAGE_WIDTH - 72 * mm) / 7] * 7
    return KeepTogether([_grid_table(rows, widths), Paragraph("Doses in Gy. Dx: the dose at least x % of the "
                                                              "volume receives.", _cell())])


def _gamma_table(results: Sequence[GammaResult]) -> Table:
    rows = [["criteria", "pass rate", "evaluated voxels", "mean gamma", "95th percentile", "normalisation"]]
    for r in results:
        s = r.summary()
        rows.append([r.criteria.label, f"{r.pass_rate_percent:.2f} %", f"{r.evaluated_voxels:,}",
                     _fmt(s["mean_gamma"]), _fmt(s["gamma_p95"]), f"{r.normalisation_gy:.4g} Gy"])
    return _grid_table(rows)


def _uncertainty_text(data: ReportData) -> str:
    parts = []
    if data.mean_relative_uncertainty is not None and math.isfinite(data.mean_relative_uncertainty):
        parts.append(f"Mean relative statistical uncertainty (1 standard deviation) over the voxels above 50 % of "
                     f"the maximum dose: {100 * data.mean_relative_uncertainty:.2f} %.")
    if data.uncertainty is not None:
        parts.append("The second row of the dose figure shows the relative uncertainty per voxel where the dose "
                     "is at least 10 % of its maximum.")
    return " ".join(parts) or "No statistical uncertainty is attached to this dose (not a Monte Carlo result)."


def _slices_caption(data: ReportData) -> str:
    where = "the isocentre" if data.isocenter_mm is not None else "the dose maximum"
    text = (f"Axial, coronal and sagittal slices through {where}; dose colour wash above 10 % of the maximum, "
            "isodose lines at 50, 90 and 95 % of the maximum.")
    if data.structures:
        text += " Structure outlines at half-voxel occupancy."
    return text


def _gamma_caption(result: GammaResult) -> str:
    text = (f"Gamma of the evaluated dose against the reference on the reference grid; voxels below "
            f"{result.criteria.cutoff_percent:g} % of {result.normalisation_gy:.4g} Gy not evaluated (not coloured). "
            f"Slices through the centre of the failing voxels. Gammas above {result.criteria.max_gamma:g} are shown "
            f"as {result.criteria.max_gamma:g}.")
    if result.resampled:
        text += " The evaluated dose was interpolated trilinearly onto the reference grid first."
    return text


def _footer(text: str):
    def draw(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(15 * mm, 8 * mm, text[:120])
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()
    return draw


def today() -> str:
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
