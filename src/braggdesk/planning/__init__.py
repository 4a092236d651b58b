"""Plan design, dose-influence matrices and optimisation: above engine and analysis, below compute."""
