"""The engine in a worker thread, streaming updates to the GUI after batches.

A superqt ``GeneratorWorker`` (gui/threads.py) runs :meth:`_Run.updates`, a generator
that builds the runner (choosing a backend may import CuPy and probe the driver, so not
on the GUI thread), drives ``runner.run()`` (one Progress per batch) and, no more often
than ``min_interval_s``, yields two things: an ``updated`` :class:`RunUpdate` (the
Progress and the DoseResult so far, with its maximum) as soon as the dose arrays are
built, then the same update ``analysed``, carrying whatever ``post`` derives from it
(DVHs, 3D surfaces).  The dose thus reaches the screen without waiting for the slower
analysis; batches in between are not turned into updates at all (that costs the GIL the
GUI needs).  ``RunController`` keeps only the latest of each kind and applies it once the
event loop is free (superqt's ``qthrottled``, timeout 0: latest wins), so a slow view never
makes updates queue up.  Cancel asks the runner to stop between batches (the worker is not
aborted: the generator ends by itself); the final update, the generator's return value,
carries the partial result, labelled partial, with its analysis.  An error is part of the
stream (a ``failed`` message), followed by the final update of what was done; the
generator handles its errors itself because only it can build that partial result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Generator, Union

from PySide6 import QtCore
from superqt.utils import qthrottled

from ..compute.progress import Progress
from ..compute.runner import Runner
from ..model import DoseResult
from .threads import GeneratorTask, failure_message, serial_pool, start_on

#: a runner, or a function that builds one (called in the worker thread)
RunnerSource = Union[Runner, Callable[[], Runner]]


@dataclass
class RunUpdate:
    progress: Progress
    result: DoseResult
    extra: Any = None  # what ``post`` made of the result; None in ``updated``, set in ``analysed`` and the final one
    final: bool = False
    max_dose_gy: float = 0.0  # computed in the worker so the GUI thread never scans the grid for it


class _Run:
    """One run: what the worker thread's generator drives, and what the GUI thread may cancel."""

    def __init__(self, source: RunnerSource, post: Callable[[DoseResult, bool], Any] | None, min_interval_s: float):
        self._source = source
        self.runner: Runner | None = source if isinstance(source, Runner) else None
        self.post = post or (lambda result, final: None)
        self.min_interval_s = min_interval_s
        self.cancel_requested = False

    def cancel(self) -> None:
        """Stop between batches; works before the runner exists too (it is cancelled as soon as it does)."""
        self.cancel_requested = True
        runner = self.runner
        if runner is not None:
            runner.cancel()

    def _update(self, progress: Progress, final: bool) -> RunUpdate:
        assert self.runner is not None
        result = self.runner.result()
        return RunUpdate(progress, result, None, final, result.max_dose_gy)

    def _build_runner(self) -> Runner:
        runner = self._source if isinstance(self._source, Runner) else self._source()
        self.runner = runner
        if self.cancel_requested:  # Cancel (or closing the window) came while the runner was being built
            runner.cancel()
        return runner

    def updates(self) -> Generator[tuple[str, Any], None, RunUpdate | None]:
        """("started", runner), then ("updated", u), ("analysed", u) pairs, ("failed", message) on an error;
        returns the final RunUpdate (with ``extra``), or None when no batch finished."""
        last: Progress | None = None
        final: RunUpdate | None = None
        try:
            runner = self._build_runner()
            yield "started", runner
            last_emit = -1e9
            for progress in runner.run():
                last = progress
                if time.perf_counter() - last_emit >= self.min_interval_s:
                    update = self._update(progress, final=False)
                    yield "updated", update
                    yield "analysed", replace(update, extra=self.post(update.result, False))
                    last_emit = time.perf_counter()
            if last is not None:
                final = self._update(last, final=True)
                final.extra = self.post(final.result, True)
        except Exception as exc:  # noqa: BLE001 -- shown in a dialog (the type and a traceback for a bug)
            yield "failed", failure_message(exc)
        if final is None and last is not None:
            try:
                final = self._update(last, final=True)
            except Exception:  # noqa: BLE001
                final = None
        return final


class RunController(QtCore.QObject):
    """Runs one run at a time on a thread of its own; hands the GUI the latest update, never a backlog."""

    started = QtCore.Signal(object)  # the Runner, once the worker has built it
    updated = QtCore.Signal(object)  # RunUpdate without the analysis
    analysed = QtCore.Signal(object)  # the same RunUpdate with ``extra``
    failed = QtCore.Signal(str)
    finished = QtCore.Signal(object)  # the final RunUpdate (with ``extra``), or None when no batch finished

    def __init__(self, parent=None, min_interval_s: float = 0.25):
        super().__init__(parent)
        self.min_interval_s = min_interval_s
        self._pool = serial_pool(self, "braggdesk-run")
        self._run: _Run | None = None
        self._worker: GeneratorTask | None = None
        self._final: RunUpdate | None = None
        self._pending: dict[str, RunUpdate] = {}
        self._apply_soon = qthrottled(self._apply_latest, timeout=0, leading=False, parent=self)

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def runner(self) -> Runner | None:
        return self._run.runner if self._run is not None else None

    def start(self, runner: RunnerSource, post: Callable[[DoseResult, bool], Any] | None = None) -> None:
        """Run ``runner`` (or build it with ``runner()`` first, in the worker thread)."""
        if self.running:
            raise RuntimeError("a run is already going")
        self._run = _Run(runner, post, self.min_interval_s)
        self._final = None
        self._worker = worker = GeneratorTask(self._run.updates)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        start_on(self._pool, worker)

    def cancel(self) -> None:
        if self._run is not None:
            self._run.cancel()

    def stop(self, timeout_ms: int = 60_000) -> bool:
        """Cancel and wait for the worker to end (closing the window); True when it ended.

        The run is then over for this controller: what the ended worker still had
        queued (its last update, ``finished``) is dropped, not shown on a closing window.
        """
        if self._worker is None:
            return True
        self.cancel()
        if not self._pool.waitForDone(timeout_ms):  # the generator ends after the batch in flight
            return False
        self._pending.clear()
        self._apply_soon.cancel()
        self._run = self._worker = self._final = None
        return True

    def _current(self) -> bool:
        """True when the signal being handled comes from this run's worker (not one that was stopped)."""
        return self._worker is not None and self.sender() is self._worker.signals

    def _on_yielded(self, item: tuple[str, Any]) -> None:
        if not self._current():
            return
        kind, payload = item
        if kind in ("updated", "analysed"):
            self._pending[kind] = payload
            self._apply_soon()
        else:  # "started" (the runner), "failed" (a message)
            getattr(self, kind).emit(payload)

    def _apply_latest(self) -> None:
        pending, self._pending = self._pending, {}
        for kind in ("updated", "analysed"):  # a dose before its analysis
            if kind in pending:
                getattr(self, kind).emit(pending[kind])

    def _on_returned(self, final: RunUpdate | None) -> None:
        if self._current():
            self._final = final

    def _on_errored(self, exc: Exception) -> None:
        """A bug in the generator's own code (the run's errors come as ``failed`` items)."""
        if self._current():
            self.failed.emit(failure_message(exc))

    def _on_finished(self) -> None:
        if not self._current():
            return
        self._pending.clear()
        self._apply_soon.cancel()
        final = self._final
        self._run = self._worker = self._final = None
        self.finished.emit(final)
