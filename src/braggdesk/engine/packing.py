"""The host side of the kernel: a prepared job packed into the flat arrays the kernel reads.

Water tables on log grids (range, its inverse, the mid-step quantities), per-material nuclear
tables (cross sections per unit density; ICRU 63 multiplicities, local energy fractions and
spectra quantiles), per-voxel properties and the source (spots, beams).  Where each thing sits is
:mod:`.kernel.layout`; the physics behind the numbers is :mod:`braggdesk.physics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import GridFrame
from .kernel import layout as L
from .media import NUCLEAR_E_MAX_MEV, NUCLEAR_E_MIN_MEV, Media
from ..physics import water as water_physics
from ..physics.library import get_material
from ..physics.loggrid import LogGrid
from ..physics.material_constants import material_physics
from .source import SpotTable

E_MIN_MEV, E_MAX_MEV = 0.05, 400.0
RANGE_NODES = 4096  # R(E) on an energy grid: a particle's first range
WATER_NODES = 2048  # everything along a track, on a residual-range grid (E(R) to ~1e-5 relative)


@dataclass
class KernelInputs:
    """Everything one job gives the kernel (numpy arrays; a GPU run copies them to the device)."""

    header: np.ndarray  # float64 [HEADER_SIZE]
    tables: np.ndarray  # float32, all tables end to end
    voxels: np.ndarray  # float32 [n_voxels, VOXEL_FIELDS]
    spots: np.ndarray  # float64 [n_spots, SPOT_FIELDS]
    spot_cdf: np.ndarray  # float64 [n_spots], last value 1
    beams: np.ndarray  # float64 [n_beams, BEAM_FIELDS]

    @property
    def n_voxels(self) -> int:
        return int(self.voxels.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.header, self.tables, self.voxels, self.spots, self.spot_cdf, self.beams))


class _TableWriter:
    """Appends tables to one float32 blob and writes their (offset, ln x0, 1/dln x, nodes) to the header."""

    def __init__(self, header: np.ndarray):
        self.header = header
        self.parts: list[np.ndarray] = []
        self.size = 0

    def add(self, slot: int, values: np.ndarray, grid: LogGrid) -> None:
        """``values`` [..., node, rows] sampled at ``grid``'s nodes (node the second-to-last axis, or last)."""
        flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
        self.header[slot + L.LOG_OFFSET] = self.size
        self.header[slot + L.LOG_X0] = grid.log_x0
        self.header[slot + L.LOG_INV_STEP] = grid.inv_dlog
        self.header[slot + L.LOG_NODES] = grid.n
        self.parts.append(flat)
        self.size += flat.size

    def blob(self) -> np.ndarray:
        return np.concatenate(self.parts).astype(np.float32)


def pack(media: Media, grid: GridFrame, spots: SpotTable, *, nuclear: bool = True,
         score_let: bool = True) -> KernelInputs:
    header, tables, voxels = pack_medium(media, grid, nuclear=nuclear, score_let=score_let)
    header[L.H_N_SPOTS] = spots.mean_energy_mev.size
    header[L.H_N_BEAMS] = spots.iso.shape[0]
    spot_rows, cdf = _spot_rows(spots)
    return KernelInputs(header=header, tables=tables, voxels=voxels, spots=spot_rows, spot_cdf=cdf,
                        beams=_beam_rows(spots))


def pack_medium(media: Media, grid: GridFrame, *, nuclear: bool = True,
                score_let: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(header, tables, voxels) of a grid without a source: what the transport needs (the track
    database's recording voxel uses this alone)."""
    header = np.zeros(L.HEADER_SIZE)
    header[[L.H_NI, L.H_NJ, L.H_NK]] = grid.shape_ijk
    header[[L.H_DI, L.H_DJ, L.H_DK]] = grid.spacing_mm
    header[L.H_NUCLEAR] = float(nuclear)
    header[L.H_AIR_RSP] = air_rsp()
    header[L.H_SCORE_LET] = float(score_let)
    writer = _TableWriter(header)
    range_grid = _water_tables(writer)
    n_materials = _nuclear_tables(writer, media, range_grid)
    header[L.H_N_MATERIALS] = n_materials
    return header, writer.blob(), _voxel_rows(media)


def air_rsp() -> float:
    """Relative stopping power of dry air at 20 C (1.205 mg/cm3), the medium between source and CT."""
    return float(material_physics(get_material("Air")).relative_stopping_power)


def _water_tables(writer: _TableWriter) -> LogGrid:
    """R(E) on an energy grid, and E, LET, Bohr variance, 13.6 / (p beta), S on a residual-range grid
    [mm], which it returns."""
    wt = water_physics.water_table()
    energy_grid = LogGrid(E_MIN_MEV, E_MAX_MEV, RANGE_NODES)
    writer.add(L.H_RANGE, 10.0 * wt.range_g_cm2(energy_grid.nodes()), energy_grid)
    r_min = 10.0 * float(wt.range_g_cm2(np.array([E_MIN_MEV]))[0])
    r_max = 10.0 * float(wt.range_g_cm2(np.array([E_MAX_MEV]))[0])
    range_grid = LogGrid(r_min, r_max, WATER_NODES)
    e = wt.energy_mev(range_grid.nodes() / 10.0)
    rows = np.empty((WATER_NODES, L.WATER_ROWS))
    rows[:, L.W_ENERGY] = e
    rows[:, L.W_LET] = water_physics.let_kev_um(e)
    rows[:, L.W_BOHR] = 0.1 * water_physics.bohr_variance_mev2_per_g_cm2(e, water_physics.WATER_Z_OVER_A)
    rows[:, L.W_HIGHLAND] = water_physics.HIGHLAND_ES_MEV / water_physics.p_beta_mev(e)
    rows[:, L.W_STOPPING] = 0.1 * wt.stopping_power(e)
    writer.add(L.H_WATER, rows, range_grid)
    return range_grid


def _nuclear_tables(writer: _TableWriter, media: Media, range_grid: LogGrid) -> int:
    """Cross sections on the residual-range grid [materials, nodes, XS_ROWS] (energies clamped to the
    nuclear data's range) and emission data on an energy grid [materials, nodes, 3 + 2 nq]."""
    n_materials = len(media.nonelastic_per_mm_unit_density)
    e = np.clip(water_physics.water_table().energy_mev(range_grid.nodes() / 10.0), NUCLEAR_E_MIN_MEV,
                NUCLEAR_E_MAX_MEV)
    xs = np.zeros((n_materials, WATER_NODES, L.XS_ROWS))
    for m in range(n_materials):
        xs[m, :, L.XS_NONELASTIC] = media.nonelastic_per_mm_unit_density[m](e)
        xs[m, :, L.XS_PP] = media.pp_elastic_per_mm_unit_density[m](e)
    writer.add(L.H_XS, xs, range_grid)
    protons, deuterons = media.proton_quantile_fraction, media.deuteron_quantile_fraction
    n_nodes, n_quantiles = protons.shape[1], protons.shape[2]
    if deuterons.shape != protons.shape:
        raise ValueError(f"proton and deuteron spectra differ in shape: {protons.shape} vs {deuterons.shape}")
    emit = np.zeros((n_materials, n_nodes, L.EMIT_QUANTILES + 2 * n_quantiles))
    emit[:, :, L.EMIT_PROTONS] = media.proton_multiplicity
    emit[:, :, L.EMIT_DEUTERONS] = media.deuteron_multiplicity
    emit[:, :, L.EMIT_LOCAL] = media.local_energy_fraction
    emit[:, :, L.EMIT_QUANTILES:L.EMIT_QUANTILES + n_quantiles] = protons
    emit[:, :, L.EMIT_QUANTILES + n_quantiles:] = deuterons
    writer.add(L.H_EMIT, emit, LogGrid(NUCLEAR_E_MIN_MEV, NUCLEAR_E_MAX_MEV, n_nodes))
    writer.header[L.H_EMIT_NQ] = n_quantiles
    return n_materials


def _voxel_rows(media: Media) -> np.ndarray:
    rows = np.empty((media.n_voxels, L.VOXEL_FIELDS), dtype=np.float32)
    rows[:, L.V_RSP] = media.rsp
    rows[:, L.V_DENSITY] = media.density_g_cm3
    rows[:, L.V_INV_X0] = media.inv_x0_per_mm
    rows[:, L.V_MATERIAL] = media.material_index
    return rows


def _spot_rows(table: SpotTable) -> tuple[np.ndarray, np.ndarray]:
    n = table.mean_energy_mev.size
    rows = np.zeros((n, L.SPOT_FIELDS))
    rows[:, L.S_BEAM] = table.beam_index
    rows[:, L.S_ENERGY] = table.mean_energy_mev
    rows[:, L.S_ENERGY_SIGMA] = table.energy_sigma_mev
    rows[:, L.S_X] = table.x_iso_mm
    rows[:, L.S_Y] = table.y_iso_mm
    for base, g in ((L.S_G1, table.gaussian1), (L.S_G2, table.gaussian2)):
        rows[:, base + L.G_SIGMA_X] = g.sigma_x_mm
        rows[:, base + L.G_SIGMA_Y] = g.sigma_y_mm
        rows[:, base + L.G_DIV_X] = g.divergence_x_rad
        rows[:, base + L.G_DIV_Y] = g.divergence_y_rad
        rows[:, base + L.G_CORR_X] = g.correlation_x
        rows[:, base + L.G_CORR_Y] = g.correlation_y
    rows[:, L.S_WEIGHT2] = table.weight2
    cdf = np.cumsum(table.protons / table.protons.sum())
    cdf[-1] = 1.0
    return rows, cdf


def _beam_rows(table: SpotTable) -> np.ndarray:
    n_beams = table.iso.shape[0]
    rows = np.zeros((n_beams, L.BEAM_FIELDS))
    rows[:, L.B_ISO:L.B_ISO + 3] = table.iso
    rows[:, L.B_DIR:L.B_DIR + 3] = table.direction
    rows[:, L.B_AX:L.B_AX + 3] = table.axis_x
    rows[:, L.B_AY:L.B_AY + 3] = table.axis_y
    rows[:, L.B_VSAD_X] = table.vsad_mm[:, 0]
    rows[:, L.B_VSAD_Y] = table.vsad_mm[:, 1]
    rows[:, L.B_REFERENCE_PLANE] = table.reference_plane_mm
    for slab in table.range_shifters:
        b = slab.beam_index
        k = int(rows[b, L.B_N_SLABS])
        if k >= L.MAX_SLABS:
            raise ValueError(f"beam {b + 1}: more than {L.MAX_SLABS} range shifters")
        base = L.B_SLABS + k * L.SLAB_FIELDS
        rows[b, base:base + L.SLAB_FIELDS] = (slab.upstream_distance_mm, slab.water_equivalent_mm, slab.thickness_in_x0)
        rows[b, L.B_N_SLABS] = k + 1
    return rows
