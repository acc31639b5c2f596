/*
 * ooc runtime error codes: 0 (or a size) is success, a negative OOC_ERR_* a failure.
 *
 * GENERATED from ooc_sdk/formats/errors.py by `python -m ooc_sdk.formats --write-c-headers`; do not
 * edit. ooc_strerror() (ooc.h) names them; ooc_sdk/errors.py maps the image errors to exceptions.
 */
#ifndef OOC_ERRORS_H
#define OOC_ERRORS_H

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define OOC_ERR_STATIC_ASSERT(name, cond) _Static_assert(cond, #name)
#else
#define OOC_ERR_STATIC_ASSERT(name, cond) typedef char ooc_err_assert_##name[(cond) ? 1 : -1]
#endif

enum ooc_error {
    OOC_OK = 0,
    OOC_ERR_ARG = -1, /* a null pointer, a bad index or a size that does not match */
    OOC_ERR_NOMEM = -2, /* the arena is smaller than the model's plan needs */
    OOC_ERR_CORRUPT = -3, /* the model tables are inconsistent */
    OOC_ERR_UNSUPPORTED = -4, /* an operator kind or table version this runtime does not know */
    OOC_ERR_STATE = -5, /* the context is not initialised */
    /* Flash image errors (ooc_image.h). */
    OOC_ERR_IO = -6, /* the port's flash read failed */
    OOC_ERR_FORMAT = -7, /* not an ooc image (bad magic) or a malformed header */
    OOC_ERR_TRUNCATED = -8, /* the image is larger than the flash that holds it */
    OOC_ERR_AUTH = -9, /* a tag did not verify: the image was altered or damaged */
    OOC_ERR_WRONG_KEY = -10, /* the device root key is not the one the key slot was wrapped for */
    OOC_ERR_WRONG_DEVICE = -11, /* the key slot was wrapped for another device (UID) */
    OOC_ERR_ROLLBACK = -12, /* the image's security counter is below the device's */
    OOC_ERR_MODEL = -13, /* the image holds another model or plan than the firmware's */
    /* the image is not signed by a key the device trusts, or its signature does not verify */
    OOC_ERR_SIGNATURE = -14,
    /* a signed image not yet installed on this device, mounted without a work buffer or a port that
       can write */
    OOC_ERR_NOT_INSTALLED = -15,
    /* Activation spill ring errors (ooc_spill.h). */
    OOC_ERR_SPILL_TOO_BIG = -20, /* a spill larger than one sector's record can hold */
    /* the spill's record was overwritten by the ring, or is from another boot or mount */
    OOC_ERR_SPILL_STALE = -21,
    OOC_ERR_SPILL_EXHAUSTED = -22 /* the spill ring's boot counter or sequence reached its limit */
};

OOC_ERR_STATIC_ASSERT(errors_negative, OOC_ERR_ARG < 0);

#endif /* OOC_ERRORS_H */
