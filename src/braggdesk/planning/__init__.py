"""Plan design, dose-influence matrices and optimisation: above engine and analysis, below compute.

A planning request (model.objectives) becomes beams and spots on the patient, the engine
scores a dose-influence matrix (Dij) per spot, and the optimiser finds non-negative spot
weights that meet the objectives; compute/ runs the Dij on any runner, and the GUI and CLI
drive the whole loop.  Submodules are imported by name; this package imports none of them.
"""
