"""Where the kernel finds things: indices into the packed arrays that the host builds.

The kernel reads a handful of flat arrays instead of objects, because both targets handle plain
arrays well (on a GPU they are single device buffers):

* ``header`` (float64): grid shape and spacing, switches, and for each table on a log grid its
  offset into ``tables``, ln(x_min), 1 / d(ln x) and node count (``H_*`` below);
* ``tables`` (float32): every physics table, one after another (see :mod:`braggdesk.engine.packing`);
* ``voxels`` (float32, [voxel, V_*]): relative stopping power, density, 1 / radiation length and
  material row, one cache line per voxel;
* ``spots`` (float64, [spot, S_*]) with their cumulative weights ``spot_cdf``, and ``beams``
  (float64, [beam, B_*]): the source;
* ``tally`` (int64, [row, T_*], flat) and ``counters`` (int64, [C_*]): what the kernel writes; a
  row's sums sit side by side, so scoring a voxel touches one cache line.  For a dose, row = voxel.
  For a dose-influence matrix (spot-resolved scoring) ``rows`` maps each voxel to its row among the
  voxels of interest (-1: not scored) and each spot of the batch has its own block of rows: the
  history's block offset sits in its voxel accumulator (``ACC_ROW_OFFSET``).

The per-history scratch (random stream, secondary-particle stack, the history's voxel
accumulator) is described here too, so that the CPU and CUDA launchers size it alike.
"""

from __future__ import annotations

# --- header -------------------------------------------------------------------------------
H_NI, H_NJ, H_NK = 0, 1, 2  # voxels along the grid's i (columns), j (rows), k (slices)
H_DI, H_DJ, H_DK = 3, 4, 5  # voxel size [mm]
H_NUCLEAR = 6  # 1: nonelastic and p-p elastic events on
H_SCORE_LET = 7  # 1: score the LET numerator
H_N_MATERIALS = 8
H_N_SPOTS = 9
H_N_BEAMS = 10
H_EMIT_NQ = 11  # quantiles per emission spectrum
H_AIR_RSP = 28  # relative stopping power of the air between the source and the CT (energy lost on the way)
# log-grid tables: four entries each, (offset into tables, ln x_min, 1 / d ln x, nodes)
H_RANGE = 12  # water CSDA range [mm] of energy [MeV]
H_WATER = 16  # on a grid of residual water range [mm]: WATER_ROWS per node (W_* below)
H_XS = 20  # on the same grid as H_WATER: [material][node][XS_ROWS], Sigma / rho [1/mm per g/cm3]
H_EMIT = 24  # on an energy grid: [material][node][3 + 2 nq]: protons, deuterons per event, local share, quantiles
HEADER_SIZE = 29

LOG_OFFSET, LOG_X0, LOG_INV_STEP, LOG_NODES = 0, 1, 2, 3

# A step reads everything it needs at one residual range: energy, and at the step's middle the LET,
# Bohr straggling variance, Highland's 13.6 MeV / (p beta) and the stopping power.
W_ENERGY, W_LET, W_BOHR, W_HIGHLAND, W_STOPPING = 0, 1, 2, 3, 4
WATER_ROWS = 5
XS_NONELASTIC, XS_PP = 0, 1
XS_ROWS = 2
EMIT_PROTONS, EMIT_DEUTERONS, EMIT_LOCAL, EMIT_QUANTILES = 0, 1, 2, 3

# --- voxels -------------------------------------------------------------------------------
V_RSP, V_DENSITY, V_INV_X0, V_MATERIAL = 0, 1, 2, 3
VOXEL_FIELDS = 4

# --- spots and beams ----------------------------------------------------------------------
S_BEAM, S_ENERGY, S_ENERGY_SIGMA, S_X, S_Y = 0, 1, 2, 3, 4
S_G1 = 5  # first Gaussian: sigma x, sigma y [mm], divergence x, y [rad], correlation x, y
S_WEIGHT2 = 11  # share of the protons in the second Gaussian (0: single Gaussian)
S_G2 = 12  # second Gaussian, same six fields as S_G1
SPOT_FIELDS = 18
G_SIGMA_X, G_SIGMA_Y, G_DIV_X, G_DIV_Y, G_CORR_X, G_CORR_Y = 0, 1, 2, 3, 4, 5

B_ISO = 0  # isocentre (3), grid frame [mm]
B_DIR = 3  # beam direction (3)
B_AX = 6  # spot x axis (3)
B_AY = 9  # spot y axis (3)
B_VSAD_X, B_VSAD_Y = 12, 13  # virtual source to axis distances [mm]
B_REFERENCE_PLANE = 14  # reference plane of the optics, upstream of the isocentre [mm]
B_N_SLABS = 15
B_SLABS = 16  # MAX_SLABS x (distance upstream of the isocentre [mm], water-equivalent [mm], X0s)
SLAB_FIELDS = 3
MAX_SLABS = 4
BEAM_FIELDS = B_SLABS + SLAB_FIELDS * MAX_SLABS

# --- what the kernel writes ---------------------------------------------------------------
T_ENERGY, T_ENERGY_SQ, T_LET, T_NUCLEAR_LOCAL = 0, 1, 2, 3
TALLY_ROWS = 4

C_MISSING_CT = 0  # primaries whose path never enters the CT
C_NONELASTIC_PRIMARY = 1
C_NONELASTIC_SECONDARY = 2
C_SECONDARY_PROTONS = 3
C_SECONDARY_DEUTERONS = 4
C_PP_ELASTIC = 5
C_STEPS = 6
C_STACK_FULL = 7  # secondaries deposited on the spot because the history's stack was full
C_EARLY_FLUSH = 8  # histories whose voxel accumulator filled up and was flushed early
N_COUNTERS = 9
COUNTER_NAMES = ("primaries_missing_ct", "nonelastic_primary", "nonelastic_secondary", "secondary_protons",
                 "secondary_deuterons", "pp_elastic", "steps", "stack_full", "early_flushes")

# --- per-history scratch ------------------------------------------------------------------
P_X, P_Y, P_Z, P_U, P_V, P_W, P_E, P_MASS = 0, 1, 2, 3, 4, 5, 6, 7
PARTICLE_FIELDS = 8
STACK_SIZE = 48  # secondaries waiting in one history

SEG_VOXEL, SEG_DEPOSIT, SEG_LET = 0, 1, 2  # one voxel crossed by the current step: voxel, mean deposit [MeV], LET
SEGMENT_FIELDS = 3
MAX_SEGMENTS = 64  # voxels one step may cross (in air a step ends there)

ACC_VOXEL, ACC_ENERGY, ACC_LET, ACC_USED = 0, 1, 2, 3  # rows of the history's voxel accumulator
ACC_ROWS = 4
# The accumulator's last column is bookkeeping, not a hash slot: the number of slots used (row ACC_USED)
# and the first tally row of the history's block (row ACC_VOXEL; 0 for a dose, spot slot x rows per
# spot for a dose-influence matrix).
ACC_ROW_OFFSET = ACC_VOXEL
ACC_SLOTS_CPU = 1024  # voxels one history may touch before an early flush (3/4 of the slots)
ACC_SLOTS_GPU = 256  # thread-local memory is dear on a GPU: 8 kB per thread for this table
