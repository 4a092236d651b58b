"""The GUI's worker threads: superqt's workers, each kind of work on a thread pool of its own.

The run (gui/run_thread.py), the planning and robustness steps (gui/planning_worker.py) and the
background tasks (gui/background.py) are superqt ``GeneratorWorker`` / ``FunctionWorker`` /
``WorkerBase`` QRunnables; their signals (``yielded``, ``returned``, ``errored``, ``finished``)
reach the GUI thread queued.  Three things differ from superqt's ``worker.start()``, each for a
reason:

* **A pool per kind of work, one thread each** (:func:`serial_pool`, :func:`start_on`), not Qt's
  global pool: that one has as many threads as cores (one on a one-core machine), so a run, a
  planning step and a background task could wait for each other; and background tasks must run one
  after another in the order given.
* **No warning capture** (:class:`_PlainRun`): superqt's ``WorkerBase.run`` wraps the work in
  ``warnings.catch_warnings()`` and points ``warnings.showwarning`` at its ``warned`` signal.  That is
  process-wide state (``catch_warnings`` is not thread-safe): two workers whose lifetimes overlap
  without nesting (a background task that starts before a run and ends during it) leave the
  filters and ``showwarning`` of the one that ended first in place for good, so every later warning
  in the program goes to a finished worker's signal, or raises "Signal source has been deleted".
  Warnings from these threads go where any thread's go, as before superqt.
* **A RuntimeError is an error**: superqt's ``GeneratorWorker.work`` returns a RuntimeError raised by
  the generator instead of raising it (it takes it for a deleted Qt object), and ``run`` then ends
  with neither ``errored`` nor ``finished``; a controller waiting for ``finished`` would wait for ever.

:func:`failure_message` turns an exception from a worker into the message the GUI shows: our own
errors as they are, anything else with its type and a short traceback (for the bug report).
"""

from __future__ import annotations

import inspect
import threading
import traceback
from typing import Any, Callable

from PySide6 import QtCore
from superqt.utils import FunctionWorker, GeneratorWorker, WorkerBase
from superqt.utils._qthreading import WorkerBaseSignals  # the base of a worker's own signals (as napari does)

from ..errors import BraggdeskError

#: frames of the worker machinery, left out of a failure's traceback
_PLUMBING = frozenset({inspect.getfile(WorkerBase), __file__})


class _PlainRun:
    """superqt's ``WorkerBase.run`` less its warning capture, raising what ``work`` hands back as an error."""

    def run(self) -> None:  # called by QThreadPool in the pool's thread
        self.started.emit()
        self._running = True  # what superqt's ``is_running`` reads
        try:
            result = self.work()
            if isinstance(result, Exception):  # GeneratorWorker hands back a generator's RuntimeError
                raise result
            if not self.abort_requested:
                self.returned.emit(result)
        except Exception as exc:  # noqa: BLE001 -- the GUI thread gets it through ``errored``
            self.errored.emit(exc)
        self._running = False
        self.finished.emit()


class FunctionTask(_PlainRun, FunctionWorker):
    """``fn(*args, **kwargs)`` in a pool's thread: ``returned`` its result or ``errored``, then ``finished``."""


class GeneratorTask(_PlainRun, GeneratorWorker):
    """A generator in a pool's thread: ``yielded`` for each item, ``returned`` its return value, then ``finished``."""


class ProgressSignals(WorkerBaseSignals):
    progressed = QtCore.Signal(object)


class ReportingTask(_PlainRun, WorkerBase):
    """``fn(report, stop)`` in a pool's thread, for work that reports progress through a callback.

    ``report(item)`` emits ``progressed``; ``stop`` is a threading.Event the work checks now and
    then.  ``quit()`` sets it too (superqt's abort: ``returned`` is then not emitted).
    """

    def __init__(self, fn: Callable[[Callable[[Any], None], threading.Event], Any], stop: threading.Event):
        super().__init__(SignalsClass=ProgressSignals)
        self._fn = fn
        self.stop = stop

    def work(self) -> Any:
        return self._fn(self.signals.progressed.emit, self.stop)

    def quit(self) -> None:
        super().quit()
        self.stop.set()


def serial_pool(parent: QtCore.QObject, name: str) -> QtCore.QThreadPool:
    """A thread pool of one thread: what it is given runs one task at a time, in order."""
    pool = QtCore.QThreadPool(parent)
    pool.setObjectName(name)
    pool.setMaxThreadCount(1)
    return pool


def start_on(pool: QtCore.QThreadPool, worker: WorkerBase) -> None:
    """Start ``worker`` on ``pool`` (superqt's ``worker.start()`` uses the global pool).

    The caller keeps a reference to the worker until its ``finished`` lands; the pool never
    deletes it (Python owns it).
    """
    worker.setAutoDelete(False)
    pool.start(worker)


def failure_message(exc: BaseException, plain: tuple[type[BaseException], ...] = (BraggdeskError,)) -> str:
    """What a dialog says about ``exc``: the message of a ``plain`` error, else its type and a short traceback."""
    if isinstance(exc, plain):
        return str(exc)
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _PLUMBING:
        tb = tb.tb_next
    return f"{type(exc).__name__}: {exc}\n\n{''.join(traceback.format_exception(type(exc), exc, tb, limit=4))}"
