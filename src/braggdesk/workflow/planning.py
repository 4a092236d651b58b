"""A planning session: from a patient and a planning request to an optimised, recalculated plan.

The loop of the cloud planning system braggdesk descends from (Na et al. 2013): plan design ->
Monte Carlo dose-influence matrix (on any runner) -> optimiser over non-negative spot weights ->
full Monte Carlo recalculation of the result.  The session keeps every product as it is made
(the designed plan, the matrix, the best weights so far, the final dose), so a step that fails or
is stopped loses nothing done before it: the GUI and the command line drive the same object.

Conventions: the matrix is in Gy per MU of one fraction; spot weights are MU per fraction (the
designed plan has 1 MU per spot); the objectives and clinical goals see TOTAL dose, fractions x
the fraction dose (:mod:`braggdesk.planning.optimiser`).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from scipy import ndimage

from ..analysis.clinical_goals import GoalResult, evaluate_goals
from ..analysis.rasterize import rasterize_structure_set
from ..compute.dij import DaskDij, DijComputation, DijProgress, LocalDij, RemoteDij
from ..errors import BraggdeskError, InputError, PlanError
from ..model import (BeamModel, CtCalibration, Job, Plan, Roi, SimulationSettings, StructureMask, StructureSet,
                     Volume)
from ..model.clinical_goals import ClinicalGoal, parse_goal
from ..model.objectives import PlanningRequest, Ring
from ..model.plan_design import BeamSpec, DesignSettings
from ..planning.design import design_plan
from ..planning.dij import DoseInfluence
from ..planning.optimiser import IterationInfo, OptimisationResult, optimise

#: voxels of interest: the objectives' structures and the targets grown by this much (the dose fall-off
#: around them, which the DVH comparison of matrix and final dose needs)
TARGET_RING_MM = 10.0
#: histories per spot when the request does not say (about 1 % on the spot's own peak region)
DEFAULT_HISTORIES_PER_SPOT = 2_000
#: a voxel belongs to a structure for the objectives when at least this much of it is inside
INSIDE_FRACTION = 0.5
#: what a matrix is made from: a request that changes one of these needs a new matrix (rings: their voxels are rows)
MATRIX_FIELDS = ("targets", "beams", "spot_spacing_mm", "layer_spacing_mm", "margin_mm", "histories_per_spot",
                 "rings")


class PlanningInputError(InputError):
    """The planning request does not fit the patient (unknown structure, target off the CT ...)."""


@dataclass
class PlanningInputs:
    """Everything a planning session reads: the patient, the machine and the request."""

    ct: Volume
    structures: StructureSet
    beam_model: BeamModel
    calibration: CtCalibration
    request: PlanningRequest
    request_path: str = ""  # the objectives file, for messages
    structure_set_uid: str = ""


@dataclass
class PlanningProducts:
    """What a session has made so far (None: not yet)."""

    designed: Plan | None = None
    dij: DoseInfluence | None = None
    optimisation: OptimisationResult | None = None
    plan: Plan | None = None  # the optimised plan, MU per spot
    objective_history: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what design noticed but did not refuse


class PlanningSession:
    """One patient, one request; each step keeps its product on ``self.products``."""

    def __init__(self, inputs: PlanningInputs):
        self.inputs = inputs
        self.products = PlanningProducts()
        request = inputs.request
        self.targets = list(request.targets) or _default_targets(request)
        names = list(dict.fromkeys([o.structure for o in request.objectives] + self.targets))
        self.masks = self._masks(names)
        self.goals = self._goals()
        self.voxel_index = self._voxels_of_interest()
        self.structure_rows = self._structure_rows()

    # -- inputs ----------------------------------------------------------------------------
    def _where(self, entry: str) -> str:
        return f"{self.inputs.request_path}: {entry}" if self.inputs.request_path else entry

    def _masks(self, names: list[str]) -> dict[str, StructureMask]:
        """The masks of ``names`` (structures of the set, or rings of the request), checked one by one."""
        structures = self.inputs.structures
        known = structures.names()
        rings = {r.name: r for r in self.inputs.request.rings}
        where = self.inputs.request_path or None
        for ring in rings.values():
            if _find(known, ring.name) is not None:
                raise PlanningInputError(where, f"ring {ring.name!r}: the structure set already has a structure "
                                                "of that name; give the ring another")
            for around in ring.around:
                if _find(known, around) is None:
                    raise PlanningInputError(where, f"ring {ring.name!r}: no structure {around!r} to grow it around; "
                                                    f"the structure set has {', '.join(known) or 'none'}")
        for i, objective in enumerate(self.inputs.request.objectives, start=1):
            if _find(known, objective.structure) is None and objective.structure not in rings:
                raise PlanningInputError(where, f"objective {i} ({objective.structure}): no structure of that name; "
                                                f"the structure set has {', '.join(known) or 'none'}"
                                                + (f" (rings: {', '.join(rings)})" if rings else ""))
        for name in self.targets:
            if _find(known, name) is None:
                raise PlanningInputError(where, f"target {name!r}: no structure of that name; the structure set has "
                                                f"{', '.join(known) or 'none'}")
        real = [n for n in names if n not in rings]
        real += [a for n in names if n in rings for a in rings[n].around]
        wanted = list(dict.fromkeys(_find(known, n) for n in real))
        by_name = {m.name: m for m in rasterize_structure_set(structures, self.inputs.ct, names=wanted)}
        out = {}
        for name in dict.fromkeys(real):
            mask = by_name.get(_find(known, name))
            if mask is None or mask.fraction.max() < INSIDE_FRACTION:
                raise PlanningInputError(where, f"structure {name!r} has no voxel on the CT grid (is it outside the CT?)")
            out[name] = mask
        for name in names:
            if name in rings:
                out[name] = ring_mask(rings[name], [out[a] for a in rings[name].around], self.inputs.ct)
        return {name: out[name] for name in names}

    def _goals(self) -> list[ClinicalGoal]:
        goals = []
        for i, text in enumerate(self.inputs.request.goals, start=1):
            try:
                goals.append(parse_goal(text, prescription_gy=self.inputs.request.prescription_gy))
            except ValueError as exc:
                raise PlanningInputError(self.inputs.request_path or None, f"goal {i}: {exc}") from None
        return goals

    def target_mask(self) -> np.ndarray:
        """The union of the targets (voxels at least half inside)."""
        mask = np.zeros(self.inputs.ct.shape, dtype=bool)
        for name in self.targets:
            mask |= self.masks[name].fraction >= INSIDE_FRACTION
        return mask

    def _voxels_of_interest(self) -> np.ndarray:
        ct = self.inputs.ct
        wanted = np.zeros(ct.shape, dtype=bool)
        for mask in self.masks.values():
            wanted |= mask.fraction > 0
        target = self.target_mask()
        spacing_kji = np.array(ct.spacing_mm[::-1], float)
        distance = ndimage.distance_transform_edt(~target, sampling=spacing_kji)
        wanted |= distance <= TARGET_RING_MM
        return np.flatnonzero(wanted.reshape(-1)).astype(np.int64)

    def _structure_rows(self) -> dict[str, np.ndarray]:
        return rows_on_matrix(self.voxel_index, self.masks, self.inputs.ct.shape)[0]

    def with_request(self, request: PlanningRequest) -> tuple["PlanningSession", list[str]]:
        """A session for ``request`` that reuses this one's matrix (this one is left untouched), and notes.

        Objectives, prescription and fractions may change; what the matrix was made from may not
        (``MATRIX_FIELDS``: a BraggdeskError says to compute it again, and nothing is lost)."""
        if self.products.dij is None:
            raise BraggdeskError("no dose-influence matrix yet: Compute Dij first")
        old = self.inputs.request
        changed = [f for f in MATRIX_FIELDS if getattr(old, f) != getattr(request, f)]
        if changed:
            raise BraggdeskError(f"{', '.join(f.replace('_', ' ') for f in changed)} changed since the matrix was "
                                 f"computed: Compute Dij again (the matrix and the plan made with it are kept until "
                                 f"then)")
        products = dataclasses.replace(self.products, objective_history=[], optimisation=None, plan=None,
                                       notes=list(self.products.notes))
        if request == old:
            session = copy.copy(self)
            session.products = products
            return session, []
        session = PlanningSession(dataclasses.replace(self.inputs, request=request))
        products.designed = dataclasses.replace(products.designed, fractions_planned=request.fractions,
                                                prescription_dose_gy=request.prescription_gy)
        session.products = products
        session.voxel_index = products.dij.voxel_index
        session.structure_rows, notes = rows_on_matrix(session.voxel_index, session.masks, session.inputs.ct.shape)
        return session, notes

    # -- 1. plan design --------------------------------------------------------------------
    def design(self) -> Plan:
        request = self.inputs.request
        settings = DesignSettings(**{k: v for k, v in (("spot_spacing_mm", request.spot_spacing_mm),
                                                        ("layer_spacing_mm", request.layer_spacing_mm),
                                                        ("margin_mm", request.margin_mm)) if v is not None})
        isocenters = {b.isocenter_mm for b in request.beams if b.isocenter_mm is not None}
        if len(isocenters) > 1:
            raise PlanningInputError(self.inputs.request_path or None,
                                     "the beams give different isocentres; braggdesk plans one isocentre for all beams")
        specs = [BeamSpec(b.gantry_deg, b.couch_deg, b.range_shifter) for b in request.beams]
        notes: list[str] = []  # not warnings.catch_warnings: this runs in worker threads
        try:
            plan = design_plan(self.inputs.ct, self.inputs.calibration, self.inputs.beam_model, self.target_mask(),
                               specs, settings=settings, isocenter_mm=next(iter(isocenters), None),
                               fractions=request.fractions, prescription_dose_gy=request.prescription_gy,
                               structure_set_uid=self.inputs.structure_set_uid,
                               target_name=" + ".join(self.targets), notes=notes)
        except PlanError as exc:
            raise PlanError(self._where(str(exc))) from None
        self.products = PlanningProducts(designed=plan, notes=notes)
        return plan

    # -- 2. dose-influence matrix ----------------------------------------------------------
    def dij_job(self, settings: SimulationSettings | None = None) -> Job:
        plan = self.products.designed or self.design()
        return Job.create(self.inputs.ct, plan, self.inputs.beam_model, self.inputs.calibration,
                          settings or SimulationSettings(primaries=1, device="auto"))

    @property
    def histories_per_spot(self) -> int:
        return int(self.inputs.request.histories_per_spot or DEFAULT_HISTORIES_PER_SPOT)

    def dij_computation(self, settings: SimulationSettings | None = None, *, cluster_spec=None, client=None,
                        make_remote_runner: Callable[[Job], object] | None = None) -> DijComputation:
        """The matrix's computation: here (default), blocks of spots as Dask tasks (``cluster_spec`` or
        ``client``), or on a worker node (``make_remote_runner(job)``: the SSH or pipe runner of a dose)."""
        job = self.dij_job(settings)
        target = {"target_uncertainty": self.inputs.request.dij_uncertainty}
        if make_remote_runner is not None:
            return RemoteDij(job, self.voxel_index, self.histories_per_spot, make_remote_runner, **target)
        if cluster_spec is not None or client is not None:
            return DaskDij(job, self.voxel_index, self.histories_per_spot, cluster_spec, client=client, **target)
        return LocalDij(job, self.voxel_index, self.histories_per_spot, **target)

    def compute_dij(self, computation: DijComputation) -> Iterator[DijProgress]:
        """Run the computation, yielding its progress; the matrix is kept when every spot is in."""
        yield from computation.run()
        if computation.finished:
            self.products.dij = computation.result()

    # -- 3. optimisation -------------------------------------------------------------------
    def optimise(self, *, callback: Callable[[IterationInfo], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, max_iterations: int = 200) -> OptimisationResult:
        dij = self.products.dij
        if dij is None:
            raise PlanError("optimise needs the dose-influence matrix first")
        request = self.inputs.request

        def record(info: IterationInfo) -> None:
            self.products.objective_history.append(info.objective_value)
            if callback is not None:
                callback(info)

        self.products.objective_history = []
        result = optimise(dij.matrix, self.structure_rows, request.objectives, fractions=request.fractions,
                          prescription_gy=request.prescription_gy, targets=self.targets,
                          min_weight=float(request.min_mu_per_spot or 0.0), max_iterations=max_iterations,
                          callback=record, should_stop=should_stop)
        self.products.optimisation = result
        self.products.plan = plan_with_mu(self.products.designed, result.weights)
        return result

    def dij_dose_on_grid(self) -> np.ndarray:
        """The optimised plan's TOTAL dose from the matrix, on the CT grid (zero outside the voxels of interest)."""
        result = self.products.optimisation
        if result is None or self.products.dij is None:
            raise PlanError("no optimised plan yet")
        return self.products.dij.dose_on_grid(result.weights) * self.inputs.request.fractions

    # -- 4. final dose ----------------------------------------------------------------------
    def final_job(self, settings: SimulationSettings) -> Job:
        """The optimised plan as an ordinary dose job (full Monte Carlo, not the matrix)."""
        if self.products.plan is None:
            raise PlanError("no optimised plan yet")
        return Job.create(self.inputs.ct, self.products.plan, self.inputs.beam_model, self.inputs.calibration,
                          settings)

    def evaluate(self, total_dose_gy: np.ndarray) -> list[GoalResult]:
        """The request's clinical goals on a TOTAL dose on the CT grid."""
        return evaluate_goals(total_dose_gy, self.masks, self.goals)


def rows_on_matrix(voxel_index: np.ndarray, masks: dict[str, StructureMask],
                   shape: tuple[int, int, int]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each structure's voxels (at least half inside) as rows of a matrix on ``voxel_index``, and notes for
    voxels outside it (left out); a structure with none inside is refused."""
    position = np.full(int(np.prod(shape)), -1, dtype=np.int64)
    position[voxel_index] = np.arange(voxel_index.size)
    rows, notes = {}, []
    for name, mask in masks.items():
        inside = position[np.flatnonzero(mask.fraction.reshape(-1) >= INSIDE_FRACTION)]
        kept = inside[inside >= 0]
        if kept.size == 0:
            raise BraggdeskError(f"structure {name!r} lies outside the voxels of the dose-influence matrix: "
                                 f"Compute Dij again with its objective in the table")
        if kept.size < inside.size:
            notes.append(f"{name}: {inside.size - kept.size} of {inside.size} voxels lie outside the matrix and are "
                         f"not optimised; Compute Dij again to include them")
        rows[name] = kept
    return rows, notes


def ring_mask(ring: Ring, around: list[StructureMask], ct: Volume) -> StructureMask:
    """The ring's voxels: centres farther than ``inner_mm`` and at most ``outer_mm`` from the union of
    ``around`` (voxels at least half inside), none of the union's own."""
    inside = np.zeros(ct.shape, dtype=bool)
    for mask in around:
        inside |= mask.fraction >= INSIDE_FRACTION
    distance = ndimage.distance_transform_edt(~inside, sampling=np.array(ct.spacing_mm[::-1], float))
    shell = (~inside) & (distance > ring.inner_mm) & (distance <= ring.outer_mm)
    roi = Roi(number=0, name=ring.name, color_rgb=(255, 200, 0), roi_type="CONTROL")
    return StructureMask(roi=roi, grid=ct, fraction=shell.astype(np.float32))


def plan_with_mu(designed: Plan, spot_mu: np.ndarray) -> Plan:
    """The designed plan with these MU per spot (per fraction), spots and layers of zero MU left out.

    Spot order is the matrix's: beam, layer, spot."""
    spot_mu = np.asarray(spot_mu, dtype=float)
    if spot_mu.size != designed.n_spots:
        raise PlanError(f"{spot_mu.size} spot weights for a plan of {designed.n_spots} spots")
    beams, start = [], 0
    for beam in designed.beams:
        layers = []
        for layer in beam.layers:
            mu = spot_mu[start:start + layer.n_spots]
            start += layer.n_spots
            keep = mu > 0
            if keep.any():
                layers.append(dataclasses.replace(layer, spot_x_mm=layer.spot_x_mm[keep],
                                                  spot_y_mm=layer.spot_y_mm[keep], spot_weights=mu[keep],
                                                  mu_per_weight=1.0))
        total = float(sum(layer.spot_weights.sum() for layer in layers))
        if layers:
            beams.append(dataclasses.replace(beam, layers=layers, meterset_mu=total,
                                             final_cumulative_meterset_weight=total))
    if not beams:
        raise PlanError("the optimised plan has no spot with a positive weight")
    return dataclasses.replace(designed, beams=beams)


def _default_targets(request: PlanningRequest) -> list[str]:
    from ..model.objectives import TARGET_KINDS

    return list(dict.fromkeys(o.structure for o in request.objectives if o.kind in TARGET_KINDS))


def _find(known: list[str], name: str) -> str | None:
    """The structure set's spelling of ``name``: exact, else ignoring case."""
    if name in known:
        return name
    lowered = {k.lower(): k for k in known}
    return lowered.get(name.lower())


def read_planning_inputs(ct_folder: str | Path, structures_path: str | Path, request_path: str | Path,
                         beam_model_path: str | None = None, calibration: str | None = None) -> PlanningInputs:
    """The patient (CT series, RTSTRUCT), the machine (beam model, CT calibration) and the objectives file."""
    from ..io.beam_model_reader import read_beam_model
    from ..io.ct_calibration import find_calibration_in_folder, read_ct_calibration
    from ..io.dicom_ct import read_ct_series
    from ..io.objectives_file import read_planning_request
    from ..io.rtstruct import read_rtstruct, read_sop_instance_uids

    request = read_planning_request(request_path)
    structures = read_rtstruct(structures_path)
    ct = read_ct_series(ct_folder)
    model = read_beam_model(beam_model_path)
    cal = read_ct_calibration(calibration) if calibration else (
        find_calibration_in_folder(ct_folder) or read_ct_calibration("schneider"))
    return PlanningInputs(ct, structures, model, cal, request, str(request_path),
                          read_sop_instance_uids([structures_path])[0])
