"""Entry script of the PyInstaller bundle: the ``braggdesk`` command, frozen.

PyInstaller needs a script, not a console_scripts entry point. ``freeze_support()`` comes
first because Dask's LocalCluster (``--local-cluster``) starts its workers as new processes of
this same executable; in a frozen program those children must run the worker they were
started for instead of the command line.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from braggdesk.cli import main

    sys.exit(main())
