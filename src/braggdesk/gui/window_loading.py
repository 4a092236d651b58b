"""How things get into the window: folders and files, the demo case, recent paths, drag and drop.

A mixin of :class:`~.main_window.MainWindow`.  What a folder holds and how it joins what is
open are workflow/ rules (workspace.py, session.py); here they are called, their slow part
(resampling doses, rasterizing structures) goes to the background, and errors become dialogs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtGui, QtWidgets

from ..errors import BraggdeskError
from ..model import StructureMask
from ..viewers.view3d import shows_in_3d, structure_surface
from ..workflow.demo import demo_session
from ..workflow.session import DoseEntry, Session, merge_loaded, prepare_loaded
from ..workflow.workspace import Loaded, load_path

MAX_RECENT = 8


class LoadingMixin:
    # -- loading -----------------------------------------------------------------------
    def open_paths(self, paths) -> bool:
        return all([self.load_path(p) for p in paths])

    def load_path(self, path) -> bool:
        path = Path(path)
        try:
            loaded = load_path(path)
            self._merge(loaded)
        except BraggdeskError as exc:
            self.show_error("Cannot load", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 -- unexpected; still a dialog, never lost work
            self.show_error("Cannot load", f"{path}: {type(exc).__name__}: {exc}")
            return False
        self._remember(path)
        for note in loaded.notes:
            self.log_line(note)
        self.log_line(f"loaded {path}: {self.session.summary()}")
        return True

    def _merge(self, loaded: Loaded) -> None:
        """Join what was loaded (workflow/session.py: checks first, so a failure changes nothing); the slow part,
        resampling imported doses and rasterizing structures, runs in the background and lands when done."""
        merge = merge_loaded(self.session, loaded)
        for line in merge.log:
            self.log_line(line)
        self.session = merge.session
        self._show_session(new_ct=merge.new_ct)
        if merge.doses or merge.structure_sets:
            self._prepare_in_background(merge.doses, merge.structure_sets, "Cannot show the structures or doses")

    def _prepare_in_background(self, doses, structure_sets, error_title: str) -> None:
        session, ct = self.session, self.session.ct

        def prepare():  # background: doses onto the CT grid, structures rasterized with their 3D surfaces
            entries, masks = prepare_loaded(ct, doses, structure_sets)
            return entries, masks, [(m, structure_surface(m)) for m in masks if shows_in_3d(m)]

        self.background.submit(prepare, lambda out: self._land_loaded(session, *out),
                               lambda msg: self.show_error(error_title, msg))

    def _land_loaded(self, session: Session, entries: list[DoseEntry], masks: list[StructureMask],
                     surfaces: list = ()) -> None:
        if session is not self.session:  # another patient was opened meanwhile
            return
        self.view3d.add_structure_surfaces(list(surfaces))
        self.session.add_masks(masks)
        self._live_masks = list(self.session.masks)
        for entry in entries:
            self.session.add_dose(entry)
        self._show_session(new_ct=False)
        self.log_line(f"shown: {self.session.summary()}")

    def open_demo(self, spacing_mm: float = 2.0) -> None:
        """The built-in case with the structures its phantom writes (outline, slabs) and the SOBP's target."""
        self.session, case = demo_session(spacing_mm)
        self._live_masks = []
        self._show_session(new_ct=True)
        self._prepare_in_background([], list(self.session.structure_sets), "Cannot show the structures")
        self.log_line(f"demo: {case.plan.label} on the '{case.phantom.name}' phantom; {case.phantom.description}")

    def wait_for_background(self, timeout_ms: int = 120_000) -> bool:
        """Until loading work (structures, doses, DVHs) has landed: for tests and --screenshot."""
        ok = self.background.wait(timeout_ms)
        self._flush_stages()
        return ok
    # -- recent files and drag and drop -----------------------------------------------
    def recent_paths(self) -> list[str]:
        value = self.qsettings.value("recent_paths", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, path: Path) -> None:
        paths = [str(path.resolve())] + [p for p in self.recent_paths() if p != str(path.resolve())]
        self.qsettings.setValue("recent_paths", paths[:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_paths():
            self.recent_menu.addAction(p, lambda p=p: self.load_path(p))
        self.recent_menu.setEnabled(bool(self.recent_paths()))

    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        self.open_paths(paths)

    def _open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a patient folder")
        if folder:
            self.load_path(folder)
