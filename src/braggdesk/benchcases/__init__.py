"""The cases ``braggdesk bench`` measures (engine speed, patient loading, gamma), kept apart from the runtime
packages they exercise: they build their own inputs and time them; nothing at run time imports them.
benchmarks/ at the project root holds the longer studies and their recorded figures."""
