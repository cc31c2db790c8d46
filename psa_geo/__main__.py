"""``python -m psa_geo`` runs the ``psa-geo`` command line."""

import sys

from .cli import main

sys.exit(main())
