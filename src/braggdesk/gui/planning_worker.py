"""One planning step at a time in a worker thread, streaming its progress to the GUI (latest wins).

The planning steps (Dij, optimiser, final dose, export) are plain functions
``step(report, stop) -> result``: ``report(item)`` hands the GUI a progress item
(a DijProgress, an optimiser iteration with its DVHs, a run Progress) and
``stop`` is a threading.Event the step checks between blocks, iterations or
batches.  This controller runs one in a QThread, as gui/run_thread.py runs a Runner,
but for any step: it keeps only the newest progress item and delivers it once the
event loop is free, so a fast optimiser never queues up redraws; errors come back
as one message (the type and a short traceback for a bug), the result through
``finished``.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6 import QtCore

from ..errors import BraggdeskError

#: a planning step: (report, stop) -> its result
Step = Callable[[Callable[[Any], None], threading.Event], Any]


class _StepWorker(QtCore.QObject):
    progressed = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    finished = QtCore.Signal(object)  # (ok, result)

    def __init__(self, step: Step, stop: threading.Event):
        super().__init__()
        self.step = step
        self.stop = stop

    @QtCore.Slot()
    def work(self) -> None:
        ok, result = False, None
        try:
            result = self.step(self.progressed.emit, self.stop)
            ok = True
        except BraggdeskError as exc:
            self.failed.emit(str(exc))
        except ValueError as exc:  # the model's dataclasses say what is wrong with a value
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 -- shown in a dialog, with the type for the bug report
            self.failed.emit(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=4)}")
        finally:
            self.finished.emit((ok, result))


class StepController(QtCore.QObject):
    """Owns the thread of the running step; ``name`` says which one (None: idle)."""

    progressed = QtCore.Signal(str, object)  # step name, newest progress item
    failed = QtCore.Signal(str, str)  # step name, message
    finished = QtCore.Signal(str, bool, object)  # step name, ok, result (None when it failed)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.name: str | None = None
        self._thread: QtCore.QThread | None = None
        self._worker: _StepWorker | None = None
        self._stop = threading.Event()
        self._pending: list[Any] = []
        self._flush = QtCore.QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._deliver)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, name: str, step: Step) -> None:
        if self.running:
            raise RuntimeError(f"the planning step {self.name!r} is still running")
        self.name = name
        self._stop = threading.Event()
        self._thread = QtCore.QThread()
        self._thread.setObjectName(f"braggdesk-planning-{name}")
        self._worker = _StepWorker(step, self._stop)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.work)
        self._worker.progressed.connect(self._on_progress)
        self._worker.failed.connect(self._on_failed)
        self._worker.finished.connect(self._on_finished)
        self._thread.start()

    def stop(self) -> None:
        """Ask the running step to stop at its next check (what it made so far is kept)."""
        self._stop.set()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop and wait for the thread (closing the window); nothing it still sends is delivered."""
        thread = self._thread
        if thread is None:
            return True
        self.stop()
        thread.quit()  # the thread's event loop ends once the step returns (after its next check of ``stop``)
        if not thread.wait(timeout_ms):
            return False
        self._pending.clear()
        self._flush.stop()
        self._thread = self._worker = None
        self.name = None
        return True

    def _current(self) -> bool:
        return self._worker is not None and self.sender() is self._worker

    def _on_progress(self, item: Any) -> None:
        if self._current():
            self._pending[:] = [item]
            if not self._flush.isActive():
                self._flush.start()

    def _deliver(self) -> None:
        if self._pending and self.name is not None:
            item = self._pending.pop()
            self.progressed.emit(self.name, item)

    def _on_failed(self, message: str) -> None:
        if self._current():
            self.failed.emit(self.name or "", message)

    def _on_finished(self, outcome: tuple[bool, Any]) -> None:
        if not self._current():
            return
        self._deliver()  # the last progress before the result
        self._flush.stop()
        thread, name = self._thread, self.name or ""
        self._thread = self._worker = None
        self.name = None
        if thread is not None:
            thread.quit()
            thread.wait()
        ok, result = outcome
        self.finished.emit(name, ok, result)
