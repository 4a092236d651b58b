"""A fixture that builds the main window and tears it down cleanly (threads, VTK) before Xvfb goes."""

from __future__ import annotations

import gc

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("vtk")
pytest.importorskip("pytestqt")


@pytest.fixture
def make_window(qtbot, tmp_path):
    from PySide6 import QtCore, QtWidgets

    from braggdesk.gui.main_window import MainWindow

    windows = []

    def make():
        settings = QtCore.QSettings(str(tmp_path / "braggdesk.ini"), QtCore.QSettings.Format.IniFormat)
        w = MainWindow(settings=settings)
        w.resize(1200, 800)
        w.show()
        qtbot.waitExposed(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        qtbot.wait(20)
        w.close()
        assert not w.controller.running, "the run thread outlived the window"
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    QtWidgets.QApplication.processEvents()
    windows.clear()
    gc.collect()
