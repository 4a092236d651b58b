"""Clinical goals as data: "PTV70 D95% >= 66.5 Gy", one definition shared by QA, robustness and planning.

Why a dataclass and a text form: physicists write goals the way the planning system shows them,
and a goal list must mean the same thing to the QA report, the robustness evaluation and the
planning report.  The text form is parsed once, here, into a :class:`ClinicalGoal` whose
metric is already understood (:class:`Metric`), so a malformed goal fails when it is read, not
half-way through an evaluation.

Metrics (what the value of a goal is):

* ``D95%``, ``D2%`` - the dose (Gy) that at least 95 % / 2 % of the structure receives;
* ``D0.03cc`` (also ``D0.03cm3``) - the dose that at least 0.03 cm3 receives;
* ``V20Gy`` - the volume receiving at least 20 Gy; ``V95%`` - at least 95 % of the
  prescription dose (the goal then needs ``prescription_gy``).  The value is in % of the
  structure, or in cm3 when the threshold's unit is ``cc`` / ``cm3``;
* ``Dmean``, ``Dmax``, ``Dmin`` - in Gy.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from braggdesk.errors import BraggdeskError

COMPARISONS = ("<=", ">=")
SIMPLE_METRICS = ("Dmean", "Dmax", "Dmin")
VOLUME_UNITS = ("%", "cm3")  # what a V metric's value (and threshold) is in


class GoalError(BraggdeskError, ValueError):
    """A clinical goal that cannot be understood or evaluated; the message names the goal."""


@dataclass(frozen=True)
class Metric:
    """A parsed metric.  ``kind``: "D" (dose at a volume), "V" (volume at a dose), "Dmean", "Dmax", "Dmin".

    For "D": ``amount`` is the volume, ``amount_unit`` "%" (of the structure) or "cm3".
    For "V": ``amount`` is the dose, ``amount_unit`` "Gy" or "%" (of the prescription).
    """

    kind: str
    amount: float = math.nan
    amount_unit: str = ""

    @property
    def value_is_dose(self) -> bool:
        return self.kind != "V"


_D_AT_VOLUME = re.compile(r"^D(?P<amount>\d+(?:\.\d*)?|\.\d+)(?P<unit>%|cc|cm3)$", re.IGNORECASE)
_V_AT_DOSE = re.compile(r"^V(?P<amount>\d+(?:\.\d*)?|\.\d+)(?P<unit>Gy|%)$", re.IGNORECASE)


def parse_metric(text: str) -> Metric:
    """``"D95%"`` -> Metric("D", 95, "%"); GoalError (without the goal's name) when it is not one we know."""
    t = text.strip()
    for name in SIMPLE_METRICS:
        if t.lower() == name.lower():
            return Metric(name)
    m = _D_AT_VOLUME.match(t)
    if m:
        unit = "%" if m["unit"] == "%" else "cm3"
        amount = float(m["amount"])
        if unit == "%" and not 0 <= amount <= 100:
            raise GoalError(f"metric {text!r}: a volume in % must lie between 0 and 100")
        return Metric("D", amount, unit)
    m = _V_AT_DOSE.match(t)
    if m:
        return Metric("V", float(m["amount"]), "%" if m["unit"] == "%" else "Gy")
    raise GoalError(f"metric {text!r} is not one of D<x>% (D95%), D<x>cc (D0.03cc), V<x>Gy (V20Gy), "
                    f"V<x>% (V95%), Dmean, Dmax, Dmin")


@dataclass(frozen=True)
class ClinicalGoal:
    """One goal on one structure: ``metric comparison threshold`` (e.g. D95% >= 66.5 Gy).

    ``threshold_unit``: "Gy" for dose metrics; "%" (of the structure) or "cm3" for V metrics
    (default "%").  ``prescription_gy``: the dose a V<x>% metric is a percentage of.
    ``name``: an optional label of the goal in reports (default: :attr:`label`).
    """

    structure: str
    metric: str
    threshold: float
    comparison: str
    threshold_unit: str = ""
    prescription_gy: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        where = f"goal {self.structure!r} {self.metric} {self.comparison} {self.threshold}"
        if not str(self.structure).strip():
            raise GoalError(f"{where}: the structure name is empty")
        if self.comparison not in COMPARISONS:
            raise GoalError(f"{where}: comparison must be '<=' or '>=', got {self.comparison!r}")
        try:
            threshold = float(self.threshold)
        except (TypeError, ValueError):
            raise GoalError(f"{where}: the threshold {self.threshold!r} is not a number") from None
        if not math.isfinite(threshold) or threshold < 0:
            raise GoalError(f"{where}: the threshold must be a finite number >= 0, got {self.threshold!r}")
        object.__setattr__(self, "threshold", threshold)
        try:
            metric = parse_metric(self.metric)
        except GoalError as exc:
            raise GoalError(f"{where}: {exc}") from None
        unit = _normal_unit(self.threshold_unit)
        if metric.value_is_dose:
            if unit not in ("", "Gy"):
                raise GoalError(f"{where}: {self.metric} is a dose, its threshold is in Gy, not {self.threshold_unit!r}")
            unit = "Gy"
        else:
            if unit not in ("",) + VOLUME_UNITS:
                raise GoalError(f"{where}: {self.metric} is a volume, its threshold is in % or cm3, "
                                f"not {self.threshold_unit!r}")
            unit = unit or "%"
            if unit == "%" and threshold > 100:
                raise GoalError(f"{where}: a volume in % of the structure cannot exceed 100")
        object.__setattr__(self, "threshold_unit", unit)
        if metric.kind == "V" and metric.amount_unit == "%":
            p = self.prescription_gy
            if p is None or not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
                raise GoalError(f"{where}: {self.metric} is a dose in % of the prescription; "
                                f"give prescription_gy (a positive dose), got {p!r}")

    @property
    def parsed_metric(self) -> Metric:
        return parse_metric(self.metric)

    @property
    def label(self) -> str:
        """The goal as a physicist writes it, e.g. ``PTV70 D95% >= 66.5 Gy``."""
        unit = {"cm3": "cm3", "%": "%", "Gy": "Gy"}[self.threshold_unit]
        return self.name or f"{self.structure} {self.metric} {self.comparison} {self.threshold:g} {unit}"

    def met_by(self, value: float) -> bool:
        """Whether ``value`` (in this goal's unit) meets it; a NaN value never does."""
        if not math.isfinite(value):
            return False
        return value <= self.threshold if self.comparison == "<=" else value >= self.threshold

    def margin(self, value: float) -> float:
        """How far ``value`` is on the good side of the threshold (negative: missed by that much)."""
        return self.threshold - value if self.comparison == "<=" else value - self.threshold


_GOAL_TEXT = re.compile(r"^(?P<structure>.+?)\s+(?P<metric>[^\s<>=]+)\s*(?P<cmp><=|>=|=<|=>|<|>|=)\s*"
                        r"(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>\S+)?\s*$")


def parse_goal(text: str, *, prescription_gy: float | None = None) -> ClinicalGoal:
    """``"PTV70 D95% >= 66.5 Gy"`` -> ClinicalGoal.  The structure is everything before the metric (it may
    hold spaces); units: Gy for doses, % or cc/cm3 for volumes.  GoalError naming the text otherwise."""
    m = _GOAL_TEXT.match(text.strip())
    if not m:
        raise GoalError(f"goal {text!r}: expected 'STRUCTURE METRIC <=|>= NUMBER [UNIT]', "
                        f"e.g. 'PTV70 D95% >= 66.5 Gy' or 'Lung V20Gy <= 30 %'")
    if m["cmp"] not in COMPARISONS:
        raise GoalError(f"goal {text!r}: comparison must be '<=' or '>=', got {m['cmp']!r}")
    try:
        return ClinicalGoal(m["structure"].strip(), m["metric"], float(m["value"]), m["cmp"],
                            threshold_unit=m["unit"] or "", prescription_gy=prescription_gy)
    except GoalError as exc:
        raise GoalError(f"goal {text!r}: {str(exc).split(': ', 1)[-1]}") from None


def _normal_unit(unit: str) -> str:
    u = (unit or "").strip()
    if u.lower() in ("cc", "cm3", "cm^3", "ml"):
        return "cm3"
    if u.lower() == "gy":
        return "Gy"
    return u
