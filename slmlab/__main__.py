"""`python -m slmlab`: see slmlab.cli."""

import sys

from .cli import main

sys.exit(main())
