"""Plan design: spots on a lattice over the target and energy layers from its water-equivalent depth.

What a designed beam is, and why:

* **Isocentre**: the target's centroid (voxel fractions as weights) unless given; one isocentre for
  every beam of a plan, as clinics treat.
* **Lattice**: BEV positions (IEC gantry X, Y at the isocentre plane, as ScanSpotPositionMap) on a
  square or hexagonal lattice anchored at the isocentre (0, 0), so beams of one plan and replans
  share positions (:class:`~braggdesk.model.plan_design.DesignSettings` for the spacing rule).
* **Rays**: each lattice position is traced along the engine's own central spot ray through the
  engine's RSP (:mod:`.raytrace`); a position is kept where its ray crosses the target dilated by
  the margin, which is "the target's BEV projection plus the margin", divergence included.
* **Layers**: from the shallowest and deepest water-equivalent depths of the dilated target over all
  kept rays (:mod:`.layers`); a spot goes into a layer only when its own ray has target within half a
  layer spacing of that layer's range, so the layers of a spherical target shrink towards its edges.
* **Weights and MU**: every spot weight is 1 and ``mu_per_weight`` is 1, so spot weights *are*
  monitor units: an optimiser's weights are MU, a minimum-MU-per-spot limit is a lower bound on the
  weight, and a uniform start delivers 1 MU per spot (the order of clinical spot MU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..engine.geometry import GridFrame, beam_frame
from ..engine.packing import air_rsp
from ..errors import PlanError
from ..model import Beam, BeamModel, CtCalibration, EnergyLayer, Plan, StructureMask, Volume
from ..model.plan_design import BeamSpec, DesignSettings
from ..physics.calibration import voxel_media
from ..physics.material_constants import material_physics
from .layers import choose_layers
from .raytrace import BeamRays, TargetDistance, TargetWet, spot_rays, trace_target_wet

SPOT_SPACING_SIGMA_FRACTION = 1.2  # default spot spacing: 1.2 x the spot sigma at the isocentre
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
MU_PER_WEIGHT = 1.0


@dataclass(frozen=True)
class DesignTarget:
    """The target as plan design needs it: a boolean mask on the CT grid and a name for messages."""

    mask: np.ndarray  # bool [k, j, i]
    name: str

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())


def design_plan(ct: Volume, calibration: CtCalibration, beam_model: BeamModel,
                target_mask: np.ndarray | StructureMask, beams: Sequence[BeamSpec | float], *,
                settings: DesignSettings = DesignSettings(), isocenter_mm: Sequence[float] | None = None,
                label: str = "braggdesk IMPT", fractions: int = 1, prescription_dose_gy: float | None = None,
                structure_set_uid: str = "", target_name: str = "target", notes: list[str] | None = None) -> Plan:
    """A plan of one designed beam per entry of ``beams`` (a :class:`BeamSpec` or a gantry angle),
    all on one isocentre (default: the target's centroid), on the CT's frame of reference.

    What is accepted but worth saying is appended to ``notes`` if given, else warned
    (:func:`.layers.choose_layers`)."""
    if not beams:
        raise PlanError(f"plan {label!r}: no beams to design")
    if int(fractions) < 1:
        raise PlanError(f"plan {label!r}: fractions must be at least 1, got {fractions!r}")
    target = _design_target(ct, target_mask, target_name)
    iso = _isocenter(ct, target, isocenter_mm)
    rsp = _rsp_grid(ct, calibration)
    specs = [b if isinstance(b, BeamSpec) else BeamSpec(float(b)) for b in beams]
    designed = [_design(ct, rsp, beam_model, target, spec, number, iso, settings, notes)
                for number, spec in enumerate(specs, start=1)]
    return Plan(label=label, beams=designed, fractions_planned=int(fractions),
                frame_of_reference_uid=ct.frame_of_reference_uid, referenced_structure_set_uid=structure_set_uid,
                patient_position=ct.patient_position or "HFS", prescription_dose_gy=prescription_dose_gy)


def design_beam(ct: Volume, calibration: CtCalibration, beam_model: BeamModel,
                target_mask: np.ndarray | StructureMask, gantry_deg: float, couch_deg: float = 0.0, *,
                isocenter_mm: Sequence[float] | None = None, range_shifter_id: str | None = None,
                settings: DesignSettings = DesignSettings(), name: str = "", number: int = 1,
                target_name: str = "target", notes: list[str] | None = None) -> Beam:
    """One beam with spots over the target plus margin and layers over its water-equivalent depth
    (``notes`` as for :func:`design_plan`).

    Raises PlanError (one line naming the beam or target) for a target with no voxel on the CT, a
    range shifter the model lacks, or a target the model's energies cannot reach.
    """
    target = _design_target(ct, target_mask, target_name)
    iso = _isocenter(ct, target, isocenter_mm)
    spec = BeamSpec(float(gantry_deg), float(couch_deg), range_shifter_id, name)
    return _design(ct, _rsp_grid(ct, calibration), beam_model, target, spec, number, iso, settings, notes)


# ----------------------------------------------------------------------------------------- one beam


def _design(ct: Volume, rsp: np.ndarray, model: BeamModel, target: DesignTarget, spec: BeamSpec, number: int,
            iso: tuple[float, float, float], settings: DesignSettings, notes: list[str] | None) -> Beam:
    name = spec.label
    shifter_wet, shifter_distance = _range_shifter(model, spec.range_shifter_id, name)
    beam = Beam(name=name, number=number, gantry_angle_deg=spec.gantry_deg, couch_angle_deg=spec.couch_deg,
                isocenter_mm=iso, layers=[], treatment_machine=model.name,
                range_shifter_ids=[spec.range_shifter_id] if spec.range_shifter_id else [],
                virtual_source_axis_distances_mm=tuple(model.virtual_source_axis_distance_mm))
    grid = GridFrame.of(ct)
    rays = _beam_rays(beam, model, grid, ct.patient_position or "HFS")
    spacing = settings.spot_spacing_mm or default_spot_spacing_mm(model)
    distance = TargetDistance.of(target.mask, grid.spacing_mm, settings.margin_mm)
    x, y = lattice_positions(_bev_extent(rays, grid, distance, settings.margin_mm), spacing, settings.lattice)
    start, direction = spot_rays(rays, x, y)
    wet = trace_target_wet(start, direction, grid, rsp, distance, settings.margin_mm, air_rsp())
    hit = wet.hits
    if not hit.any():
        raise PlanError(f"beam {name!r}: no spot ray crosses target {target.name!r} ({target.n_voxels} voxels); "
                        f"is the isocentre {iso} mm far outside the CT?")
    x, y = x[hit], y[hit]
    wet = TargetWet(wet.covered[hit], wet.wet_in_mm[hit], wet.wet_out_mm[hit])
    choices = choose_layers(model, float(np.nanmin(wet.wet_in_mm)), float(np.nanmax(wet.wet_out_mm)),
                            beam_name=name, layer_spacing_mm=settings.layer_spacing_mm,
                            shifter_wet_mm=shifter_wet, shifter_id=spec.range_shifter_id, notes=notes)
    for choice in choices:
        keep = wet.covers(choice.range_mm, 0.5 * choice.spacing_mm)
        if not keep.any():
            continue
        n = int(keep.sum())
        beam.layers.append(EnergyLayer(
            nominal_energy_mev=choice.nominal_energy_mev, spot_x_mm=x[keep], spot_y_mm=y[keep],
            spot_weights=np.ones(n), scanning_spot_size_mm=_spot_fwhm_at_isocenter_mm(model, choice.nominal_energy_mev),
            mu_per_weight=MU_PER_WEIGHT, range_shifter_setting="IN" if spec.range_shifter_id else "",
            isocenter_to_range_shifter_mm=shifter_distance))
    total = float(sum(layer.n_spots for layer in beam.layers))
    beam.meterset_mu = total * MU_PER_WEIGHT
    beam.final_cumulative_meterset_weight = total
    return beam


def _beam_rays(beam: Beam, model: BeamModel, grid: GridFrame, patient_position: str) -> BeamRays:
    """The beam's axes in the grid frame, exactly as :func:`braggdesk.engine.source.build_spot_table` sets them."""
    frame = beam_frame(beam, patient_position)
    sx, sy = beam.virtual_source_axis_distances_mm or model.virtual_source_axis_distance_mm
    return BeamRays(grid.point(frame.isocenter_mm), grid.vector(frame.direction), grid.vector(frame.spot_x_axis),
                    grid.vector(frame.spot_y_axis), (float(sx), float(sy)),
                    float(model.reference_plane_to_isocenter_mm))


def _bev_extent(rays: BeamRays, grid: GridFrame, distance: TargetDistance, margin_mm: float) -> tuple[float, ...]:
    """(x_min, x_max, y_min, y_max) at the isocentre plane of the box around the dilated target,
    projected from the virtual source."""
    lo = distance.offset_ijk * grid.spacing_mm
    hi = lo + np.asarray(distance.distance_mm.shape[::-1]) * grid.spacing_mm
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    rel = corners - rays.iso
    depth = rel @ rays.direction
    sx, sy = rays.vsad_mm
    u = rel @ rays.axis_x * sx / np.maximum(sx + depth, 1e-6)
    v = rel @ rays.axis_y * sy / np.maximum(sy + depth, 1e-6)
    return float(u.min()), float(u.max()), float(v.min()), float(v.max())


def lattice_positions(extent: tuple[float, ...], spacing_mm: float, lattice: str) -> tuple[np.ndarray, np.ndarray]:
    """Lattice points inside ``extent`` (x_min, x_max, y_min, y_max), anchored at (0, 0), in scan
    order: rows of increasing y, each row swept in the opposite x direction to the one before."""
    x_min, x_max, y_min, y_max = extent
    row_pitch = spacing_mm * (np.sqrt(3.0) / 2.0 if lattice == "hexagonal" else 1.0)
    xs, ys = [], []
    for j, row in enumerate(range(int(np.floor(y_min / row_pitch)), int(np.ceil(y_max / row_pitch)) + 1)):
        shift = 0.5 * spacing_mm if lattice == "hexagonal" and row % 2 else 0.0
        cols = np.arange(np.floor((x_min - shift) / spacing_mm), np.ceil((x_max - shift) / spacing_mm) + 1)
        x = cols * spacing_mm + shift
        xs.append(x if j % 2 == 0 else x[::-1])
        ys.append(np.full(x.size, row * row_pitch))
    return np.concatenate(xs), np.concatenate(ys)


# ----------------------------------------------------------------------------------------- inputs


def _design_target(ct: Volume, target_mask: np.ndarray | StructureMask, name: str) -> DesignTarget:
    if isinstance(target_mask, StructureMask):
        name = target_mask.name
        grid = target_mask.grid
        if (grid.shape != ct.shape or not np.allclose(grid.origin_mm, ct.origin_mm, atol=1e-3)
                or not np.allclose(grid.spacing_mm, ct.spacing_mm, atol=1e-6)):
            raise PlanError(f"target {name!r} is rasterised on another grid ({grid.shape} voxels at {grid.origin_mm} "
                            f"mm) than the CT ({ct.shape} at {ct.origin_mm} mm); rasterise it on the CT")
        mask = np.asarray(target_mask.fraction) >= 0.5
    else:
        mask = np.asarray(target_mask, dtype=bool)
        if mask.shape != ct.shape:
            raise PlanError(f"target {name!r}: its mask has shape {mask.shape}, the CT {ct.shape}; it must be on "
                            f"the CT grid")
    if not mask.any():
        raise PlanError(f"target {name!r} has no voxel inside the CT ({ct.shape[2]} x {ct.shape[1]} x "
                        f"{ct.shape[0]} voxels from {ct.origin_mm} mm): is it outside the CT, or on another "
                        f"frame of reference?")
    return DesignTarget(mask, name)


def _isocenter(ct: Volume, target: DesignTarget, isocenter_mm: Sequence[float] | None) -> tuple[float, float, float]:
    if isocenter_mm is not None:
        iso = tuple(float(v) for v in isocenter_mm)
        if len(iso) != 3 or not all(np.isfinite(iso)):
            raise PlanError(f"isocentre must be three finite coordinates in mm, got {isocenter_mm!r}")
        return iso  # type: ignore[return-value]
    k, j, i = np.nonzero(target.mask)
    centroid = ct.index_to_patient() @ np.array([i.mean(), j.mean(), k.mean(), 1.0])
    return tuple(float(round(v, 3)) for v in centroid[:3])  # type: ignore[return-value]


def _rsp_grid(ct: Volume, calibration: CtCalibration) -> np.ndarray:
    """The engine's relative stopping power per voxel, [k, j, i] (see :mod:`.raytrace`)."""
    return voxel_media(calibration, ct.hu).rsp.reshape(ct.shape)


def _range_shifter(model: BeamModel, shifter_id: str | None, beam_name: str) -> tuple[float, float | None]:
    """(water-equivalent thickness, isocentre distance) of the beam's range shifter, (0, None) without one.
    The WET is the engine's (:mod:`braggdesk.engine.source`): the stated WET, else thickness x RSP."""
    if not shifter_id:
        return 0.0, None
    rs = model.range_shifters.get(shifter_id)
    if rs is None:
        known = ", ".join(sorted(model.range_shifters)) or "none"
        raise PlanError(f"beam {beam_name!r}: range shifter {shifter_id!r} is not in the beam model "
                        f"'{model.name}' (it defines: {known})")
    if rs.water_equivalent_thickness_mm:
        return float(rs.water_equivalent_thickness_mm), float(rs.isocenter_distance_mm)
    if rs.composition is None:
        raise PlanError(f"beam {beam_name!r}: range shifter {shifter_id!r} has no composition for its material "
                        f"{rs.material!r}; cannot compute its water-equivalent thickness")
    phys = material_physics(rs.composition, density_g_cm3=rs.composition.density_g_cm3)
    return float(rs.thickness_mm * phys.relative_stopping_power), float(rs.isocenter_distance_mm)


# ----------------------------------------------------------------------------------------- spot size


def spot_sigma_at_isocenter_mm(model: BeamModel, nominal_energy_mev: float) -> tuple[float, float]:
    """Core Gaussian's sigma in air at the isocentre (x, y), propagated from the reference plane as
    the engine samples it: sigma^2 + 2 d rho sigma theta + d^2 theta^2."""
    o = model.optics(nominal_energy_mev)
    d = model.reference_plane_to_isocenter_mm

    def at_iso(sigma: float, theta: float, rho: float) -> float:
        return float(np.sqrt(max(sigma**2 + 2.0 * d * rho * sigma * theta + (d * theta) ** 2, 0.0)))

    return (at_iso(o.sigma_x_mm, o.divergence_x_rad, o.correlation_x),
            at_iso(o.sigma_y_mm, o.divergence_y_rad, o.correlation_y))


def default_spot_spacing_mm(model: BeamModel) -> float:
    """1.2 x the mean spot sigma at the isocentre at the model's middle nominal energy, to 0.1 mm."""
    energies = np.asarray(model.nominal_energy_mev)
    middle = float(energies[len(energies) // 2])
    sigma = float(np.mean(spot_sigma_at_isocenter_mm(model, middle)))
    if not sigma > 0:
        raise PlanError(f"beam model '{model.name}' gives a spot size of 0 at {middle:g} MeV; set the spot "
                        f"spacing (spot_spacing_mm) explicitly")
    return round(SPOT_SPACING_SIGMA_FRACTION * sigma, 1)


def _spot_fwhm_at_isocenter_mm(model: BeamModel, nominal_energy_mev: float) -> tuple[float, float] | None:
    sx, sy = spot_sigma_at_isocenter_mm(model, nominal_energy_mev)
    if sx <= 0 or sy <= 0:
        return None
    return (round(FWHM_PER_SIGMA * sx, 3), round(FWHM_PER_SIGMA * sy, 3))
