"""Work that must not run on the GUI thread (rasterizing structures, resampling a dose, DVHs), done in a thread.

``Background.submit(fn, on_done)`` runs ``fn()`` in a worker thread and calls
``on_done(result)`` back on the GUI thread (a queued Qt signal carries it across);
an exception goes to ``on_error(message)`` instead.  Tasks run one after another in
the order given, so a later task sees what an earlier one produced.  ``tag`` lets a
new request make an older one of the same kind stale (its answer is dropped), as
napari's slicer does for slices.  ``wait()`` lets tests and ``--screenshot`` wait
until everything queued has landed.
"""

from __future__ import annotations

import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from PySide6 import QtCore

from ..errors import BraggdeskError


class Background(QtCore.QObject):
    _landed = QtCore.Signal(object)  # (callback, payload)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="braggdesk-background")
        self._pending = 0
        self._closed = False
        self._generation: dict[str, int] = {}
        self._landed.connect(self._deliver, QtCore.Qt.ConnectionType.QueuedConnection)

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

        def job() -> None:
            if stale():
                self._landed.emit((None, None))
                return
            try:
                result = fn()
            except BraggdeskError as exc:
                self._landed.emit((on_error, str(exc)))
            except Exception as exc:  # noqa: BLE001 -- shown in a dialog with the type, for the bug report
                self._landed.emit((on_error, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=4)}"))
            else:
                self._landed.emit((None if stale() else on_done, result))

        self._pool.submit(job)

    def _deliver(self, item) -> None:
        callback, payload = item
        self._pending -= 1
        if callback is not None and not self._closed:
            callback(payload)

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
        self._pool.shutdown(wait=True, cancel_futures=True)
