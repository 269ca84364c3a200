"""``python -m symmle``: the same as the ``symmle`` command."""

import sys

from .cli import main

sys.exit(main())
