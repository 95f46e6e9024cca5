"""`python -m slmlab`: see slmlab.cli."""

import os
import sys

from .cli import main
from .distributed import world_size_from_env

code = main()
if world_size_from_env() > 1:
    # Under torchrun the run is saved and the process group left (distributed.session) by now.
    # Exit without Python's and C++'s teardown: with gloo a rank sometimes aborted there
    # ("terminate called without an active exception", SIGABRT) after a finished run, 2 of 12
    # two-process runs on a 2-core CPU, which made torchrun report the whole run as failed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
sys.exit(code)
