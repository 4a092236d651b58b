"""``braggdesk gui``: the workstation window; with --screenshot it loads, optionally runs, saves and exits."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from .common import add_run_options, settings_from_args, write_json
from .options import non_negative_float, positive_float


def register(sub) -> None:
    g = sub.add_parser("gui", help="the workstation window (Qt)")
    g.add_argument("paths", nargs="*", type=Path, help="folders or files to open (CT, RTSTRUCT, RTPLAN, RTDOSE)")
    g.add_argument("--demo", action="store_true", help="open the built-in demo case")
    g.add_argument("--demo-spacing", type=positive_float, default=2.0, help="voxel size of the demo phantom in mm")
    g.add_argument("--run", action="store_true", help="start a calculation once loaded")
    g.add_argument("--screenshot", type=Path, help="save the window as PNG (after --run finishes) and exit")
    g.add_argument("--size", default="1400x900", help="window size WxH (default 1400x900)")
    g.add_argument("--live-3d-interval", type=non_negative_float, metavar="SECONDS",
                   help="redraw the 3D dose surfaces during a run at most this often (0: only at the end); "
                        "default 2 s with a GPU's OpenGL, only at the end with a software renderer")
    add_run_options(g, default_primaries=100_000)
    g.set_defaults(func=run_gui)


def run_gui(args) -> int:
    from PySide6 import QtCore, QtWidgets

    from ..gui.main_window import MainWindow

    settings = settings_from_args(args, first_look=True)  # as the run panel does: an early first look
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = MainWindow()
    if args.live_3d_interval is not None:
        window.live_3d_interval_s = math.inf if args.live_3d_interval <= 0 else args.live_3d_interval
    w, h = (int(v) for v in args.size.lower().split("x"))
    window.resize(w, h)
    window.run_panel.apply_settings(settings)
    window.show()
    app.processEvents()
    if args.demo:
        window.open_demo(args.demo_spacing)
    ok = window.open_paths(args.paths)
    window.wait_for_background()  # structures and imported doses on screen before a run or a screenshot
    exit_code = {"code": 0 if ok else 2}
    if args.screenshot is not None and not ok:
        for box in window.error_dialogs:
            print(f"braggdesk gui: error: {box.text()}", file=sys.stderr)

    def finish(entry=None) -> None:
        if args.screenshot is not None:
            window.wait_for_background()  # the final DVHs
            app.processEvents()
            window.save_png(args.screenshot)
            print(f"wrote {args.screenshot}", file=sys.stderr)
            if args.json and entry is not None and entry.result is not None:
                r = entry.result
                write_json({"primaries": r.primaries, "max_dose_gy": r.max_dose_gy, "partial": r.partial,
                            "mean_relative_uncertainty": r.mean_relative_uncertainty, "device": r.device,
                            "screenshot": str(args.screenshot), "timings_s": {
                                k: v - window.timings["start"] for k, v in window.timings.items()}}, args.json)
            window.close()
            app.quit()

    if args.run:
        def failed(message: str) -> None:  # e.g. no GPU: the runner is built in the run's thread
            print(f"braggdesk gui: error: {message.splitlines()[0] if message else 'the run failed'}", file=sys.stderr)
            exit_code["code"] = 2

        window.controller.failed.connect(failed)
        window.runFinished.connect(finish)
        if not window.start_run(settings):
            for box in window.error_dialogs:
                print(f"braggdesk gui: error: {box.text()}", file=sys.stderr)
            exit_code["code"] = 2
            if args.screenshot is not None:
                QtCore.QTimer.singleShot(0, finish)
    elif args.screenshot is not None:
        QtCore.QTimer.singleShot(200, finish)
    app.exec()
    return exit_code["code"]
