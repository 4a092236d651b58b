"""The RBE settings the views use when they show the RBE-weighted dose: model, alpha/beta, fractions.

Why a panel of its own: the display toggle (gui/display_panel.py, "Show") picks the quantity; what the
RBE-weighted dose means (McNamara or Wedenberg or a constant 1.1, the alpha/beta of the photon
reference, per structure, and how many fractions the dose stands for) is a clinical choice that the
slice views, 3D, DVHs and statistics must all share.  The panel only edits an
:class:`~braggdesk.workflow.rbe_dose.RbeSettings`; the dose itself comes from workflow/rbe_dose.py.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..analysis.rbe import RBE_MODELS
from ..errors import BraggdeskError
from ..workflow.rbe_dose import MODEL_LABELS, RbeSettings, parse_structure_alpha_beta


class RbePanel(QtWidgets.QGroupBox):
    """Emits ``changed(RbeSettings)`` on every valid edit; an invalid one shows its message under the form."""

    changed = QtCore.Signal(object)  # RbeSettings

    def __init__(self, settings: RbeSettings | None = None, parent=None):
        super().__init__("RBE-weighted dose", parent)
        self._settings = settings or RbeSettings()
        form = QtWidgets.QFormLayout(self)
        self.model = QtWidgets.QComboBox()
        for m in RBE_MODELS:
            self.model.addItem(MODEL_LABELS[m], m)
        self.alpha_beta = QtWidgets.QDoubleSpinBox()
        self.alpha_beta.setRange(0.1, 100.0)
        self.alpha_beta.setDecimals(1)
        self.alpha_beta.setSuffix(" Gy")
        self.per_structure = QtWidgets.QLineEdit()
        self.per_structure.setPlaceholderText("Rectum=3, PTV=10")
        self.fractions = QtWidgets.QSpinBox()
        self.fractions.setRange(1, 100)
        self.fractions.setToolTip("how many fractions the shown dose stands for (1: one fraction, a DICOM plan's dose)")
        self.alpha_beta.setToolTip("alpha/beta of the photon reference for voxels in no listed structure")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b00")
        form.addRow("Model", self.model)
        form.addRow("\u03b1/\u03b2 default", self.alpha_beta)
        form.addRow("\u03b1/\u03b2 by structure", self.per_structure)
        form.addRow("Fractions", self.fractions)
        form.addRow(self.message)
        self.set_settings(self._settings)
        self.model.currentIndexChanged.connect(self._emit)
        self.alpha_beta.valueChanged.connect(self._emit)
        self.per_structure.editingFinished.connect(self._emit)
        self.fractions.valueChanged.connect(self._emit)

    def settings(self) -> RbeSettings:
        """The settings as the form reads; RbeError (its message names the value) if they cannot be used."""
        return RbeSettings(self.model.currentData(), self.alpha_beta.value(),
                           parse_structure_alpha_beta([self.per_structure.text()]), self.fractions.value())

    def set_settings(self, settings: RbeSettings) -> None:
        with QtCore.QSignalBlocker(self.model), QtCore.QSignalBlocker(self.alpha_beta), \
                QtCore.QSignalBlocker(self.per_structure), QtCore.QSignalBlocker(self.fractions):
            self.model.setCurrentIndex(RBE_MODELS.index(settings.model))
            self.alpha_beta.setValue(settings.alpha_beta_gy)
            self.per_structure.setText(", ".join(f"{n}={v:g}" for n, v in settings.alpha_beta_by_structure))
            self.fractions.setValue(settings.fractions)
        self._settings = settings

    def _emit(self, *_) -> None:
        try:
            settings = self.settings()
        except BraggdeskError as exc:
            self.message.setText(str(exc))
            return
        self.message.setText("")
        if settings != self._settings:
            self._settings = settings
            self.changed.emit(settings)
