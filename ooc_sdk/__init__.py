"""ooc: run int8 neural networks far larger than a microcontroller's SRAM.

The SDK turns a ``.tflite`` model into a plan, an encrypted flash image and C
sources for the ooc runtime.  This package is the library; ``ooc_sdk.cli`` is
the command line over it.  Every error the library raises derives from
:class:`ooc_sdk.errors.OocError`.
"""

from ooc_sdk.errors import OocError

__version__ = "0.1.0"

__all__ = ["OocError", "__version__"]
