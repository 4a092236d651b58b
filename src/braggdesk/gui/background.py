"""Work that must not run on the GUI thread (rasterizing structures, resampling a dose, DVHs), done in a thread.

``Background.submit(fn, on_done)`` runs ``fn()`` as a superqt ``FunctionWorker``
(gui/threads.py) and calls ``on_done(result)`` back on the GUI thread (its queued
``returned`` signal carries it across); an exception goes to ``on_error(message)``
instead.  Tasks run one after another in the order given (a thread pool of one
thread, not Qt's global pool), so a later task sees what an earlier one produced.
``tag`` lets a new request make an older one of the same kind stale (its answer is
dropped, and it is not even started if it has not started yet), as napari's slicer
does for slices.  ``wait()`` lets tests and ``--screenshot`` wait until everything
queued has landed; ``shutdown()`` waits for the task running now and drops the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PySide6 import QtCore

from .threads import FunctionTask, failure_message, serial_pool, start_on

_STALE = object()  # what a task returns when it was made stale before it started


@dataclass
class _Task:
    worker: FunctionTask
    on_done: Callable[[Any], None]
    on_error: Callable[[str], None] | None
    stale: Callable[[], bool]


class Background(QtCore.QObject):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = serial_pool(self, "braggdesk-background")
        self._tasks: dict[QtCore.QObject, _Task] = {}  # by the worker's signals object (the sender of its signals)
        self._pending = 0
        self._closed = False
        self._generation: dict[str, int] = {}

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[str], None] | None = None, tag: str | None = None) -> None:
        self._pending += 1
        generation = None
        if tag is not None:
            generation = self._generation[tag] = self._generation.get(tag, 0) + 1

        def stale() -> bool:
            return tag is not None and self._generation.get(tag) != generation

        def job() -> Any:
            return _STALE if stale() else fn()

        worker = FunctionTask(job)
        self._tasks[worker.signals] = _Task(worker, on_done, on_error, stale)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        start_on(self._pool, worker)

    def _land(self, callback: Callable[[Any], None] | None, payload: Any) -> None:
        self._pending -= 1
        if callback is not None and not self._closed:
            callback(payload)

    def _on_returned(self, result: Any) -> None:
        task = self._tasks.get(self.sender())
        if task is not None:
            self._land(None if result is _STALE or task.stale() else task.on_done, result)

    def _on_errored(self, exc: Exception) -> None:
        task = self._tasks.get(self.sender())
        if task is not None:
            self._land(task.on_error, failure_message(exc))

    def _on_finished(self) -> None:
        self._tasks.pop(self.sender(), None)  # the worker (and what its function holds) is let go

    def wait(self, timeout_ms: int = 120_000) -> bool:
        """Process events until every task has landed (True) or the time is up (False)."""
        deadline = QtCore.QDeadlineTimer(timeout_ms)
        while self._pending and not deadline.hasExpired():
            QtCore.QCoreApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
            QtCore.QThread.msleep(2)
        return not self._pending

    def shutdown(self) -> None:
        """Wait for the task running now, drop the rest; nothing lands after this."""
        self._closed = True
        self._pool.clear()
        self._pool.waitForDone()
