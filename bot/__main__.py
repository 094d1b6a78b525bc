"""`python -m bot` is the `afterglow` command line."""

import sys

from bot.cli import main

sys.exit(main())
