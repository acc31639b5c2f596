"""The exception tree of the SDK.

The library raises, the CLI talks: every failure a user can cause (bad file,
unsupported model, bad option value) is a subclass of :class:`OocError` whose
message is one self-contained line.  ``ooc_sdk.cli`` prints that line (with its
flags for the parameters an error names) and exits with
status 2.  Anything else escaping the library is a bug.
"""

from __future__ import annotations

# The C runtime's codes (enum ooc_error): one definition, from which the C header
# ooc/ooc_errors.h is generated; it imports nothing but the header generator.
from ooc_sdk.formats import errors as codes


class OocError(Exception):
    """Base of every error the SDK reports to a user.

    A message that speaks of API parameters names them in backquotes (```rate` must be
    positive``); ``params`` lists the names it uses, so a front end can put its own spelling in
    their place (the CLI writes its flag: ``--rate must be positive``).
    """

    def __init__(self, message: str = "", *, param: str | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param)


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


class ImageError(OocError):
    """A flash image failed a check. ``code`` is the C runtime's OOC_ERR_* value for it."""

    code = codes.ERR_FORMAT


class ImageFormatError(ImageError):
    """Not an ooc image, an unknown format version, or a malformed header (OOC_ERR_FORMAT)."""

    code = codes.ERR_FORMAT


class ImageTruncatedError(ImageError):
    """The image is shorter than its superblock says (OOC_ERR_TRUNCATED)."""

    code = codes.ERR_TRUNCATED


class AuthenticationError(ImageError):
    """A tag did not verify: the image was altered or damaged (OOC_ERR_AUTH)."""

    code = codes.ERR_AUTH


class WrongKeyError(ImageError):
    """The device key is not the one the image's key slot was wrapped for (OOC_ERR_WRONG_KEY)."""

    code = codes.ERR_WRONG_KEY


class WrongDeviceError(ImageError):
    """The image's key slot was wrapped for another device (OOC_ERR_WRONG_DEVICE)."""

    code = codes.ERR_WRONG_DEVICE


class RollbackError(ImageError):
    """The image's security counter is below the device's (OOC_ERR_ROLLBACK)."""

    code = codes.ERR_ROLLBACK


class SignatureError(ImageError):
    """The image is not signed by a trusted key, or its signature or weights digest does not
    verify (OOC_ERR_SIGNATURE)."""

    code = codes.ERR_SIGNATURE


class ModelMismatchError(ImageError):
    """The image holds another model or plan than expected (OOC_ERR_MODEL)."""

    code = codes.ERR_MODEL


def image_error_for(code: int) -> type[ImageError]:
    """The exception class that carries a C runtime OOC_ERR_* ``code`` (ImageError for the
    codes without a class of their own)."""
    return next((cls for cls in ImageError.__subclasses__() if cls.code == code), ImageError)
