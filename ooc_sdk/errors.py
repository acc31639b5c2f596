"""The exception tree of the SDK.

The library raises, the CLI talks: every failure a user can cause (bad file,
unsupported model, bad option value) is a subclass of :class:`OocError` whose
message is one self-contained line.  ``ooc_sdk.cli`` prints that line and exits
with status 2.  Anything else escaping the library is a bug.
"""

from __future__ import annotations


class OocError(Exception):
    """Base of every error the SDK reports to a user."""


class InvalidArgumentError(OocError):
    """An option or argument value is malformed or out of range."""


class ModelError(OocError):
    """A problem with an input model."""


class InvalidModelError(ModelError):
    """The file is not a well-formed TFLite flatbuffer (corrupt, truncated, inconsistent)."""


class UnsupportedModelError(ModelError):
    """A well-formed model that uses an operator, type or option ooc does not support."""


class ToolError(OocError):
    """An external tool the SDK needs is missing or failed (compiler, interpreter)."""


class GoldenError(ToolError):
    """The reference interpreter (tflite-micro) rejected the model or crashed."""
