"""One planning step at a time in a worker thread, streaming its progress to the GUI (latest wins).

The planning steps (Dij, optimiser, final dose, export) are plain functions
``step(report, stop) -> result``: ``report(item)`` hands the GUI a progress item
(a DijProgress, an optimiser iteration with its DVHs, a run Progress) and
``stop`` is a threading.Event the step checks between blocks, iterations or
batches.  They report through a callback from deep inside the workflow layer, so
they are not generators: each runs as a superqt worker with a ``progressed``
signal (gui/threads.py, ``ReportingTask``) on a thread of this controller's own,
as gui/run_thread.py runs a Runner.  The controller keeps only the newest progress
item and delivers it once the event loop is free (superqt's ``qthrottled``,
timeout 0, latest arguments win), so a fast optimiser never queues up redraws;
errors come back as one message (the type and a short traceback for a bug), the
result through ``finished``.  Stop sets the event (the step ends at its next
check and what it made is kept); shutdown is superqt's ``quit()`` as well
(nothing the step still sends is delivered).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6 import QtCore
from superqt.utils import qthrottled

from ..errors import BraggdeskError
from .threads import ReportingTask, failure_message, serial_pool, start_on

#: a planning step: (report, stop) -> its result
Step = Callable[[Callable[[Any], None], threading.Event], Any]


class StepController(QtCore.QObject):
    """Runs one step at a time on a thread of its own; ``name`` says which one (None: idle)."""

    progressed = QtCore.Signal(str, object)  # step name, newest progress item
    failed = QtCore.Signal(str, str)  # step name, message
    finished = QtCore.Signal(str, bool, object)  # step name, ok, result (None when it failed)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.name: str | None = None
        self._pool = serial_pool(self, "braggdesk-planning")
        self._worker: ReportingTask | None = None
        self._stop = threading.Event()
        self._outcome: tuple[bool, Any] = (False, None)
        self._deliver_soon = qthrottled(self._deliver, timeout=0, leading=False, parent=self)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, name: str, step: Step) -> None:
        if self.running:
            raise RuntimeError(f"the planning step {self.name!r} is still running")
        self.name = name
        self._stop = threading.Event()
        self._outcome = (False, None)
        self._worker = worker = ReportingTask(step, self._stop)
        worker.progressed.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        start_on(self._pool, worker)

    def stop(self) -> None:
        """Ask the running step to stop at its next check (what it made so far is kept)."""
        self._stop.set()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop and wait for the step to end (closing the window); nothing it still sends is delivered."""
        if self._worker is None:
            return True
        self._worker.quit()  # sets ``stop`` too; the step ends at its next check
        if not self._pool.waitForDone(timeout_ms):
            return False
        self._deliver_soon.cancel()
        self._worker = None
        self.name = None
        return True

    def _current(self) -> bool:
        return self._worker is not None and self.sender() is self._worker.signals

    def _on_progress(self, item: Any) -> None:
        if self._current():
            self._deliver_soon(item)

    def _deliver(self, item: Any) -> None:
        if self.name is not None:
            self.progressed.emit(self.name, item)

    def _on_returned(self, result: Any) -> None:
        if self._current():
            self._outcome = (True, result)

    def _on_errored(self, exc: Exception) -> None:
        if self._current():  # the model's dataclasses say what is wrong with a value: a ValueError as it is
            self.failed.emit(self.name or "", failure_message(exc, plain=(BraggdeskError, ValueError)))

    def _on_finished(self) -> None:
        if not self._current():
            return
        self._deliver_soon.flush(restart_timer=False)  # the last progress before the result
        name, (ok, result) = self.name or "", self._outcome
        self._worker = None
        self.name = None
        self._outcome = (False, None)
        self.finished.emit(name, ok, result)
