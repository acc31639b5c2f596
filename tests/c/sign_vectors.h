/*
 * The SHA-512 and Ed25519 vector checks (c_runtime/src/crypto/sign.c), shared by the host
 * driver (tests/c/test_sign.c, under ASan and UBSan) and the Cortex-M4 firmware
 * (tests/c/test_sign_m4.c, under QEMU), so both run exactly the same checks on the same lines.
 * Fed by tests/test_crypto.py.
 *
 * One vector per line, hex fields separated by single spaces, "-" for empty:
 *   sha512 MESSAGE DIGEST            one-shot, in two and three pieces, and byte by byte
 *   ed25519 PUBLIC MESSAGE SIGNATURE must verify (OOC_OK)
 *   ed25519bad PUBLIC MESSAGE SIG    must be refused with OOC_ERR_SIGNATURE
 * No stdio, no allocation: the firmware has neither.
 */
#ifndef OOC_TEST_SIGN_VECTORS_H
#define OOC_TEST_SIGN_VECTORS_H

/* Longest line the drivers accept (a 2 KiB message in hex plus the other fields). */
#define SIGN_MAX_LINE 4608

/* Check one vector line (modified in place); NULL when it passes, else the reason. */
const char *sign_check_line(char *line);

#endif /* OOC_TEST_SIGN_VECTORS_H */
