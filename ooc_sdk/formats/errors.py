"""The C runtime's error codes (``enum ooc_error``): every function returns 0 (or a size) on
success and one of these negative codes on failure.

``ooc/ooc_errors.h`` is generated from this module (``python -m ooc_sdk.formats
--write-c-headers``) and included by ooc.h; ooc_sdk/errors.py takes the ``code`` of each
ImageError class from here, so a refusal the host or QEMU runner reports maps to the same
exception the Python image reader raises.
"""

from __future__ import annotations

from ooc_sdk.formats.cheader import CHeader, Check, Enum, Item, Member

OK = 0
ERR_ARG = -1
ERR_NOMEM = -2
ERR_CORRUPT = -3
ERR_UNSUPPORTED = -4
ERR_STATE = -5
ERR_IO = -6
ERR_FORMAT = -7
ERR_TRUNCATED = -8
ERR_AUTH = -9
ERR_WRONG_KEY = -10
ERR_WRONG_DEVICE = -11
ERR_ROLLBACK = -12
ERR_MODEL = -13
ERR_SIGNATURE = -14
ERR_NOT_INSTALLED = -15
ERR_SPILL_TOO_BIG = -20
ERR_SPILL_STALE = -21
ERR_SPILL_EXHAUSTED = -22

ERROR = Enum(
    "ooc_error",
    (
        Member("OK", OK),
        Member("ERR_ARG", ERR_ARG, "a null pointer, a bad index or a size that does not match"),
        Member("ERR_NOMEM", ERR_NOMEM, "the arena is smaller than the model's plan needs"),
        Member("ERR_CORRUPT", ERR_CORRUPT, "the model tables are inconsistent"),
        Member(
            "ERR_UNSUPPORTED",
            ERR_UNSUPPORTED,
            "an operator kind or table version this runtime does not know",
        ),
        Member("ERR_STATE", ERR_STATE, "the context is not initialised"),
        "Flash image errors (ooc_image.h).",
        Member("ERR_IO", ERR_IO, "the port's flash read failed"),
        Member("ERR_FORMAT", ERR_FORMAT, "not an ooc image (bad magic) or a malformed header"),
        Member("ERR_TRUNCATED", ERR_TRUNCATED, "the image is larger than the flash that holds it"),
        Member("ERR_AUTH", ERR_AUTH, "a tag did not verify: the image was altered or damaged"),
        Member(
            "ERR_WRONG_KEY",
            ERR_WRONG_KEY,
            "the device root key is not the one the key slot was wrapped for",
        ),
        Member(
            "ERR_WRONG_DEVICE",
            ERR_WRONG_DEVICE,
            "the key slot was wrapped for another device (UID)",
        ),
        Member("ERR_ROLLBACK", ERR_ROLLBACK, "the image's security counter is below the device's"),
        Member("ERR_MODEL", ERR_MODEL, "the image holds another model or plan than the firmware's"),
        Member(
            "ERR_SIGNATURE",
            ERR_SIGNATURE,
            "the image is not signed by a key the device trusts, or its signature does not verify",
        ),
        Member(
            "ERR_NOT_INSTALLED",
            ERR_NOT_INSTALLED,
            "a signed image not yet installed on this device, mounted without a work buffer or "
            "a port that can write",
        ),
        "Activation spill ring errors (ooc_spill.h).",
        Member(
            "ERR_SPILL_TOO_BIG",
            ERR_SPILL_TOO_BIG,
            "a spill larger than one sector's record can hold",
        ),
        Member(
            "ERR_SPILL_STALE",
            ERR_SPILL_STALE,
            "the spill's record was overwritten by the ring, or is from another boot or mount",
        ),
        Member(
            "ERR_SPILL_EXHAUSTED",
            ERR_SPILL_EXHAUSTED,
            "the spill ring's boot counter or sequence reached its limit",
        ),
    ),
)

# name -> code of every error (OK excluded)
CODES = {name: code for name, code in ERROR.values().items() if code < 0}
assert len(CODES) == len(ERROR.values()) - 1, "every code but OK is negative"


def _c_sections() -> list[list[Item]]:
    # Success is 0 or a positive size, so every error is negative.
    highest = max(CODES, key=lambda name: CODES[name])
    return [[ERROR], [Check("errors_negative", f"OOC_{highest} < 0")]]


C_HEADER = CHeader(
    module=__name__,
    filename="ooc_errors.h",
    title="ooc runtime error codes: 0 (or a size) is success, a negative OOC_ERR_* a failure.",
    prefix="OOC",
    tag="ERR",
    type_prefix="ooc_err_",
    sections=_c_sections,
    about="ooc_strerror() (ooc.h) names them; ooc_sdk/errors.py maps the image errors to "
    "exceptions.",
)
