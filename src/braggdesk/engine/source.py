"""The beam source on the host: every spot of the plan with its optics, in the grid frame.

Each spot's central ray comes from the virtual source (VSAD x, y) through its position at the
isocentre plane; the beam model gives its correlated Gaussian phase space (size, divergence,
correlation; a second, wider Gaussian for double-Gaussian models), energy spread and protons per
MU.  The kernel samples primaries from this table (:mod:`.kernel.source`).  Checked here, before
any transport: energies outside the model, unknown range shifters, beams whose spots all miss
the CT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PlanError
from ..model import BeamModel, Plan, RangeShifter
from ..model.beam_model import SpotOptics
from .geometry import GridFrame, beam_frame, ray_box_entry
from .kernel.layout import MAX_SLABS
from ..physics.material_constants import material_physics


@dataclass
class RangeShifterSlab:
    beam_index: int
    upstream_distance_mm: float  # isocentre to the slab centre, along the beam axis
    water_equivalent_mm: float
    thickness_in_x0: float


@dataclass
class SpotGaussian:
    """One Gaussian component of every spot's phase space at the reference plane (arrays per spot)."""

    sigma_x_mm: np.ndarray
    sigma_y_mm: np.ndarray
    divergence_x_rad: np.ndarray
    divergence_y_rad: np.ndarray
    correlation_x: np.ndarray
    correlation_y: np.ndarray


@dataclass
class SpotTable:
    """Per-spot arrays (numpy) and per-beam geometry in the grid frame."""

    beam_index: np.ndarray
    mean_energy_mev: np.ndarray
    energy_sigma_mev: np.ndarray
    x_iso_mm: np.ndarray
    y_iso_mm: np.ndarray
    gaussian1: SpotGaussian
    weight2: np.ndarray  # share of each spot's protons in the second (halo) Gaussian; 0: single Gaussian
    gaussian2: SpotGaussian
    protons: np.ndarray  # protons the plan delivers in each spot
    # per beam, grid frame
    iso: np.ndarray  # (n_beams, 3)
    direction: np.ndarray
    axis_x: np.ndarray
    axis_y: np.ndarray
    vsad_mm: np.ndarray  # (n_beams, 2)
    reference_plane_mm: float
    range_shifters: list[RangeShifterSlab]
    notes: list[str]

    @property
    def total_protons(self) -> float:
        return float(self.protons.sum())


def build_spot_table(plan: Plan, model: BeamModel, grid: GridFrame, patient_position: str) -> SpotTable:
    """Spots of every beam with their optics; raises PlanError for energies outside the model,
    unknown range shifters, or beams whose spots all miss the CT."""
    cols: dict[str, list] = {k: [] for k in ("beam_index", "mean_energy_mev", "energy_sigma_mev", "x_iso_mm",
                                             "y_iso_mm", "weight2", "protons", *_G1, *_G2)}
    iso, dirs, ax, ay, vsads, slabs, notes = [], [], [], [], [], [], []
    beams = [b for b in plan.beams if b.layers]
    if not beams:
        raise PlanError(f"plan {plan.label!r} has no beam with spots")
    for bi, beam in enumerate(beams):
        frame = beam_frame(beam, patient_position)
        iso.append(grid.point(frame.isocenter_mm))
        dirs.append(grid.vector(frame.direction))
        ax.append(grid.vector(frame.spot_x_axis))
        ay.append(grid.vector(frame.spot_y_axis))
        vsads.append(beam.virtual_source_axis_distances_mm or model.virtual_source_axis_distance_mm)
        if len(beam.range_shifter_ids) > MAX_SLABS:
            raise PlanError(f"beam {beam.name!r} has {len(beam.range_shifter_ids)} range shifters; "
                            f"braggdesk handles up to {MAX_SLABS} per beam")
        for rs_id in beam.range_shifter_ids:
            rs = model.range_shifters.get(rs_id)
            if rs is None:
                known = ", ".join(sorted(model.range_shifters)) or "none"
                raise PlanError(f"beam {beam.name!r} uses range shifter {rs_id!r}, which the beam model "
                                f"'{model.name}' does not define (it defines: {known})")
            wet_mm, t_x0 = _slab_physics(rs)
            slabs.append(RangeShifterSlab(bi, rs.isocenter_distance_mm, wet_mm, t_x0))
        for li, layer in enumerate(beam.layers):
            try:
                optics = model.optics(layer.nominal_energy_mev)
            except ValueError as exc:
                raise PlanError(f"beam {beam.name!r}, layer {li + 1}: {exc}") from None
            mu = layer.spot_mu
            keep = mu > 0
            n = int(keep.sum())
            cols["beam_index"].append(np.full(n, bi))
            cols["mean_energy_mev"].append(np.full(n, optics.mean_energy_mev))
            cols["energy_sigma_mev"].append(np.full(n, optics.energy_spread_mev))
            cols["x_iso_mm"].append(layer.spot_x_mm[keep])
            cols["y_iso_mm"].append(layer.spot_y_mm[keep])
            for name, value in zip(("weight2", *_G1, *_G2), _gaussians(optics)):
                cols[name].append(np.full(n, value))
            cols["protons"].append(mu[keep] * optics.protons_per_mu)
    arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    arrays["beam_index"] = arrays["beam_index"].astype(np.int32)
    if arrays["protons"].sum() <= 0:
        raise PlanError(f"plan {plan.label!r} delivers no protons (all spot weights are zero)")
    gaussian1 = SpotGaussian(*(arrays.pop(k) for k in _G1))
    gaussian2 = SpotGaussian(*(arrays.pop(k) for k in _G2))
    table = SpotTable(**arrays, gaussian1=gaussian1, gaussian2=gaussian2, iso=np.array(iso), direction=np.array(dirs), axis_x=np.array(ax),
                      axis_y=np.array(ay), vsad_mm=np.array(vsads, float),
                      reference_plane_mm=float(model.reference_plane_to_isocenter_mm), range_shifters=slabs,
                      notes=notes)
    _check_spots_hit_ct(table, beams, grid)
    return table


_G1 = ("sigma_x_mm", "sigma_y_mm", "div_x_rad", "div_y_rad", "corr_x", "corr_y")
_G2 = tuple(f"{name}_2" for name in _G1)


def _gaussians(optics: SpotOptics) -> tuple[float, ...]:
    """(weight2, the first Gaussian's six parameters, the second's six) of one energy's optics.
    A single-Gaussian model has weight2 = 0; its second component repeats the first."""
    first = (optics.sigma_x_mm, optics.sigma_y_mm, optics.divergence_x_rad, optics.divergence_y_rad,
             optics.correlation_x, optics.correlation_y)
    weight2 = float(getattr(optics, "weight2", 0.0))
    if weight2 <= 0.0:
        return (0.0, *first, *first)
    second = (optics.sigma_x2_mm, optics.sigma_y2_mm, optics.divergence_x2_rad, optics.divergence_y2_rad,
              optics.correlation_x2, optics.correlation_y2)
    return (weight2, *first, *second)


def _slab_physics(rs: RangeShifter) -> tuple[float, float]:
    """A range shifter's water-equivalent thickness (mm) and its thickness in radiation lengths."""
    if rs.composition is None:
        raise PlanError(f"range shifter {rs.identifier!r}: its material {rs.material!r} has no composition")
    phys = material_physics(rs.composition, density_g_cm3=rs.composition.density_g_cm3)
    wet = rs.water_equivalent_thickness_mm or rs.thickness_mm * phys.relative_stopping_power
    return float(wet), float(rs.thickness_mm / (10.0 * phys.radiation_length_g_cm2 / phys.density_g_cm3))


def _check_spots_hit_ct(table: SpotTable, beams, grid: GridFrame) -> None:
    """Central rays of spots must cross the CT; a beam whose spots all miss is an error."""
    b = table.beam_index
    start, direction = _central_rays(table)
    t_in, t_out = ray_box_entry(start, direction, grid.size_mm)
    hit = t_in < t_out
    for bi, beam in enumerate(beams):
        sel = b == bi
        n_miss = int((~hit[sel]).sum())
        if n_miss == int(sel.sum()):
            raise PlanError(
                f"beam {beam.name!r}: all {n_miss} spots miss the CT (isocentre {tuple(beam.isocenter_mm)} mm); "
                "is the plan on this CT's frame of reference?")
        if n_miss:
            table.notes.append(f"beam {beam.name!r}: {n_miss} of {int(sel.sum())} spots miss the CT")


def _central_rays(table: SpotTable):
    """Start (at the reference plane) and direction of every spot's central ray, grid frame."""
    b, x, y = table.beam_index, table.x_iso_mm, table.y_iso_mm
    d_ref = table.reference_plane_mm
    sx = table.vsad_mm[b, 0]
    sy = table.vsad_mm[b, 1]
    xr = x * (sx - d_ref) / sx
    yr = y * (sy - d_ref) / sy
    start = (table.iso[b] - d_ref * table.direction[b] + xr[:, None] * table.axis_x[b]
             + yr[:, None] * table.axis_y[b])
    dvec = table.direction[b] + (x / sx)[:, None] * table.axis_x[b] + (y / sy)[:, None] * table.axis_y[b]
    dvec = dvec / np.linalg.norm(dvec, axis=1)[:, None]
    return start, dvec
