"""The window's runs: the job from what is open, the runner from the run panel, live doses drawn in stages.

A mixin of :class:`~.main_window.MainWindow` (it uses the window's session, views, panels and
run controller).  The job and the runner come from workflow/ (the code ``braggdesk run`` uses);
the run itself goes through gui/run_thread.py's thread, and each live dose is drawn one view per turn
of the event loop (gui/window_display.py) so the window never stalls.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..errors import BraggdeskError
from ..model import DoseResult, Job, SimulationSettings
from ..viewers.view3d import Surface, dose_surfaces
from ..workflow import jobs
from ..workflow.session import DoseEntry
from ..workflow.structure_stats import StructureAnalysis, analyse
from .run_thread import RunUpdate
from .runner_choices import runner_choice

#: live updates no more often than this, longer for big grids (each one converts and draws every voxel)
MIN_UPDATE_INTERVAL_S = 0.25
UPDATE_SECONDS_PER_VOXEL = 2.5e-7  # 1.9 M voxels (the 2 mm demo): one update every 0.5 s
#: live 3D dose surfaces no more often than this on a GPU.  On a software renderer (Mesa llvmpipe) a frame
#: of the 2 mm demo costs 30-50 ms while the engine runs, which alone reaches the 50 ms stall goal: there
#: the 3D dose is drawn at the end of a run only (benchmarks/README.md, GUI responsiveness)
LIVE_3D_INTERVAL_S = 2.0


@dataclass
class RunAnalysis:
    """What the run worker derives from a DoseResult off the GUI thread: DVHs and metrics, 3D dose surfaces."""

    structures: list[StructureAnalysis]
    reference_gy: float
    surfaces: list[Surface] | None = None  # None: not rebuilt for this update (throttled)



class RunningMixin:
    def make_job(self, settings: SimulationSettings) -> Job:
        """The job of the last plan on the open CT, built as ``braggdesk run`` builds it (workflow/jobs.py)."""
        s = self.session
        if s.ct is not None and s.ct_placeholder:
            raise BraggdeskError(f"no CT is loaded ({s.ct.description}); the views use the dose grid, which "
                                 f"cannot be simulated: open the CT series the plan was made on")
        built = jobs.build_job(s.ct, s.plans[-1] if s.plans else None, beam_model=s.beam_model,
                          calibration=s.calibration, settings=settings)
        for note in built.notes:
            self.log_line(note)
        return built.job

    def _with_track_database(self, job, make_runner):
        """The runner source, preceded in the worker thread by recording the track database's energies the
        job needs for the first time, its progress in the run panel (a remote node records its own)."""

        def source():
            from ..engine.tracks.prepare import ensure_job_tracks

            ensure_job_tracks(job, progress=self.tracksProgress.emit)
            return make_runner()

        return source

    def start_run(self, settings: SimulationSettings, runner_key: str = "local", target: str = "") -> bool:
        """Start a run; False (and a dialog) when it cannot start.

        A runner whose choice says it is slow to build (the local one probes for a GPU)
        is built in the run's worker thread; its errors (no GPU) come back as a dialog.
        """
        if self.controller.running:
            return False
        try:
            job = self.make_job(settings)
            choice = runner_choice(runner_key)
            if choice.build_in_worker:
                source = lambda: choice.make(job, target, None)  # noqa: E731 -- called in the worker thread
                if getattr(job.settings, "engine", "full") == "track-repeat":
                    source = self._with_track_database(job, source)
            else:
                source = choice.make(job, target, self.qsettings)
        except (BraggdeskError, ValueError) as exc:
            self.show_error("Cannot start", str(exc))
            return False
        self.timings = {"start": time.perf_counter()}
        self.live_updates = 0
        self._running_index = -1
        self.run_panel.set_running(True)
        self.log_line(f"run: {job.settings.primaries or 'target'} primaries, {choice.label.lower()}")
        ref_fixed = self.session.plans[-1].prescription_per_fraction_gy  # a run's dose is one fraction's
        self._live_masks = list(self.session.masks)
        last_3d = [-math.inf]
        ct = job.ct
        interval_3d = self.live_3d_interval()

        def post(result: DoseResult, final: bool) -> RunAnalysis:  # worker thread: off the GUI thread
            # the masks as they are now: structures that finish rasterizing during the run join in
            dose = result.dose_gy
            if self.shown.is_rbe(self.display):  # the RBE-weighted dose when the views show it (gui/shown_dose.py)
                dose = self.shown.rbe_gy(result.dose_gy, result.let_kev_um, self._live_masks)
            ref = ref_fixed or float(dose.max())
            analysis = RunAnalysis(analyse(dose, self._live_masks, ref), ref)
            now = time.perf_counter()
            if final or (math.isfinite(interval_3d) and now - last_3d[0] >= interval_3d):
                analysis.surfaces = dose_surfaces(dose, ct, self.display.reference_dose_gy or ref)
                last_3d[0] = now
            return analysis

        self.controller.min_interval_s = max(MIN_UPDATE_INTERVAL_S, UPDATE_SECONDS_PER_VOXEL * job.ct.hu.size)
        self.controller.start(source, post)
        return True

    def live_3d_interval(self) -> float:
        """Seconds between live 3D dose surfaces in the next run (math.inf: at its end only)."""
        if self.live_3d_interval_s is not None:
            return self.live_3d_interval_s
        return math.inf if self.view3d.software_rendering else LIVE_3D_INTERVAL_S

    def _on_started(self, runner) -> None:
        self.log_line(f"running on {runner.device} ({runner.kind})")

    def cancel_run(self) -> None:
        if self.controller.running:
            self.log_line("cancelling: the batches running now finish, the partial dose is kept")
            self.controller.cancel()

    def _apply_result(self, update: RunUpdate, running: bool) -> DoseEntry:
        entry = DoseEntry.of_result("MC dose", update.result, running=running, max_gy=update.max_dose_gy)
        if 0 <= self._running_index < len(self.session.doses):
            self.session.doses[self._running_index] = entry
            self.session.current_dose = self._running_index
        else:
            self._running_index = self.session.add_dose(entry)
            self.tree.refresh(self.session)
        return entry

    def _on_update(self, update: RunUpdate) -> None:
        """A live dose: the three slice views, one per turn of the event loop."""
        self._apply_result(update, running=True)
        self._show_dose(full=False, staged=True)
        self.run_panel.show_progress(update.progress)
        self.live_updates += 1
        if "first_dose" not in self.timings:  # on screen once the first view has drawn it
            self._stages.insert(1, lambda: self.timings.setdefault("first_dose", time.perf_counter()))

    def _on_analysed(self, update: RunUpdate) -> None:
        """The DVHs, statistics and (now and then) 3D surfaces of a live dose, after its slices."""
        if update.extra is not None and self.controller.running:
            self._do(self._analysis_steps(update.extra), staged=True)

    def _on_finished(self, final: RunUpdate | None) -> None:
        """The final dose, drawn in stages like a live one (the 3D surfaces come ready from the worker)."""
        self.run_panel.set_running(False)
        if final is None:
            self.run_panel.show_done("no batch finished")
            self.runFinished.emit(None)
            return
        entry = self._apply_result(final, running=False)
        self._show_dose(full=False, staged=True)
        if final.extra is not None:
            self._do(self._analysis_steps(final.extra), staged=True)
        else:  # the worker could not analyse (it failed after the last batch): in the background
            self._request_analysis(entry, self.reference_dose_gy(entry))
            self._do([lambda: self.view3d.set_dose(self.shown_dose_gy(entry), self.reference_dose_gy(entry))],
                     staged=True)
        self._do([lambda: self.tree.refresh(self.session)], staged=True)
        self.timings.setdefault("first_dose", time.perf_counter())
        self.timings["done"] = time.perf_counter()
        p = final.progress
        unc = "n/a" if not math.isfinite(p.mean_uncertainty) else f"{100 * p.mean_uncertainty:.2f} %"
        text = (f"{'PARTIAL: cancelled after ' if entry.partial else 'done: '}{p.primaries:,} primaries in "
                f"{p.elapsed_s:.1f} s ({p.primaries_per_second:,.0f}/s), uncertainty {unc}")
        self.run_panel.show_progress(p)
        self.run_panel.show_done(text)
        self.log_line(text)
        for note in final.result.notes:
            self.log_line(f"note: {note}")
        self.runFinished.emit(entry)

