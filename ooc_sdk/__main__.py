"""``python -m ooc_sdk``: the ``ooc`` command."""

import sys

from ooc_sdk.cli import main

sys.exit(main())
