"""What the window draws: the session in the views, the dose wash and its scale, DVHs and statistics, readout.

A mixin of :class:`~.main_window.MainWindow`.  Live updates are drawn in stages, one view per
turn of the event loop (``_do``), so no single turn holds the window for all of them; a newer
update replaces the stages not drawn yet.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BraggdeskError
from ..model import Plan
from ..viewers.display import DisplaySettings
from ..viewers.slice_view import body_box_mm
from ..viewers.view3d import body_surface
from ..workflow.session import DoseEntry
from ..workflow.structure_stats import StructureAnalysis, analyse

if TYPE_CHECKING:
    from .window_running import RunAnalysis


class DisplayMixin:
    def _apply_display_to_views(self) -> None:
        """The display settings, with the session's visible structures, to the three slice views."""
        self.display.visible_structures = set(self.session.visible_structures)
        for view in self.views.values():
            view.apply_settings(self.display)

    def _show_session(self, new_ct: bool) -> None:
        s = self.session
        self._apply_display_to_views()
        body = body_box_mm(s.ct) if new_ct and s.ct is not None else None  # once for the three views
        for view in self.views.values():
            if new_ct and s.ct is not None:
                view.set_ct(s.ct, body)
            view.set_structures(s.masks)
        if new_ct and s.ct is not None:
            self.view3d.set_ct(s.ct)  # the body surface follows from the background
            ct, session = s.ct, s
            self.background.submit(lambda: body_surface(ct),
                                   lambda body: self.view3d.set_body(body) if self.session is session else None,
                                   lambda msg: self.log_line(f"no 3D body surface: {msg}"))
        self.view3d.set_structures(s.masks, s.visible_structures)
        plan = s.plans[-1] if s.plans else None
        try:
            self.view3d.set_plan(plan, s.ct.patient_position if s.ct is not None else "HFS")
        except BraggdeskError as exc:
            self.log_line(f"beams not drawn: {exc}")
        self.tree.refresh(s)
        self._show_dose(full=True)
        self.sessionChanged.emit()

    def show_planned_dose(self, entry: DoseEntry, plan: Plan | None = None) -> None:
        """A dose made elsewhere (the planning panel's final dose) shown like a finished run's, with its plan."""
        if plan is not None and all(p is not plan for p in self.session.plans):
            self.session.plans.append(plan)
        self.session.add_dose(entry)
        self._show_session(new_ct=False)
    # -- display -------------------------------------------------------------------------
    def apply_display(self, settings: DisplaySettings) -> None:
        dose_changed = (settings.quantity == "rbe") != (self.display.quantity == "rbe")
        self.display = settings
        self._apply_display_to_views()
        self._show_dose(full=dose_changed)  # physical <-> RBE-weighted: the 3D view, DVHs and table follow

    def apply_rbe(self, settings) -> None:
        """New RBE settings (gui/rbe_panel.py): redrawn everywhere if the RBE-weighted dose is shown."""
        self.shown.settings = settings
        if self.display.quantity == "rbe":
            self._show_dose(full=True)

    def shown_dose_gy(self, entry: DoseEntry) -> np.ndarray:
        """The dose every view shows for ``entry``: physical, or RBE-weighted (gui/shown_dose.py).  If the
        RBE-weighted dose cannot be had (an imported dose has no LETd) a dialog says why and the views go
        back to the physical dose."""
        try:
            return self.shown.dose_gy(entry, self.display, self.session.masks)
        except BraggdeskError as exc:
            self.show_error("Cannot show the RBE-weighted dose", str(exc))
            settings = self.display_panel.settings()
            settings.quantity = "dose"
            self.display_panel.set_settings(settings)
            self.display = settings
            self._apply_display_to_views()
            return entry.dose_gy

    def set_structure_visible(self, name: str, visible: bool) -> None:
        (self.session.visible_structures.add if visible else self.session.visible_structures.discard)(name)
        self._apply_display_to_views()
        self.view3d.set_structures(self.session.masks, self.session.visible_structures)
        self.dvh_plot.set_dvhs([(a.dvh, a.color_rgb) for a in self._analysis], self.session.visible_structures)

    def select_dose(self, index: int) -> None:
        self.session.current_dose = index
        self.tree.refresh(self.session)
        self._show_dose(full=True)

    def set_point(self, point_mm) -> None:
        for view in self.views.values():
            view.set_point(point_mm)

    def reference_dose_gy(self, entry: DoseEntry | None) -> float:
        """The dose the wash threshold, isodoses and V95 refer to: the display's, else the plan's prescription
        (one fraction's for a dose of one fraction), else the maximum."""
        plan = self.session.plans[-1] if self.session.plans else None
        if self.display.reference_dose_gy:
            return self.display.reference_dose_gy
        if plan is not None and plan.prescription_dose_gy:
            if entry is not None and entry.per_fraction:
                return float(plan.prescription_per_fraction_gy)
            return float(plan.prescription_dose_gy)
        if entry is not None and self.display.quantity == "rbe":
            shown = self.shown_dose_gy(entry)
            return float(shown.max()) if shown.size else 0.0
        return entry.max_dose_gy if entry is not None else 0.0

    def overlay_values(self, entry: DoseEntry) -> tuple[np.ndarray, float]:
        """(values to wash, their top of scale) for the chosen quantity."""
        q = self.display.quantity
        if q == "uncertainty" and entry.uncertainty is not None:
            return entry.uncertainty * 100.0, self.display.uncertainty_max_percent
        if q == "let" and entry.let_kev_um is not None:
            return entry.let_kev_um, self._let_top(entry)
        if q == "rbe":
            shown = self.shown_dose_gy(entry)
            return shown, (float(shown.max()) if shown.size else 0.0)
        return entry.dose_gy, entry.max_dose_gy

    def _let_top(self, entry: DoseEntry) -> float:
        """Top of the LET scale: the highest LETd where the dose is shown (cached: a scan of every voxel)."""
        ref = self.reference_dose_gy(entry)
        key = (id(entry), entry.let_kev_um is not None and id(entry.let_kev_um), self.display.threshold_fraction, ref)
        if self._let_cache[0] != key:
            shown = entry.let_kev_um[entry.dose_gy >= self.display.threshold_fraction * ref]
            self._let_cache = (key, float(shown.max()) if shown.size else 1.0)
        return self._let_cache[1]

    def _show_dose(self, full: bool, staged: bool | None = None) -> None:
        """Draw the current dose.  ``full``: the 3D view and the DVHs too (those in the background).

        ``staged`` (the default for live updates, ``full`` False): one view per turn of the
        event loop, so no single turn holds the GUI for all of them; a newer update replaces
        the stages not drawn yet.
        """
        entry = self.session.dose
        self._stages.clear()
        self._follow_fractions(entry)
        if entry is None:
            for view in self.views.values():
                view.set_overlay(None, None, 1.0, 1.0)
            self.view3d.set_dose(None, 0.0)
            self._set_analysis([])
            return
        ref = self.reference_dose_gy(entry)
        values, vmax = self.overlay_values(entry)
        dose = self.shown_dose_gy(entry)
        steps = [lambda v=view: v.set_overlay(values, dose, vmax, ref) for view in self.views.values()]
        if full:
            self._request_analysis(entry, ref)
            steps.append(lambda: self.view3d.set_dose(dose, ref))
        self._do(steps, staged=not full if staged is None else staged)

    def _follow_fractions(self, entry: DoseEntry | None) -> None:
        """The RBE panel's fractions follow what the shown dose stands for, when that changes: 1 for one
        fraction's dose (a run), the plan's fractions for a course dose (the LQ RBE is taken at the dose per
        fraction).  A value the user sets stays until a dose of the other kind (or another plan) is shown."""
        if entry is None:
            return
        plan = self.session.plans[-1] if self.session.plans else None
        key = (entry.per_fraction, id(plan))
        if key == getattr(self, "_fractions_key", None):
            return
        self._fractions_key = key
        n = 1 if entry.per_fraction or plan is None else int(plan.fractions_planned or 1)
        n = min(n, self.rbe_panel.fractions.maximum())
        if self.shown.settings.fractions != n:
            settings = dataclasses.replace(self.shown.settings, fractions=n)
            self.rbe_panel.set_settings(settings)
            self.shown.settings = settings
            self.log_line(f"RBE: the shown dose stands for {n} fraction{'s' if n > 1 else ''}")

    def _do(self, steps: list, staged: bool) -> None:
        """Run ``steps`` now, or one per turn of the event loop after those already waiting."""
        if not staged:
            for step in steps:
                step()
            return
        self._stages.extend(steps)
        if not self._stage_timer.isActive():
            self._stage_timer.start()

    def _next_stage(self) -> None:
        if self._stages:
            self._stages.popleft()()
        if self._stages:
            self._stage_timer.start()

    def _flush_stages(self) -> None:
        while self._stages:
            self._stages.popleft()()

    def _set_analysis(self, analysis: list[StructureAnalysis], reference_gy: float | None = None) -> None:
        self._analysis = analysis
        self.dvh_plot.setUpdatesEnabled(True)
        self.dvh_plot.set_dvhs([(a.dvh, a.color_rgb) for a in analysis], self.session.visible_structures)
        label = self.shown.label(self.display)
        self.dvh_plot.set_dose_label(label)
        title = f"V95 relative to {reference_gy:.3g} Gy" if reference_gy else ""
        if self.display.quantity == "rbe":
            title = f"{label}; {title}" if title else label
        self.stats.set_metrics([(a.name, a.color_rgb, a.metrics) for a in analysis], title)

    def _add_dvh_curve(self, analysis: StructureAnalysis) -> None:
        """One new DVH curve, not painted until the plot gets its data (updates back on in _set_analysis)."""
        self.dvh_plot.setUpdatesEnabled(False)
        self.dvh_plot.ensure_curve(analysis.name, analysis.color_rgb)

    def _analysis_steps(self, analysis: RunAnalysis) -> list:
        """DVH curves not drawn yet are made one per step (pyqtgraph builds a curve and its legend entry
        in 10-20 ms), then every curve and the table are filled; the 3D surfaces, if rebuilt, are swapped in."""
        visible = self.session.visible_structures
        steps = [lambda a=a: self._add_dvh_curve(a) for a in analysis.structures
                 if a.name in visible and not self.dvh_plot.has_curve(a.name)]
        steps.append(lambda: self._set_analysis(analysis.structures, analysis.reference_gy))
        if analysis.surfaces is not None:
            steps.append(lambda: self.view3d.set_dose_surfaces(analysis.surfaces))
        return steps

    def _request_analysis(self, entry: DoseEntry, reference_gy: float) -> None:
        """DVHs and statistics of ``entry`` in the background; dropped if another dose is shown meanwhile."""
        masks = list(self.session.masks)
        if not masks:
            self._set_analysis([])
            return
        dose = self.shown_dose_gy(entry)
        self.background.submit(lambda: analyse(dose, masks, reference_gy),
                               lambda out: self._set_analysis(out, reference_gy) if self.session.dose is entry else None,
                               lambda msg: self.show_error("Cannot compute the DVHs", msg), tag="analysis")

    # -- cursor readout ----------------------------------------------------------------
    def value_text(self, point_mm) -> str:
        view = self.views["axial"]
        idx = view.point_to_index(point_mm)
        if idx is None or self.session.ct is None:
            return ""
        parts = [f"({point_mm[0]:.1f}, {point_mm[1]:.1f}, {point_mm[2]:.1f}) mm", f"HU {self.session.ct.hu[idx]:.0f}"]
        entry = self.session.dose
        if entry is not None:
            parts.append(f"dose {entry.dose_gy[idx]:.4g} Gy")
            if entry.uncertainty is not None:
                parts.append(f"uncertainty {100 * entry.uncertainty[idx]:.2f} %")
            if entry.let_kev_um is not None:
                parts.append(f"LETd {entry.let_kev_um[idx]:.2f} keV/um")
            if self.display.quantity == "rbe":
                parts.append(f"RBE-weighted {self.shown_dose_gy(entry)[idx]:.4g} Gy(RBE)")
        return "   ".join(parts)

    def _on_hover(self, point_mm) -> None:
        self.cursor_label.setText("" if point_mm is None else self.value_text(point_mm))
