"""braggdesk: Monte Carlo proton therapy dose calculation workstation.

Layers (imports point down): model -> io / engine / analysis -> compute ->
viewers / report -> gui / cli.  See DESIGN.md of the project.
"""

__version__ = "0.1.0"
