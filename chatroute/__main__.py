"""`python -m chatroute`, the same as the `chatroute` command."""

import sys

from chatroute.cli import main

sys.exit(main())
