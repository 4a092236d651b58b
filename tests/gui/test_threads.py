"""The GUI's worker threads (superqt workers on pools of their own) without a window.

What gui/threads.py changes from superqt's defaults (no process-wide warning capture, a
generator's RuntimeError is an error), and the contracts the window relies on: the run
controller (latest update wins, cancel before the runner exists, partial result after a
failure), the step controller (stop keeps the result, shutdown drops everything) and the
background queue (in order, tag staleness, errors with their type, shutdown).
"""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("superqt")

from PySide6 import QtCore  # noqa: E402

from braggdesk.errors import BraggdeskError  # noqa: E402
from braggdesk.gui.threads import FunctionTask, GeneratorTask, failure_message, start_on  # noqa: E402


def _collect(qtbot, worker, *signals):
    seen = []
    for name in signals:
        getattr(worker, name).connect(lambda *args, name=name: seen.append((name, *args)))
    return seen


def test_overlapping_workers_leave_the_warning_state_alone(qtbot):
    """superqt's own run() swaps warnings.showwarning per worker; two overlapping workers left it swapped."""
    shown, filters = warnings.showwarning, list(warnings.filters)
    pool = QtCore.QThreadPool()
    pool.setMaxThreadCount(2)
    first_running, second_running = threading.Event(), threading.Event()

    def first():  # starts first, ends while the second still runs
        first_running.set()
        assert second_running.wait(5)

    def second():
        second_running.set()
        time.sleep(0.2)

    workers = [FunctionTask(first), FunctionTask(second)]
    start_on(pool, workers[0])
    assert first_running.wait(5)
    start_on(pool, workers[1])
    assert pool.waitForDone(10_000)
    assert warnings.showwarning is shown and warnings.filters == filters


def test_a_runtime_error_in_a_generator_is_an_error_and_the_worker_finishes(qtbot):
    def gen():
        yield 1
        raise RuntimeError("a CUDA driver error, say")

    worker = GeneratorTask(gen)
    seen = _collect(qtbot, worker, "yielded", "returned", "errored", "finished")
    pool = QtCore.QThreadPool()
    with qtbot.waitSignal(worker.finished, timeout=5_000):
        start_on(pool, worker)
    assert [s[0] for s in seen] == ["yielded", "errored", "finished"]
    assert isinstance(seen[1][1], RuntimeError)


def test_failure_messages_name_the_type_and_start_at_the_failing_code(qtbot):
    def compute():
        return np.zeros(2)[5]

    worker = FunctionTask(compute)
    errors = []
    worker.errored.connect(errors.append)
    with qtbot.waitSignal(worker.finished, timeout=5_000):
        start_on(QtCore.QThreadPool(), worker)
    message = failure_message(errors[0])
    assert message.startswith("IndexError: index 5 is out of bounds")
    frames = message.split("Traceback (most recent call last):")[1]
    assert frames.strip().splitlines()[0].endswith("in compute")  # not superqt's or gui/threads.py's frames
    assert "_qthreading.py" not in frames and "gui/threads.py" not in frames
    assert failure_message(BraggdeskError("no GPU")) == "no GPU"
