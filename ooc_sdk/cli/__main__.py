"""``python -m ooc_sdk.cli``: the ``ooc`` command."""

import sys

from ooc_sdk.cli import main

sys.exit(main())
