"""``python -m proxy`` runs the same command line as ``balena-v6-proxy``."""

import sys

from .cli import main

sys.exit(main())
