"""The engine in a worker thread, streaming updates to the GUI after batches.

A generator worker in the style of superqt's: ``RunWorker.work`` drives
``runner.run()`` (one Progress per batch) in a QThread and emits a
:class:`RunUpdate` (the Progress, the DoseResult so far and whatever ``post``
derives from it, e.g. DVHs) no more often than ``min_interval_s``; the dose
arrays are built here, off the GUI thread.  ``RunController`` keeps only the
latest update and applies it once the event loop is free (latest wins), so a
slow view never makes updates queue up.  Cancel asks the runner to stop between
batches; the final update carries the partial result, labelled partial.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6 import QtCore

from ..compute.progress import Progress
from ..compute.runner import Runner
from ..errors import BraggdeskError
from ..model import DoseResult


@dataclass
class RunUpdate:
    progress: Progress
    result: DoseResult
    extra: Any = None
    final: bool = False


class RunWorker(QtCore.QObject):
    updated = QtCore.Signal(object)  # RunUpdate
    failed = QtCore.Signal(str)
    finished = QtCore.Signal(object)  # the final RunUpdate, or None when no batch finished

    def __init__(self, runner: Runner, post: Callable[[DoseResult], Any] | None = None, min_interval_s: float = 0.25):
        super().__init__()
        self.runner = runner
        self.post = post or (lambda result: None)
        self.min_interval_s = min_interval_s

    def _update(self, progress: Progress, final: bool) -> RunUpdate:
        result = self.runner.result()
        return RunUpdate(progress, result, self.post(result), final)

    @QtCore.Slot()
    def work(self) -> None:
        last: Progress | None = None
        final: RunUpdate | None = None
        try:
            last_emit = -1e9
            for progress in self.runner.run():
                last = progress
                now = time.perf_counter()
                if now - last_emit >= self.min_interval_s:
                    self.updated.emit(self._update(progress, final=False))
                    last_emit = time.perf_counter()
            if last is not None:
                final = self._update(last, final=True)
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

    updated = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    finished = QtCore.Signal(object)

    def __init__(self, parent=None, min_interval_s: float = 0.25):
        super().__init__(parent)
        self.min_interval_s = min_interval_s
        self._thread: QtCore.QThread | None = None
        self._worker: RunWorker | None = None
        self._pending: RunUpdate | None = None
        self._flush = QtCore.QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._apply_latest)
        self.runner: Runner | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, runner: Runner, post: Callable[[DoseResult], Any] | None = None) -> None:
        if self.running:
            raise RuntimeError("a run is already going")
        self.runner = runner
        self._thread = QtCore.QThread()
        self._thread.setObjectName("braggdesk-run")
        self._worker = RunWorker(runner, post, self.min_interval_s)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.work)
        self._worker.updated.connect(self._on_update)
        self._worker.failed.connect(self.failed)
        self._worker.finished.connect(self._on_finished)
        self._thread.start()

    def cancel(self) -> None:
        if self.runner is not None:
            self.runner.cancel()

    def stop(self, timeout_ms: int = 60_000) -> bool:
        """Cancel and wait for the thread to end (closing the window); True when it ended."""
        if self._thread is None:
            return True
        self.cancel()
        thread = self._thread
        thread.quit()
        ok = thread.wait(timeout_ms)
        return bool(ok)

    def _on_update(self, update: RunUpdate) -> None:
        self._pending = update
        if not self._flush.isActive():
            self._flush.start()

    def _apply_latest(self) -> None:
        update, self._pending = self._pending, None
        if update is not None:
            self.updated.emit(update)

    def _on_finished(self, final: RunUpdate | None) -> None:
        self._pending = None
        self._flush.stop()
        thread, self._thread, self._worker = self._thread, None, None
        if thread is not None:
            thread.quit()
            thread.wait()
        self.finished.emit(final)
