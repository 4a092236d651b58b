"""How responsive the workstation stays while the demo case runs: longest event-loop stall, Start to first dose.

A 5 ms QTimer records the gaps between its ticks (the longest gap is the longest time
the event loop could not react); the window's own timings give Start -> first dose on
screen.  Run under Xvfb (``xvfb-run -a``) or with QT_QPA_PLATFORM=offscreen and
VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow:

    python benchmarks/gui_responsiveness.py --spacing 2 --primaries 100000 [--runner local|dask] [--profile] [--stalls]

``--profile`` prints where the GUI thread spent its time (cProfile of the main thread only).
``--stalls`` samples the GUI thread's Python stack every 2 ms from another thread and, for
each gap over 30 ms, prints the frames seen during it (the code that held the loop, or
"waiting for the GIL" when the GUI thread sat in the event loop's C++ while others ran).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import sys
import threading
import time
import traceback

import numpy as np


class StackSampler:
    """Samples the main thread's innermost frames every 2 ms (a thread of its own; needs the GIL to look)."""

    def __init__(self, period_s: float = 0.002):
        self.samples: list[tuple[float, str]] = []
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(period_s,), daemon=True)
        self._thread.start()

    def _loop(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            frame = sys._current_frames().get(self._main)
            stack = traceback.extract_stack(frame, limit=12) if frame is not None else []
            where = " < ".join(f"{f.name}({f.filename.rsplit('/', 1)[-1]}:{f.lineno})" for f in reversed(stack[-5:]))
            self.samples.append((time.perf_counter(), where))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, ticks: list[float], threshold_s: float) -> None:
        from collections import Counter

        for a, b in zip(ticks, ticks[1:]):
            if b - a < threshold_s:
                continue
            seen = Counter(w for t, w in self.samples if a < t < b)
            print(f"gap {1000 * (b - a):.0f} ms at +{a - ticks[0]:.2f} s; {sum(seen.values())} samples", file=sys.stderr)
            for where, n in seen.most_common(4):
                print(f"   {n:3d}x {where}", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spacing", type=float, default=2.0)
    p.add_argument("--primaries", type=int, default=100_000)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--runner", default="local")
    p.add_argument("--target", default="", help="runner target, e.g. 'local:2' for a Dask LocalCluster of 2")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--live-3d-interval", type=float, default=None,
                   help="seconds between live 3D dose surfaces (default: the window's choice, which is at the end "
                        "only on a software renderer; inf: at the end only)")
    p.add_argument("--stalls", action="store_true", help="print what the GUI thread did during each gap > 30 ms")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()

    from PySide6 import QtCore, QtWidgets

    from braggdesk.gui.main_window import MainWindow
    from braggdesk.gui.run_panel import FIRST_LOOK_PRIMARIES
    from braggdesk.model import SimulationSettings

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    settings = QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, "braggdesk-bench")
    w = MainWindow(settings=settings)
    w.resize(1400, 900)
    if args.live_3d_interval is not None:
        w.live_3d_interval_s = args.live_3d_interval
    w.show()
    app.processEvents()
    t_load = time.perf_counter()
    w.open_demo(args.spacing)
    w.wait_for_background()
    load_s = time.perf_counter() - t_load

    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    profiler = cProfile.Profile() if args.profile else None
    done = {}

    def finished(entry) -> None:
        done["entry"] = entry
        QtCore.QTimer.singleShot(300, app.quit)  # keep probing through the final redraw

    w.runFinished.connect(finished)
    sampler = StackSampler() if args.stalls else None
    timer.start()
    app.processEvents()
    if profiler:
        profiler.enable()
    ok = w.start_run(SimulationSettings(primaries=args.primaries, batches=args.batches, seed=1,
                                        first_batch_primaries=FIRST_LOOK_PRIMARIES), args.runner,
                     args.target)
    if not ok:
        print("could not start:", [b.text() for b in w.error_dialogs], file=sys.stderr)
        return 2
    app.exec()
    if profiler:
        profiler.disable()
    timer.stop()
    if sampler:
        sampler.stop()
        sampler.report(ticks, threshold_s=0.030)
    gaps = np.diff(ticks) * 1000 if len(ticks) > 1 else np.array([np.nan])
    t = w.timings
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
        "spacing_mm": args.spacing, "shape": list(w.session.ct.shape), "primaries": args.primaries,
        "batches": args.batches, "runner": args.runner,
        "load_s": round(load_s, 2),
        "longest_stall_ms": round(float(np.nanmax(gaps)), 1),
        "p99_gap_ms": round(float(np.nanpercentile(gaps, 99)), 1),
        "gaps_over_50ms": int((gaps > 50).sum()),
        "start_to_first_dose_s": round(t.get("first_dose", np.nan) - t["start"], 3),
        "run_s": round(t.get("done", np.nan) - t["start"], 2),
        "live_updates": w.live_updates,
        "live_3d_interval_s": w.live_3d_interval(),
        "opengl": w.view3d._renderer_name,
        "renders_3d_ms": [round(1000 * t) for t in w.view3d.render_seconds],
        "result_primaries": done["entry"].result.primaries if done.get("entry") else None,
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
