"""A pencil-beam scanning proton plan, as read from an RT Ion Plan.

Positions of spots are in the beam's eye view at the isocentre plane, in mm, as
in DICOM ScanSpotPositionMap (IEC gantry X, Y).  Angles are IEC 61217 degrees.
Meterset weights are kept as the plan states them; :attr:`EnergyLayer.spot_mu`
converts them to monitor units with the beam's meterset.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class EnergyLayer:
    nominal_energy_mev: float
    spot_x_mm: np.ndarray
    spot_y_mm: np.ndarray
    spot_weights: np.ndarray  # ScanSpotMetersetWeights (relative, cumulative-meterset units)
    spot_tune_id: str = ""
    scanning_spot_size_mm: tuple[float, float] | None = None
    mu_per_weight: float = 1.0  # BeamMeterset / FinalCumulativeMetersetWeight
    range_shifter_setting: str = ""
    isocenter_to_range_shifter_mm: float | None = None

    def __post_init__(self) -> None:
        self.spot_x_mm = np.asarray(self.spot_x_mm, dtype=float).reshape(-1)
        self.spot_y_mm = np.asarray(self.spot_y_mm, dtype=float).reshape(-1)
        self.spot_weights = np.asarray(self.spot_weights, dtype=float).reshape(-1)
        if not (len(self.spot_x_mm) == len(self.spot_y_mm) == len(self.spot_weights)):
            raise ValueError("spot positions and weights differ in length")

    @property
    def n_spots(self) -> int:
        return int(len(self.spot_weights))

    @property
    def spot_mu(self) -> np.ndarray:
        """Monitor units per spot: weight x BeamMeterset / FinalCumulativeMetersetWeight."""
        return self.spot_weights * self.mu_per_weight


@dataclass
class Beam:
    name: str
    number: int
    gantry_angle_deg: float
    couch_angle_deg: float
    isocenter_mm: tuple[float, float, float]
    layers: list[EnergyLayer]
    meterset_mu: float = 0.0  # BeamMeterset from the fraction group
    final_cumulative_meterset_weight: float = 0.0
    gantry_pitch_angle_deg: float = 0.0
    treatment_machine: str = ""
    radiation_type: str = "PROTON"
    range_shifter_ids: list[str] = field(default_factory=list)
    snout_position_mm: float | None = None
    virtual_source_axis_distances_mm: tuple[float, float] | None = None
    beam_type: str = "MODULATED"

    @property
    def n_spots(self) -> int:
        return sum(layer.n_spots for layer in self.layers)

    @property
    def energies_mev(self) -> np.ndarray:
        return np.array([layer.nominal_energy_mev for layer in self.layers])

    @property
    def total_mu(self) -> float:
        return float(sum(layer.spot_mu.sum() for layer in self.layers))


@dataclass
class Plan:
    label: str
    beams: list[Beam]
    fractions_planned: int = 1
    frame_of_reference_uid: str = ""
    sop_instance_uid: str = ""
    referenced_structure_set_uid: str = ""
    patient_position: str = "HFS"
    prescription_dose_gy: float | None = None
    source_path: str = ""  # file it was read from, for messages; not identity

    @property
    def n_spots(self) -> int:
        return sum(b.n_spots for b in self.beams)

    @property
    def prescription_per_fraction_gy(self) -> float | None:
        """The prescription of one fraction.  A DICOM plan's TargetPrescriptionDose is the whole course's,
        its monitor units (and so a Monte Carlo dose of it) one fraction's."""
        if not self.prescription_dose_gy:
            return None
        return float(self.prescription_dose_gy) / max(int(self.fractions_planned or 1), 1)

    def with_meterset_scale(self, factor: float) -> "Plan":
        """A copy whose monitor units are ``factor`` times this plan's (spot weights unchanged).

        For a plan whose MU are on another scale than the beam model's protons per MU
        (e.g. another machine calibration): an explicit, documented correction, never
        applied silently.
        """
        if not (factor > 0 and np.isfinite(factor)):
            raise ValueError(f"a meterset scale must be a positive number, got {factor!r}")
        beams = [replace(b, meterset_mu=b.meterset_mu * factor,
                         layers=[replace(layer, mu_per_weight=layer.mu_per_weight * factor) for layer in b.layers])
                 for b in self.beams]
        return replace(self, beams=beams)
