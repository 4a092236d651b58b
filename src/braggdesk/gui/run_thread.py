"""The engine in a worker thread, streaming updates to the GUI after batches.

A generator worker in the style of superqt's: ``RunWorker.work`` builds the
runner (choosing a backend may import CuPy and probe the driver, so not on the
GUI thread), drives ``runner.run()`` (one Progress per batch) in a QThread and,
no more often than ``min_interval_s``, emits two things: ``updated`` with a
:class:`RunUpdate` (the Progress and the DoseResult so far, with its maximum)
as soon as the dose arrays are built, then ``analysed`` with the same update
carrying whatever ``post`` derives from it (DVHs, 3D surfaces).  The dose thus
reaches the screen without waiting for the slower analysis.  ``RunController``
keeps only the latest of each and applies it once the event loop is free
(latest wins), so a slow view never makes updates queue up.  Cancel asks the
runner to stop between batches; the final update carries the partial result,
labelled partial, with its analysis.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, replace
from typing import Any, Callable, Union

from PySide6 import QtCore

from ..compute.progress import Progress
from ..compute.runner import Runner
from ..errors import BraggdeskError
from ..model import DoseResult

#: a runner, or a function that builds one (called in the worker thread)
RunnerSource = Union[Runner, Callable[[], Runner]]


@dataclass
class RunUpdate:
    progress: Progress
    result: DoseResult
    extra: Any = None  # what ``post`` made of the result; None in ``updated``, set in ``analysed`` and the final one
    final: bool = False
    max_dose_gy: float = 0.0  # computed in the worker so the GUI thread never scans the grid for it


class RunWorker(QtCore.QObject):
    started = QtCore.Signal(object)  # the Runner, once built
    updated = QtCore.Signal(object)  # RunUpdate without the analysis
    analysed = QtCore.Signal(object)  # the same RunUpdate with ``extra``
    failed = QtCore.Signal(str)
    finished = QtCore.Signal(object)  # the final RunUpdate (with ``extra``), or None when no batch finished

    def __init__(self, runner: RunnerSource, post: Callable[[DoseResult, bool], Any] | None = None,
                 min_interval_s: float = 0.25):
        super().__init__()
        self._source = runner
        self.runner: Runner | None = runner if isinstance(runner, Runner) else None
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
        self.started.emit(runner)
        return runner

    @QtCore.Slot()
    def work(self) -> None:
        last: Progress | None = None
        final: RunUpdate | None = None
        try:
            runner = self._build_runner()
            last_emit = -1e9
            for progress in runner.run():
                last = progress
                now = time.perf_counter()
                if now - last_emit >= self.min_interval_s:
                    update = self._update(progress, final=False)
                    self.updated.emit(update)
                    self.analysed.emit(replace(update, extra=self.post(update.result, False)))
                    last_emit = time.perf_counter()
            if last is not None:
                final = self._update(last, final=True)
                final.extra = self.post(final.result, True)
        except BraggdeskError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 -- shown in a dialog, with the type for the bug report
            self.failed.emit(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=4)}")
        finally:
            if final is None and last is not None:
                try:
                    final = self._update(last, final=True)
                except Exception:  # noqa: BLE001
                    final = None
            self.finished.emit(final)


class RunController(QtCore.QObject):
    """Owns the thread of one run; hands the GUI the latest update, never a backlog."""

    started = QtCore.Signal(object)  # the Runner, once the worker has built it
    updated = QtCore.Signal(object)
    analysed = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    finished = QtCore.Signal(object)

    def __init__(self, parent=None, min_interval_s: float = 0.25):
        super().__init__(parent)
        self.min_interval_s = min_interval_s
        self._thread: QtCore.QThread | None = None
        self._worker: RunWorker | None = None
        self._pending: dict[str, RunUpdate] = {}
        self._flush = QtCore.QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._apply_latest)

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def runner(self) -> Runner | None:
        return self._worker.runner if self._worker is not None else None

    def start(self, runner: RunnerSource, post: Callable[[DoseResult, bool], Any] | None = None) -> None:
        """Run ``runner`` (or build it with ``runner()`` first, in the worker thread)."""
        if self.running:
            raise RuntimeError("a run is already going")
        self._thread = QtCore.QThread()
        self._thread.setObjectName("braggdesk-run")
        self._worker = RunWorker(runner, post, self.min_interval_s)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.work)
        self._worker.started.connect(self._on_started)
        self._worker.updated.connect(self._on_updated)
        self._worker.analysed.connect(self._on_analysed)
        self._worker.failed.connect(self._on_failed)
        self._worker.finished.connect(self._on_finished)
        self._thread.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def stop(self, timeout_ms: int = 60_000) -> bool:
        """Cancel and wait for the thread to end (closing the window); True when it ended.

        The run is then over for this controller: what the ended worker still had
        queued (its last update, ``finished``) is dropped, not shown on a closing window.
        """
        thread = self._thread
        if thread is None:
            return True
        self.cancel()
        thread.quit()  # the thread's event loop ends once ``work`` returns (after the batch in flight)
        if not thread.wait(timeout_ms):
            return False
        self._pending.clear()
        self._flush.stop()
        self._thread = self._worker = None
        return True

    def _current(self) -> bool:
        """True when the signal being handled comes from this run's worker (not one that was stopped)."""
        return self._worker is not None and self.sender() is self._worker

    def _on_started(self, runner: Runner) -> None:
        if self._current():
            self.started.emit(runner)

    def _on_failed(self, message: str) -> None:
        if self._current():
            self.failed.emit(message)

    def _on_updated(self, update: RunUpdate) -> None:
        self._queue("updated", update)

    def _on_analysed(self, update: RunUpdate) -> None:
        self._queue("analysed", update)

    def _queue(self, kind: str, update: RunUpdate) -> None:
        if not self._current():
            return
        self._pending[kind] = update
        if not self._flush.isActive():
            self._flush.start()

    def _apply_latest(self) -> None:
        pending, self._pending = self._pending, {}
        for kind in ("updated", "analysed"):  # a dose before its analysis
            if kind in pending:
                getattr(self, kind).emit(pending[kind])

    def _on_finished(self, final: RunUpdate | None) -> None:
        if not self._current():
            return
        self._pending.clear()
        self._flush.stop()
        thread, self._thread, self._worker = self._thread, None, None
        if thread is not None:
            thread.quit()
            thread.wait()
        self.finished.emit(final)
