"""`python -m sandbox` runs the same command as `sandbox`."""

import sys

from sandbox.cli import main

sys.exit(main())
