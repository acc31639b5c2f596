/*
 * Internal to src/crypto: block-cipher entry points the modes share beyond the public API.
 */
#ifndef OOC_AES_INTERNAL_H
#define OOC_AES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ooc/ooc_crypto.h"

/* CBC-MAC chaining (the body of CMAC, SP 800-38B section 6.2 step 6): for each of the n_blocks
   16-byte blocks of m, x = CIPH_K(x XOR block). In software the chaining value stays in words
   between blocks; with an engine each block goes through ooc_aes_encrypt_blocks(). */
int ooc_aes_cbc_mac(const ooc_aes_t *aes, uint8_t x[16], const uint8_t *m, size_t n_blocks);

#endif /* OOC_AES_INTERNAL_H */
