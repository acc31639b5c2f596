/*
 * SHA-512 and Ed25519 signature checks (ooc/ooc_crypto.h): thin wrappers over Monocypher's
 * optional Ed25519 module (RFC 8032: SHA-512, not Monocypher's default BLAKE2b), so the rest of
 * the runtime never includes a third-party header. The sources are fetched and pinned by the SDK
 * (ooc_sdk/codegen/thirdparty.py) into c_runtime/third_party/monocypher/.
 */
#include "ooc/ooc.h"
#include "ooc/ooc_crypto.h"

#include "../../third_party/monocypher/monocypher-ed25519.h"

/* ooc_sha512_t must hold Monocypher's context, with its alignment. */
typedef char ooc_sha512_fits[sizeof(crypto_sha512_ctx) <= sizeof(ooc_sha512_t) ? 1 : -1];

static crypto_sha512_ctx *ctx(ooc_sha512_t *h)
{
    return (crypto_sha512_ctx *)(void *)h->opaque;
}

void ooc_sha512_init(ooc_sha512_t *h)
{
    crypto_sha512_init(ctx(h));
}

void ooc_sha512_update(ooc_sha512_t *h, const void *data, size_t len)
{
    crypto_sha512_update(ctx(h), (const uint8_t *)data, len);
}

void ooc_sha512_final(ooc_sha512_t *h, uint8_t digest[64])
{
    crypto_sha512_final(ctx(h), digest);
    ooc_wipe(h, sizeof *h);
}

int ooc_ed25519_verify(const uint8_t signature[64], const uint8_t public_key[32], const uint8_t *msg,
                       size_t len)
{
    return crypto_ed25519_check(signature, public_key, msg, len) == 0 ? OOC_OK : OOC_ERR_SIGNATURE;
}
