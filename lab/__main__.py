"""`python -m lab` runs the CLI."""

import sys

from lab.cli import main

sys.exit(main())
