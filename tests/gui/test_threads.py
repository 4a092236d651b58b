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
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("superqt")

from PySide6 import QtCore  # noqa: E402

from braggdesk.compute.runner import Runner  # noqa: E402
from braggdesk.errors import BraggdeskError  # noqa: E402
from braggdesk.gui.background import Background  # noqa: E402
from braggdesk.gui.planning_worker import StepController  # noqa: E402
from braggdesk.gui.run_thread import RunController  # noqa: E402
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


# -- the run controller ------------------------------------------------------------------------
class _FakeResult:
    def __init__(self, primaries):
        self.primaries = primaries
        self.max_dose_gy = float(primaries)


class _FakeRunner(Runner):
    """Batches on demand: ``run()`` yields a Progress per batch until ``batches`` or a cancel."""

    kind = "fake"

    def __init__(self, batches=5, fail_after=None, error=RuntimeError, delay_s=0.0):
        self._cancel = threading.Event()
        self.batches, self.fail_after, self.error, self.delay_s = batches, fail_after, error, delay_s
        self.done = 0

    def _start(self):  # pragma: no cover -- run() is overridden
        raise NotImplementedError

    def _snapshots(self):  # pragma: no cover
        raise NotImplementedError

    @property
    def device(self):
        return "fake"

    def run(self):
        for _ in range(self.batches):
            if self._cancel.is_set():
                return
            time.sleep(self.delay_s)
            if self.fail_after is not None and self.done == self.fail_after:
                raise self.error("the node went away")
            self.done += 1
            yield SimpleNamespace(primaries=100 * self.done)  # stands in for a Progress

    def result(self):
        return _FakeResult(100 * self.done)


def _controller_run(qtbot, controller, source, post=None):
    seen = {"started": [], "updated": [], "analysed": [], "failed": []}
    for name, values in seen.items():
        getattr(controller, name).connect(values.append)
    with qtbot.waitSignal(controller.finished, timeout=10_000) as done:
        controller.start(source, post)
    return seen, done.args[0]


def test_the_run_streams_updates_then_its_analysed_final(qtbot):
    c = RunController(min_interval_s=0.0)
    runner = _FakeRunner(batches=4)
    seen, final = _controller_run(qtbot, c, runner, post=lambda result, is_final: ("dvh", result.primaries))
    assert seen["started"] == [runner] and not seen["failed"]
    assert seen["updated"] and all(u.extra is None and not u.final for u in seen["updated"])
    assert all(u.extra == ("dvh", u.result.primaries) for u in seen["analysed"])
    assert final.final and final.result.primaries == 400 and final.extra == ("dvh", 400)
    assert not c.running and c.runner is None


def test_the_latest_update_wins(qtbot):
    """The GUI thread busy while batches come: the updates in between are dropped, not queued."""
    c = RunController(min_interval_s=0.0)
    runner = _FakeRunner(batches=30)
    updates = []
    c.updated.connect(lambda u: (updates.append(u.progress.primaries), time.sleep(0.05)))
    with qtbot.waitSignal(c.finished, timeout=10_000):
        c.start(runner)
    assert 1 <= len(updates) < 30 and updates == sorted(updates)


def test_cancel_before_the_runner_exists_cancels_it_once_built(qtbot):
    built = threading.Event()
    go = threading.Event()
    runner = _FakeRunner(batches=100, delay_s=0.01)

    def source():
        built.set()
        assert go.wait(5)
        return runner

    c = RunController(min_interval_s=0.0)
    with qtbot.waitSignal(c.finished, timeout=10_000) as done:
        c.start(source)
        assert built.wait(5) and c.runner is None
        c.cancel()
        go.set()
    assert runner._cancel.is_set() and runner.done == 0 and done.args[0] is None


def test_a_failed_run_says_why_and_keeps_the_partial_result(qtbot):
    c = RunController(min_interval_s=0.0)
    seen, final = _controller_run(qtbot, c, _FakeRunner(batches=6, fail_after=3, error=RuntimeError))
    assert len(seen["failed"]) == 1 and seen["failed"][0].startswith("RuntimeError: the node went away")
    assert final is not None and final.result.primaries == 300 and final.extra is None
    seen, final = _controller_run(qtbot, c, _FakeRunner(batches=6, fail_after=0, error=BraggdeskError))
    assert seen["failed"] == ["the node went away"] and final is None


def test_stopping_a_run_waits_for_it_and_drops_what_it_still_sends(qtbot):
    c = RunController(min_interval_s=0.0)
    runner = _FakeRunner(batches=1000, delay_s=0.005)
    finished = []
    c.finished.connect(finished.append)
    with qtbot.waitSignal(c.updated, timeout=10_000):
        c.start(runner)
    assert c.stop()
    assert not c.running and runner._cancel.is_set() and c._pool.activeThreadCount() == 0
    qtbot.wait(50)
    assert finished == []


# -- the step controller -----------------------------------------------------------------------
def test_a_step_streams_its_latest_progress_and_stop_keeps_its_result(qtbot):
    c = StepController()
    progressed = []
    c.progressed.connect(lambda name, item: progressed.append((name, item)))

    def step(report, stop):
        n = 0
        while not stop.is_set():
            n += 1
            report(n)
            time.sleep(0.001)
        return f"{n} iterations"

    c.start("optimise", step)
    assert c.running and c.name == "optimise"
    qtbot.waitUntil(lambda: len(progressed) >= 2, timeout=5_000)
    with qtbot.waitSignal(c.finished, timeout=5_000) as done:
        c.stop()
    name, ok, result = done.args
    assert name == "optimise" and ok and result.endswith("iterations")
    assert progressed[-1] == ("optimise", int(result.split()[0]))  # the last progress came before the result
    assert not c.running and c.name is None


def test_a_failing_step_reports_once_and_shutdown_drops_a_running_one(qtbot):
    c = StepController()
    failed = []
    c.failed.connect(lambda name, message: failed.append((name, message)))

    def bad(report, stop):
        raise ValueError("weights must be positive")

    with qtbot.waitSignal(c.finished, timeout=5_000) as done:
        c.start("dij", bad)
    assert done.args == ["dij", False, None] and failed == [("dij", "weights must be positive")]

    finished = []
    c.finished.connect(lambda *args: finished.append(args))
    started = threading.Event()

    def endless(report, stop):
        started.set()
        while not stop.wait(0.01):
            report("tick")

    c.start("final", endless)
    assert started.wait(5)
    assert c.shutdown() and not c.running
    qtbot.wait(50)
    assert finished == []


# -- the background queue ----------------------------------------------------------------------
def test_background_tasks_run_in_order_and_stale_ones_are_dropped(qtbot):
    b = Background()
    order, landed, errors = [], [], []
    gate = threading.Event()
    b.submit(lambda: (gate.wait(5), order.append("first"))[1], lambda _: landed.append("first"))
    b.submit(lambda: order.append("second"), lambda _: landed.append("second"))
    b.submit(lambda: order.append("old analysis"), lambda _: landed.append("old analysis"), tag="analysis")
    b.submit(lambda: order.append("analysis"), lambda _: landed.append("analysis"), tag="analysis")
    b.submit(lambda: 1 / 0, lambda _: landed.append("never"), errors.append)
    b.submit(lambda: (_ for _ in ()).throw(BraggdeskError("no CT")), lambda _: None, errors.append)
    assert b.busy
    gate.set()
    assert b.wait(10_000) and not b.busy
    assert order == ["first", "second", "analysis"]  # the stale one never ran
    assert landed == ["first", "second", "analysis"]
    assert errors[0].startswith("ZeroDivisionError: division by zero") and errors[1] == "no CT"


def test_background_shutdown_waits_for_the_running_task_and_drops_the_rest(qtbot):
    b = Background()
    ran, landed = [], []
    running = threading.Event()

    def slow():
        running.set()
        time.sleep(0.2)
        ran.append("slow")

    b.submit(slow, landed.append)
    b.submit(lambda: ran.append("queued"), landed.append)
    assert running.wait(5)
    b.shutdown()
    assert ran == ["slow"]
    qtbot.wait(50)
    assert landed == []
