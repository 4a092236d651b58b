"""Where the track-repeating mode finds things: the records of a stored track and the packed database.

A track database (Li et al. 2005, Med. Phys. 32; Yepes et al. 2010, Med. Phys. 37) holds whole
proton histories in water, recorded by the full engine (:mod:`.record`).  A history is a flat run
of ``RECORD_FIELDS`` float32 values per record, in the order the full engine made them: legs of the
particle being followed, its nuclear events, ``R_END`` when it stops, then the next particle from the
history's last-in-first-out stack of secondaries, exactly as :mod:`.history` follows them.  So the
re-tracer (:mod:`.retrace`) needs the same stack and nothing else to know which particle a record
belongs to.

Record kinds (field ``F_KIND``; a leg is any record whose first field is >= 0, its water length):

* leg: (water-equivalent length s_w [mm], energy deposited [MeV], the residual proton range at its
  start [mm], the weight of its deposits in the dose-averaged LET [keV/um] (the mean water LET of its
  two ends, :func:`.record.leg_let`), the hinge deflection after it as projected angles per square root of Highland's F increment
  tx, ty [rad] (:mod:`.record`), the water length of the whole step whose hinge this is [mm]; 0 for a
  leg without a deflection);
* ``R_LOCAL``: energy left on the spot by a nuclear event (heavy fragments, sub-MeV secondaries);
* ``R_PUSH``: a secondary onto the stack: its direction in the parent's frame (a, b, d) of
  :func:`.directions.perpendicular_axes`, its proton-equivalent energy and mass number;
* ``R_TURN``: the particle's new direction in its old frame (a p-p elastic collision);
* ``R_END``: the particle stops; take the next one from the stack.
"""

from __future__ import annotations

F_KIND = 0  # >= 0: a leg's water-equivalent length [mm]; < 0: one of the R_* kinds
L_LENGTH, L_DEPOSIT, L_RANGE, L_LET, L_TX, L_TY, L_STEP = 0, 1, 2, 3, 4, 5, 6
E_DEPOSIT = 1  # R_LOCAL
P_A, P_B, P_D, P_ENERGY, P_MASS_NUMBER = 1, 2, 3, 4, 5  # (fields 6: unused)  # R_PUSH (energy proton-equivalent [MeV])
RECORD_FIELDS = 7

R_LOCAL = -1.0
R_PUSH = -2.0
R_TURN = -3.0
R_END = -4.0

# the database's energies, one row each (float64): first track, tracks, energy [MeV], water CSDA range [mm]
D_FIRST, D_COUNT, D_ENERGY, D_RANGE = 0, 1, 2, 3
DB_FIELDS = 4

# the stack of the re-tracer reuses the full engine's particle fields; P_E holds 1 for a particle still
# in the grid, 0 for one (and its descendants) that has left it
ALIVE_FIELD = 6
