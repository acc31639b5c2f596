"""``python -m ooc_sdk.formats``: write or check the generated C headers (formats/headers.py)."""

import sys

from ooc_sdk.formats.headers import main

sys.exit(main(sys.argv[1:]))
