"""The beam source: Gaussian spots from the beam model, carried through air to the CT.

Each spot's central ray comes from the virtual source (VSAD x, y) through its
position at the isocentre plane.  Around it, the beam model gives a correlated
Gaussian phase space (size, divergence, correlation) and an energy spread at the
model's reference plane.  Particles then drift in a straight line (the model's
optics already describe the spot in air) to where they enter the CT grid; a range
shifter in the beam line is crossed on the way (energy loss, straggling, Highland
scattering over its thickness).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PlanError
from ..model import BeamModel, Plan, RangeShifter
from .geometry import GridFrame, beam_frame, ray_box_entry
from .physics.materials import material_physics


@dataclass
class RangeShifterSlab:
    beam_index: int
    upstream_distance_mm: float  # isocentre to the slab centre, along the beam axis
    water_equivalent_mm: float
    thickness_in_x0: float


@dataclass
class SpotTable:
    """Per-spot arrays (numpy) and per-beam geometry in the grid frame."""

    beam_index: np.ndarray
    mean_energy_mev: np.ndarray
    energy_sigma_mev: np.ndarray
    x_iso_mm: np.ndarray
    y_iso_mm: np.ndarray
    sigma_x_mm: np.ndarray
    sigma_y_mm: np.ndarray
    div_x_rad: np.ndarray
    div_y_rad: np.ndarray
    corr_x: np.ndarray
    corr_y: np.ndarray
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
    cols: dict[str, list] = {k: [] for k in (
        "beam_index", "mean_energy_mev", "energy_sigma_mev", "x_iso_mm", "y_iso_mm", "sigma_x_mm", "sigma_y_mm",
        "div_x_rad", "div_y_rad", "corr_x", "corr_y", "protons")}
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
            cols["sigma_x_mm"].append(np.full(n, optics.sigma_x_mm))
            cols["sigma_y_mm"].append(np.full(n, optics.sigma_y_mm))
            cols["div_x_rad"].append(np.full(n, optics.divergence_x_rad))
            cols["div_y_rad"].append(np.full(n, optics.divergence_y_rad))
            cols["corr_x"].append(np.full(n, optics.correlation_x))
            cols["corr_y"].append(np.full(n, optics.correlation_y))
            cols["protons"].append(mu[keep] * optics.protons_per_mu)
    arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    arrays["beam_index"] = arrays["beam_index"].astype(np.int32)
    if arrays["protons"].sum() <= 0:
        raise PlanError(f"plan {plan.label!r} delivers no protons (all spot weights are zero)")
    table = SpotTable(**arrays, iso=np.array(iso), direction=np.array(dirs), axis_x=np.array(ax),
                      axis_y=np.array(ay), vsad_mm=np.array(vsads, float),
                      reference_plane_mm=float(model.reference_plane_to_isocenter_mm), range_shifters=slabs,
                      notes=notes)
    _check_spots_hit_ct(table, beams, grid)
    return table


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
    t_in, t_out = ray_box_entry(np, start, direction, grid.size_mm)
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


class DeviceSpots:
    """The spot table on the device, with cumulative probabilities for sampling."""

    def __init__(self, table: SpotTable, xp):
        self.xp = xp
        self.table = table
        p = table.protons / table.protons.sum()
        self.cdf = xp.asarray(np.cumsum(p), dtype=xp.float64)
        f = lambda a: xp.asarray(a, dtype=xp.float32)  # noqa: E731
        self.beam_index = xp.asarray(table.beam_index, dtype=xp.int32)
        self.mean_e, self.sig_e = f(table.mean_energy_mev), f(table.energy_sigma_mev)
        self.x_iso, self.y_iso = f(table.x_iso_mm), f(table.y_iso_mm)
        self.sx, self.sy = f(table.sigma_x_mm), f(table.sigma_y_mm)
        self.dx, self.dy = f(table.div_x_rad), f(table.div_y_rad)
        self.cx, self.cy = f(table.corr_x), f(table.corr_y)
        self.iso, self.dir = f(table.iso), f(table.direction)
        self.ax, self.ay = f(table.axis_x), f(table.axis_y)
        self.vsad = f(table.vsad_mm)

    def sample(self, rng, n: int):
        """n primaries at the reference plane: (position (n,3), direction (n,3), energy (n,), beam (n,))."""
        xp = self.xp
        u = rng.random(n, dtype=xp.float64)
        spot = xp.minimum(xp.searchsorted(self.cdf, u, side="right"), self.cdf.size - 1)
        b = self.beam_index[spot]
        z = rng.standard_normal((5, n), dtype=xp.float32)
        d_ref = self.table.reference_plane_mm
        vx, vy = self.vsad[b, 0], self.vsad[b, 1]
        xi, yi = self.x_iso[spot], self.y_iso[spot]
        cx, cy = self.cx[spot], self.cy[spot]
        x = xi * (vx - d_ref) / vx + self.sx[spot] * z[0]
        y = yi * (vy - d_ref) / vy + self.sy[spot] * z[1]
        xp_ = xi / vx + self.dx[spot] * (cx * z[0] + xp.sqrt(xp.maximum(1 - cx * cx, 0)) * z[2])
        yp_ = yi / vy + self.dy[spot] * (cy * z[1] + xp.sqrt(xp.maximum(1 - cy * cy, 0)) * z[3])
        ax, ay, dr = self.ax[b], self.ay[b], self.dir[b]
        pos = self.iso[b] - d_ref * dr + x[:, None] * ax + y[:, None] * ay
        dvec = dr + xp_[:, None] * ax + yp_[:, None] * ay
        dvec /= xp.sqrt((dvec * dvec).sum(axis=1))[:, None]
        energy = xp.maximum(self.mean_e[spot] + self.sig_e[spot] * z[4], 0.0)
        return pos, dvec, energy, b
