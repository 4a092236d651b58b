"""``python -m braggdesk``: the ``braggdesk`` command (how a remote node starts ``worker``)."""

import sys

from .cli import main

sys.exit(main())
