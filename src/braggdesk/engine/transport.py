"""Class II condensed-history proton transport through the voxelised CT, on ``xp`` arrays.

All live particles advance together, one step each per iteration (structure of
arrays, float32).  A step ends at the first of: the voxel boundary, the end of
the particle's range, or a nonelastic nuclear interaction.  Over a step of
water-equivalent length s_w the mean energy loss follows the range-energy table
(E -> R(E) - s_w -> E), with Gaussian (Bohr) straggling; multiple Coulomb
scattering uses Highland's formula integrated over the path (see
physics.water.highland_f) with a random hinge; energy is scored in the voxel where
the step began.  Two nuclear channels end a step: nonelastic events (ICRU 63 cross
sections, physics.secondaries) remove the proton, deposit recoils and alphas locally,
emit secondary protons and deuterons with the ICRU 63 multiplicities and spectra and
let the rest (neutrons, gammas, binding energy) leave; proton-proton elastic events
(physics.elastic) hand part of the energy to a recoil proton and deflect the proton.

Deuterons ride on the proton tables.  At the same velocity a deuteron (mass number a = 2,
charge 1) has the proton's stopping power at T/a, a times its range and a times its
p*beta.  So a particle stores the proton-equivalent energy e = T / a and ``mass`` = a; a step
of water-equivalent length s_w uses s_w / a of proton residual range, deposits a times the
proton-equivalent loss, and scatters 1/a as much.  Deuterons have no nuclear events here
(their ~1 cm path makes them rare).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..model.snapshot import ENERGY_QUANTUM_MEV, ENERGY_SQ_QUANTUM_MEV2, LET_QUANTUM
from .geometry import GridFrame, ray_box_entry
from .media import NUCLEAR_E_MAX_MEV, NUCLEAR_E_MIN_MEV, Media
from .physics import water as water_physics
from .physics.elastic import pp_lab_angles
from .source import DeviceSpots
from .tables import LogGridTable

E_MIN_MEV, E_MAX_MEV = 0.05, 400.0
LOCAL_DEPOSIT_MIN_DENSITY = 0.05  # g/cm3: below this (air) nuclear fragments are not deposited locally
SECONDARY_MIN_MEV = 1.0  # secondary protons below this deposit locally (range < 25 um)
BOUNDARY_PUSH_MM = 1e-3  # steps end this far past a voxel boundary, so the next voxel is found
FLUSH_RECORDS = 4_000_000  # scoring records buffered before one scatter-add


@dataclass
class TransportTables:
    """Everything transport reads, on the device."""

    xp: object
    grid: GridFrame
    n_voxels: int
    rsp: object
    density: object
    inv_x0: object
    material: object
    range_mm: LogGridTable  # water CSDA range (mm) vs energy
    energy_of_range: LogGridTable  # inverse, energy vs range (mm)
    mid_step: LogGridTable  # rows: LET (keV/um), Bohr variance (MeV^2/mm), 13.6/(p beta), S (MeV/mm)
    nonelastic: LogGridTable  # rows: materials, Sigma/rho in 1/mm per g/cm3
    pp_elastic: LogGridTable  # rows: materials, Sigma_pp/rho in 1/mm per g/cm3
    multiplicity: LogGridTable  # rows: materials, secondary protons per nonelastic event
    d_multiplicity: LogGridTable  # rows: materials, secondary deuterons per nonelastic event
    local_fraction: LogGridTable  # rows: materials, energy fraction deposited at a nonelastic event
    proton_quantiles: LogGridTable  # (materials, energies, q): emitted proton energy / incident energy
    deuteron_quantiles: LogGridTable  # (materials, energies, q): emitted deuteron energy / incident energy
    max_protons: int = 1  # slots per nonelastic event: floor(largest multiplicity) + 1
    max_deuterons: int = 1
    nuclear: bool = True
    score_let: bool = True

    @classmethod
    def build(cls, xp, media: Media, grid: GridFrame, nuclear: bool = True,
              score_let: bool = True) -> "TransportTables":
        wt = water_physics.water_table()
        r_min = float(wt.range_g_cm2(np.array([E_MIN_MEV]))[0]) * 10
        r_max = float(wt.range_g_cm2(np.array([E_MAX_MEV]))[0]) * 10
        f32 = lambda a: xp.asarray(a, dtype=xp.float32)  # noqa: E731
        return cls(
            xp=xp, grid=grid, n_voxels=media.n_voxels,
            rsp=f32(media.rsp), density=f32(media.density_g_cm3), inv_x0=f32(media.inv_x0_per_mm),
            material=xp.asarray(media.material_index, dtype=xp.int32),
            range_mm=LogGridTable.sample(xp, lambda e: 10 * wt.range_g_cm2(e), E_MIN_MEV, E_MAX_MEV, 4096),
            energy_of_range=LogGridTable.sample(xp, lambda r: wt.energy_mev(r / 10), r_min, r_max, 4096),
            mid_step=LogGridTable.sample(xp, [
                water_physics.let_kev_um,
                lambda e: 0.1 * water_physics.bohr_variance_mev2_per_g_cm2(e, water_physics.WATER_Z_OVER_A),
                lambda e: water_physics.HIGHLAND_ES_MEV / water_physics.p_beta_mev(e),
                lambda e: 0.1 * wt.stopping_power(e),
            ], E_MIN_MEV, E_MAX_MEV, 2048),
            nonelastic=LogGridTable.sample(xp, media.nonelastic_per_mm_unit_density, NUCLEAR_E_MIN_MEV,
                                           NUCLEAR_E_MAX_MEV, 512),
            pp_elastic=LogGridTable.sample(xp, media.pp_elastic_per_mm_unit_density, NUCLEAR_E_MIN_MEV,
                                           NUCLEAR_E_MAX_MEV, 512),
            multiplicity=LogGridTable.from_values(xp, media.proton_multiplicity, NUCLEAR_E_MIN_MEV, NUCLEAR_E_MAX_MEV),
            d_multiplicity=LogGridTable.from_values(xp, media.deuteron_multiplicity, NUCLEAR_E_MIN_MEV,
                                                    NUCLEAR_E_MAX_MEV),
            local_fraction=LogGridTable.from_values(xp, media.local_energy_fraction, NUCLEAR_E_MIN_MEV,
                                                    NUCLEAR_E_MAX_MEV),
            proton_quantiles=LogGridTable.from_values(xp, media.proton_quantile_fraction, NUCLEAR_E_MIN_MEV,
                                                      NUCLEAR_E_MAX_MEV),
            deuteron_quantiles=LogGridTable.from_values(xp, media.deuteron_quantile_fraction, NUCLEAR_E_MIN_MEV,
                                                        NUCLEAR_E_MAX_MEV),
            max_protons=int(np.floor(float(np.max(media.proton_multiplicity, initial=0.0)))) + 1,
            max_deuterons=int(np.floor(float(np.max(media.deuteron_multiplicity, initial=0.0)))) + 1,
            nuclear=nuclear,
            score_let=score_let,
        )


def highland_f(xp, t):
    """F(t) = t (1 + 0.038 ln t)^2, the log term frozen below t = 1e-4 (as physics.water.highland_f)."""
    c = 1.0 + 0.038 * xp.log(xp.maximum(t, 1e-4))
    return t * c * c


@dataclass
class Tally:
    """Device accumulators (int64 counts of quanta) and the record buffer feeding them."""

    xp: object
    n_voxels: int
    energy: object = None
    energy_sq: object = None
    let_num: object = None
    nuclear_local: object = None  # energy deposited locally at nonelastic events (not in the LET average)
    _buf: dict = field(default_factory=dict)
    _count: int = 0

    def __post_init__(self) -> None:
        z = lambda: self.xp.zeros(self.n_voxels, dtype=self.xp.int64)  # noqa: E731
        self.energy, self.energy_sq, self.let_num, self.nuclear_local = z(), z(), z(), z()
        self._buf = {"energy": [], "energy_sq": [], "let_num": [], "nuclear_local": []}

    def add(self, name: str, voxels, quanta) -> None:
        """Queue integer-valued float64 quanta for ``voxels``; summed exactly in :meth:`flush`."""
        if voxels.size:
            self._buf[name].append((voxels, quanta))
            self._count += int(voxels.size)
            if self._count > FLUSH_RECORDS:
                self.flush()

    def flush(self) -> None:
        xp = self.xp
        for name, items in self._buf.items():
            if not items:
                continue
            v = xp.concatenate([a for a, _ in items])
            q = xp.concatenate([b for _, b in items])
            # float64 sums of integers stay exact below 2**53: identical in any summation order
            s = xp.bincount(v, weights=q, minlength=self.n_voxels)
            acc = getattr(self, name)
            acc += xp.rint(s).astype(xp.int64)
            items.clear()
        self._count = 0


class Particles:
    """Structure of arrays for the live particles of a batch."""

    FIELDS = ("x", "y", "z", "u", "v", "w", "e", "t_x0", "mfp", "pend_vox", "pend_q", "primary", "mass")

    def __init__(self, **arrays):
        for k in self.FIELDS:
            setattr(self, k, arrays[k])

    @property
    def n(self) -> int:
        return int(self.e.size)

    def keep(self, mask) -> None:
        for k in self.FIELDS:
            setattr(self, k, getattr(self, k)[mask])

    def extend(self, xp, other: "Particles") -> None:
        for k in self.FIELDS:
            setattr(self, k, xp.concatenate([getattr(self, k), getattr(other, k)]))


def _quanta(xp, energy_mev):
    """Energy in integer-valued float64 quanta (exact to sum in any order below 2**53)."""
    return xp.rint(energy_mev.astype(xp.float64) * (1.0 / ENERGY_QUANTUM_MEV))


def transport_batch(tables: TransportTables, spots: DeviceSpots, rng, n_primaries: int,
                    range_shifter=None) -> tuple[Tally, dict[str, int]]:
    """Simulate ``n_primaries`` histories; returns the tallies and event counters."""
    xp = tables.xp
    grid = tables.grid
    pos, dvec, energy, beam = spots.sample(rng, n_primaries)
    if range_shifter is not None:
        pos, dvec, energy = range_shifter(xp, rng, pos, dvec, energy, beam)
    counters = {"primaries": n_primaries, "primaries_missing_ct": 0, "nonelastic_primary": 0,
                "nonelastic_secondary": 0, "secondary_protons": 0, "secondary_deuterons": 0, "pp_elastic": 0,
                "steps": 0}
    # drift in air to the CT
    t_in, t_out = ray_box_entry(xp, pos, dvec, grid.size_mm)
    hit = (t_in < t_out) & (t_out > 0) & (energy > 0)
    counters["primaries_missing_ct"] = int(n_primaries - int(hit.sum()))
    t_in = xp.maximum(t_in, 0.0)
    pos = pos + (t_in + BOUNDARY_PUSH_MM)[:, None] * dvec
    idx = xp.nonzero(hit)[0]
    n = int(idx.size)
    f32 = xp.float32
    p = Particles(
        x=pos[idx, 0].astype(f32), y=pos[idx, 1].astype(f32), z=pos[idx, 2].astype(f32),
        u=dvec[idx, 0].astype(f32), v=dvec[idx, 1].astype(f32), w=dvec[idx, 2].astype(f32),
        e=energy[idx].astype(f32), t_x0=xp.zeros(n, f32),
        mfp=rng.standard_exponential(n, dtype=f32),
        pend_vox=xp.full(n, -1, xp.int32), pend_q=xp.zeros(n, xp.float64),
        primary=xp.ones(n, dtype=bool), mass=xp.ones(n, f32),
    )
    tally = Tally(xp, tables.n_voxels)
    di, dj, dk = (float(s) for s in grid.spacing_mm)
    ni, nj, nk = grid.shape_ijk
    while p.n:
        counters["steps"] += p.n
        _step(tables, tally, rng, p, counters, di, dj, dk, ni, nj, nk)
    tally.flush()
    return tally, counters


def _flush_pending(xp, tally: Tally, p: Particles, mask) -> None:
    sel = mask & (p.pend_vox >= 0)
    q = p.pend_q[sel]
    tally.add("energy_sq", p.pend_vox[sel], xp.rint(q * q * (ENERGY_QUANTUM_MEV**2 / ENERGY_SQ_QUANTUM_MEV2)))


def _step(tb: TransportTables, tally: Tally, rng, p: Particles, counters, di, dj, dk, ni, nj, nk) -> None:
    xp = tb.xp
    f32 = xp.float32
    ix = xp.floor(p.x / di).astype(xp.int32)
    iy = xp.floor(p.y / dj).astype(xp.int32)
    iz = xp.floor(p.z / dk).astype(xp.int32)
    inside = (ix >= 0) & (ix < ni) & (iy >= 0) & (iy < nj) & (iz >= 0) & (iz < nk) & (p.e > 0)
    if not bool(inside.all()):
        _flush_pending(xp, tally, p, ~inside)
        p.keep(inside)
        ix, iy, iz = ix[inside], iy[inside], iz[inside]
        if not p.n:
            return
    vox = (iz * nj + iy) * ni + ix
    rsp = tb.rsp[vox]
    s_geo = xp.minimum(xp.minimum(_to_boundary(xp, p.x, p.u, ix, di), _to_boundary(xp, p.y, p.v, iy, dj)),
                       _to_boundary(xp, p.z, p.w, iz, dk))
    # distance to the end of range (water-equivalent range over the voxel's RSP; a times the
    # proton-equivalent range for mass number a)
    mass = p.mass
    r_w = tb.range_mm(xp, p.e)
    s_stop = mass * r_w / xp.maximum(rsp, f32(1e-9))
    # distance to a nuclear event (nonelastic or p-p elastic): remaining mean free paths over
    # the macroscopic cross section at the step's start
    if tb.nuclear:
        rho, row = tb.density[vox], tb.material[vox]
        rho = xp.where(mass == 1, rho, f32(0))  # protons only
        node = tb.nonelastic.node(xp, p.e)  # the two tables share one grid
        sigma_pp = rho * tb.pp_elastic.at(xp, node, row)
        sigma = rho * tb.nonelastic.at(xp, node, row) + sigma_pp
        s_nuc = p.mfp / xp.maximum(sigma, f32(1e-12))
        s = xp.minimum(xp.minimum(s_geo, s_stop), s_nuc)
        stops = s_stop <= xp.minimum(s_geo, s_nuc)
        nuc = (~stops) & (s_nuc < s_geo)
    else:
        s = xp.minimum(s_geo, s_stop)
        stops = s_stop <= s_geo
        nuc = None
    s_w = s * rsp
    r_used = s_w / mass  # proton residual range used by this step
    e_mid = tb.energy_of_range(xp, r_w - f32(0.5) * r_used)
    let, bohr_var, highland_k, stopping = tb.mid_step.rows_at(xp, e_mid)
    g = rng.standard_normal((3, p.n), dtype=f32)
    # mean loss from the range table; Bohr straggling as a range fluctuation, clipped symmetrically
    # to +-s_w so the mean loss is kept where the Gaussian is too wide (thin steps, air)
    fluct = xp.clip(xp.sqrt(bohr_var * s_w) * g[0] / (stopping * mass), -r_used, r_used)
    r_end = r_w - r_used + fluct
    e_new = xp.where(stops | (r_end <= 0), f32(0), tb.energy_of_range(xp, xp.maximum(r_end, f32(1e-6))))
    # the loss is a difference on one table, E(R) - E(R - s_w): the round trip E(R(E)) != E
    # of two interpolated tables (~1e-5 relative) would otherwise bias thin steps (air)
    e_start = xp.where(stops, p.e, tb.energy_of_range(xp, r_w))
    de = xp.maximum(e_start - e_new, f32(0)) * mass
    # scattering: Highland integrated over the path (F(t + dt) - F(t)), random hinge
    dt = s * tb.inv_x0[vox]
    theta0 = highland_k / mass * xp.sqrt(xp.maximum(highland_f(xp, p.t_x0 + dt) - highland_f(xp, p.t_x0), f32(0)))
    a = s * rng.random(p.n, dtype=f32)
    p.x += a * p.u
    p.y += a * p.v
    p.z += a * p.w
    _deflect(xp, p, theta0 * g[1], theta0 * g[2])
    b = s - a
    p.x += b * p.u
    p.y += b * p.v
    p.z += b * p.w
    p.t_x0 += dt
    # scoring: ionisation energy and its LET weight; history-by-history via the pending deposit
    q = _quanta(xp, de)
    if tb.score_let:
        tally.add("let_num", vox, xp.rint(de.astype(xp.float64) * let * (1.0 / LET_QUANTUM)))
    children = []
    removed = None
    if nuc is not None:
        p.mfp -= sigma * s
        if bool(nuc.any()):
            idx = xp.nonzero(nuc)[0]
            elastic = rng.random(int(idx.size), dtype=f32) * sigma[idx] < sigma_pp[idx]
            local = xp.zeros(int(idx.size), dtype=f32)
            if bool(elastic.any()):
                sel = xp.nonzero(elastic)[0]
                local[sel], child = _pp_elastic(tb, rng, p, idx[sel], e_new, counters)
                children.append(child)
            if not bool(elastic.all()):
                sel = xp.nonzero(~elastic)[0]
                local[sel], child = _nonelastic(tb, rng, p, idx[sel], vox, e_new, counters)
                children.append(child)
                removed = xp.zeros(p.n, dtype=bool)
                removed[idx[sel]] = True
            q_local = _quanta(xp, local)
            tally.add("nuclear_local", vox[idx], q_local)
            q[idx] = q[idx] + q_local
    tally.add("energy", vox, q)
    same = p.pend_vox == vox
    _flush_pending(xp, tally, p, ~same)
    p.pend_q = xp.where(same, p.pend_q + q, q)
    p.pend_vox = vox
    dead = stops | (e_new <= 0) if removed is None else stops | removed | (e_new <= 0)
    p.e = e_new
    if bool(dead.any()):
        _flush_pending(xp, tally, p, dead)
        p.keep(~dead)
    for child in children:
        if child is not None:
            p.extend(xp, child)


def _deflect(xp, p: Particles, tx, ty) -> None:
    """Small-angle deflection by projected angles (tx, ty) about axes normal to the direction.

    u' = u + tx e1 + ty e2 with e1 = (u w, v w, -(1 - w^2)) / sqrt(1 - w^2) and
    e2 = (-v, u, 0) / sqrt(1 - w^2), renormalised; exact to second order in the angle.
    Directions within 1e-3 of the k axis use the i axis as reference instead.
    """
    u, v, w = p.u, p.v, p.w
    near_k = xp.abs(w) > 0.999
    # rotate the frame so that the reference axis is never parallel to the direction
    a_, b_, c_ = xp.where(near_k, w, u), xp.where(near_k, u, v), xp.where(near_k, v, w)
    rho = xp.sqrt(xp.maximum(1 - c_ * c_, xp.float32(1e-12)))
    na = a_ + (a_ * c_ * tx - b_ * ty) / rho
    nb = b_ + (b_ * c_ * tx + a_ * ty) / rho
    nc = c_ - rho * tx
    norm = 1 / xp.sqrt(na * na + nb * nb + nc * nc)
    na, nb, nc = na * norm, nb * norm, nc * norm
    p.u = xp.where(near_k, nb, na)
    p.v = xp.where(near_k, nc, nb)
    p.w = xp.where(near_k, na, nc)


def _to_boundary(xp, x, u, i, d):
    """Distance along the direction cosine u from x until the coordinate is BOUNDARY_PUSH_MM past
    the next boundary of voxel i (size d): past it along that axis, so a grazing particle
    cannot stall on a boundary that float32 rounding would not let it cross."""
    tiny = xp.float32(1e-20)
    safe_u = xp.where(xp.abs(u) < tiny, tiny, u)
    edge = xp.where(u > 0, (i + 1) * d + BOUNDARY_PUSH_MM, i * d - BOUNDARY_PUSH_MM).astype(xp.float32)
    return xp.where(xp.abs(u) < tiny, xp.float32(1e30), (edge - x) / safe_u)


def deflect_directions(xp, d, tx, ty):
    """Directions (n, 3) turned by projected angles tx, ty (exact rotation, any angle)."""
    return xp.stack(_rotate(xp, d[:, 0], d[:, 1], d[:, 2], tx, ty), axis=1)


def _rotate(xp, u, v, w, tx, ty):
    """Directions (u, v, w) turned by projected angles tx, ty about two axes normal to them: new (u, v, w)."""
    # an orthonormal pair perpendicular to the direction
    use_z = xp.abs(w) < 0.9
    zero = xp.zeros_like(w)
    ax_x = xp.where(use_z, -v, zero)
    ax_y = xp.where(use_z, u, -w)
    ax_z = xp.where(use_z, zero, v)
    norm = xp.sqrt(ax_x * ax_x + ax_y * ax_y + ax_z * ax_z)
    ax_x, ax_y, ax_z = ax_x / norm, ax_y / norm, ax_z / norm
    bx = v * ax_z - w * ax_y
    by = w * ax_x - u * ax_z
    bz = u * ax_y - v * ax_x
    theta2 = tx * tx + ty * ty
    ct = xp.cos(xp.sqrt(theta2))
    st_over = xp.where(theta2 > 0, xp.sin(xp.sqrt(theta2)) / xp.sqrt(xp.maximum(theta2, 1e-30)), 1.0)
    nu = ct * u + st_over * (tx * ax_x + ty * bx)
    nv = ct * v + st_over * (tx * ax_y + ty * by)
    nw = ct * w + st_over * (tx * ax_z + ty * bz)
    n = xp.sqrt(nu * nu + nv * nv + nw * nw)
    return nu / n, nv / n, nw / n


def _new_particles(xp, rng, p: Particles, src, energy, theta, phi, mass: int = 1) -> Particles:
    """Secondary protons (mass 1) or deuterons (mass 2) of kinetic energy ``energy`` born at the
    positions of particles ``src``, turned by (theta, phi)."""
    f32 = xp.float32
    n = int(src.size)
    child = Particles(
        x=p.x[src], y=p.y[src], z=p.z[src], u=p.u[src], v=p.v[src], w=p.w[src],  # gathers: copies
        e=(energy / f32(mass)).astype(f32), t_x0=xp.zeros(n, f32), mfp=rng.standard_exponential(n, dtype=f32),
        pend_vox=xp.full(n, -1, xp.int32), pend_q=xp.zeros(n, xp.float64), primary=xp.zeros(n, dtype=bool),
        mass=xp.full(n, mass, f32),
    )
    child.u, child.v, child.w = _rotate(xp, child.u, child.v, child.w, theta * xp.cos(phi), theta * xp.sin(phi))
    return child


def _emit(tb: TransportTables, rng, p: Particles, idx, e, e_tab, row, multiplicity: LogGridTable,
          quantiles: LogGridTable, k_max: int, mass: int):
    """Secondaries of one kind for the events ``idx``: (energy of those under the transport cut per
    event, the transported ones or None).

    floor(M) or floor(M) + 1 particles per event (mean M), each energy drawn from the spectrum
    independently.  The data carry no correlation between the particles of one event, so the
    energy per event is right on average (M times the spectrum's mean, as ICRU 63 says) while
    a single event may hand out more than it had; capping such events would take 11 % of the
    secondary-proton energy away at 150 MeV.  The angle follows quasi-free kinematics,
    cos(theta) = sqrt(E_s / E): fast particles forward, slow (evaporation) ones wide.
    """
    xp = tb.xp
    f32 = xp.float32
    n = int(idx.size)
    mult = multiplicity(xp, e_tab, row=row)
    rnd = rng.random((1 + 2 * k_max, n), dtype=f32)
    whole = xp.floor(mult)
    count = whole + (rnd[0] < mult - whole)
    active = xp.arange(k_max, dtype=f32)[:, None] < count[None, :]  # (slot, event)
    # all slots in one lookup: slot-major flat arrays of k_max * n
    u = rnd[1:1 + k_max].reshape(-1)
    e_s = quantiles.quantile(xp, xp.tile(e_tab, k_max), xp.tile(row, k_max), u).reshape(k_max, n) * e[None, :]
    e_s = xp.where(active, e_s, f32(0))
    emit = active & (e_s >= SECONDARY_MIN_MEV)
    slow = xp.where(active & ~emit, e_s, f32(0)).sum(axis=0)
    flat = xp.nonzero(emit.reshape(-1))[0]
    if not flat.size:
        return slow, None
    event = flat % n
    es = e_s.reshape(-1)[flat]
    theta = xp.arccos(xp.sqrt(xp.clip(es / xp.maximum(e[event], f32(1e-6)), 0, 1)))
    phi = f32(2 * math.pi) * rnd[1 + k_max:].reshape(-1)[flat]
    return slow, _new_particles(xp, rng, p, idx[event], es, theta, phi, mass=mass)


def _nonelastic(tb: TransportTables, rng, p: Particles, idx, vox, e_new, counters):
    """Nonelastic events of particles ``idx``: (energy deposited on the spot per event, secondaries).

    The material's ICRU 63 data (physics.secondaries) give the local energy fraction (heavy
    recoils and alphas) and the multiplicities and spectra of secondary protons and deuterons,
    which are transported (:func:`_emit`); those under SECONDARY_MIN_MEV deposit on the spot.
    Neutrons, gammas and the binding energy leave.  In voxels below LOCAL_DEPOSIT_MIN_DENSITY
    (air) the fragments would travel far, so their energy is not deposited there.
    """
    xp = tb.xp
    f32 = xp.float32
    n = int(idx.size)
    n_primary = int(p.primary[idx].sum())
    counters["nonelastic_primary"] += n_primary
    counters["nonelastic_secondary"] += n - n_primary
    e = e_new[idx]
    row = tb.material[vox[idx]]
    e_tab = xp.maximum(e, f32(NUCLEAR_E_MIN_MEV))
    f_local = xp.clip(tb.local_fraction(xp, e_tab, row=row), 0, 1)
    local = xp.where(tb.density[vox[idx]] < LOCAL_DEPOSIT_MIN_DENSITY, f32(0), e * f_local)
    slow_p, protons = _emit(tb, rng, p, idx, e, e_tab, row, tb.multiplicity, tb.proton_quantiles, tb.max_protons, 1)
    slow_d, deuterons = _emit(tb, rng, p, idx, e, e_tab, row, tb.d_multiplicity, tb.deuteron_quantiles,
                              tb.max_deuterons, 2)
    counters["secondary_protons"] += 0 if protons is None else protons.n
    counters["secondary_deuterons"] += 0 if deuterons is None else deuterons.n
    if protons is None or deuterons is None:
        return local + slow_p + slow_d, protons if protons is not None else deuterons
    protons.extend(xp, deuterons)
    return local + slow_p + slow_d, protons


def _pp_elastic(tb: TransportTables, rng, p: Particles, idx, e_new, counters):
    """Proton-proton elastic events of particles ``idx`` (physics.elastic): the proton keeps
    going with T - T2, turned by theta1; the recoil gets T2 at theta2 on the opposite azimuth.
    Recoils under SECONDARY_MIN_MEV deposit on the spot (returned per event)."""
    xp = tb.xp
    f32 = xp.float32
    n = int(idx.size)
    counters["pp_elastic"] += n
    e = e_new[idx]
    rnd = rng.random((2, n), dtype=f32)
    cos_cm = f32(2) * rnd[0] - f32(1)
    t2 = (e * (f32(1) - cos_cm) * f32(0.5)).astype(f32)
    theta1, theta2 = pp_lab_angles(xp, e, cos_cm)
    phi = f32(2 * math.pi) * rnd[1]
    emit = xp.nonzero(t2 >= SECONDARY_MIN_MEV)[0]
    child = (_new_particles(xp, rng, p, idx[emit], t2[emit], theta2[emit].astype(f32), phi[emit] + f32(math.pi))
             if emit.size else None)
    p.u[idx], p.v[idx], p.w[idx] = _rotate(xp, p.u[idx], p.v[idx], p.w[idx], (theta1 * xp.cos(phi)).astype(f32),
                                           (theta1 * xp.sin(phi)).astype(f32))
    e_new[idx] = e - t2
    p.mfp[idx] = rng.standard_exponential(n, dtype=f32)
    if child is not None:
        counters["secondary_protons"] += child.n
    return xp.where(t2 >= SECONDARY_MIN_MEV, f32(0), t2), child
