"""Qt-free work sessions between compute/ and the GUI, the command line and scripts.

A session holds the rules of one piece of work (what to compute, with which defaults, in which
order) and keeps what it has made; the GUI and the command line only drive it.
"""
