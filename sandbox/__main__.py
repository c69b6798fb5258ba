"""`python -m sandbox` runs the same command as `sandbox`."""

import sys

from sandbox.commands.entry import main

sys.exit(main())
