"""`python -m mm7bind ...`: the `mm7bind` command, where the script is not on PATH."""

import sys

from .cli import main

sys.exit(main())
