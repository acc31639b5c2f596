"""ooc: run int8 neural networks far larger than a microcontroller's SRAM.

The SDK turns a ``.tflite`` model into a plan, an encrypted flash image and C
sources for the ooc runtime.  This package is the library; the ``ooc_sdk.cli``
package is the command line over it (``ooc``, or ``python -m ooc_sdk``).  Every
error the library raises derives from :class:`ooc_sdk.errors.OocError`; an
:class:`~ooc_sdk.errors.InvalidArgumentError` names the API parameters it is
about, which the CLI writes as its flags. :func:`runtime_dir` is the C runtime's directory
(installed with the package; ``ooc --runtime-dir``).
"""

from ooc_sdk.errors import OocError
from ooc_sdk.package_data import runtime_dir

__version__ = "0.1.0"

__all__ = ["OocError", "__version__", "runtime_dir"]
