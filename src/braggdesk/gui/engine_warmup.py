"""The compiled engine made ready in the background when the window opens.

Loading the kernel from its disk cache takes about half a second, compiling it on a computer's first
run tens of seconds; done at start-up in a thread of its own, the user's first Start shows a dose at
once (a run that starts before it is ready simply waits for it).

A daemon ``threading.Thread``, not a superqt worker like the GUI's other threads (gui/threads.py):
a compile cannot be interrupted, and a worker is a QRunnable in a QThreadPool, which Qt waits for
when the application ends (the global pool in QCoreApplication's destructor, a pool of our own in
its destructor).  Closing the window during a first-run compile would then keep the program alive,
windowless, until the compile was done; a daemon thread lets it exit at once.
"""

from __future__ import annotations

import threading

from PySide6 import QtCore


class EngineWarmUp(QtCore.QObject):
    finished = QtCore.Signal(str)  # a line for the log

    def start(self) -> None:
        threading.Thread(target=self._work, name="braggdesk-engine-warm-up", daemon=True).start()

    def _work(self) -> None:
        from ..engine.warmup import kernel_is_cached, warm_up  # noqa: PLC0415

        try:
            cached = kernel_is_cached()
            seconds = warm_up()
        except Exception as exc:  # noqa: BLE001 -- a run will report the same problem with its context
            self.finished.emit(f"engine: could not be prepared in advance ({type(exc).__name__}: {exc})")
            return
        how = "loaded from the cache" if cached else "compiled for this computer (once; cached from now on)"
        self.finished.emit(f"engine: {how} in {seconds:.1f} s")
