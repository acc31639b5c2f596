/*
 * Error paths of the public API: every bad argument or inconsistent table gives
 * an error code, never a crash (the test is built with ASan and UBSan).
 * Built by tests/test_c_api.py against a generated model whose first operator is a
 * CONV_2D: -DTEST_HEADER='"ooc_model_x.h"' -DTEST_MODEL=ooc_model_x -DTEST_ARENA=...
 */
#include <stdio.h>
#include <string.h>

#include "ooc/ooc.h"
#include "ooc/ooc_kernels.h"
#include TEST_HEADER

#include "check.h"

static union {
    uint32_t align;
    uint8_t bytes[TEST_ARENA + 8u];
} arena;

static ooc_tensor_t tensors[1024];
static ooc_op_t ops[1024];

static int init_with(const ooc_model_t *model, uint32_t arena_bytes)
{
    struct ooc_config cfg;
    ooc_ctx_t ctx;
    memset(&cfg, 0, sizeof cfg);
    cfg.arena = arena.bytes;
    cfg.arena_bytes = arena_bytes;
    return ooc_init(&ctx, model, &cfg);
}

/* A mutable copy of the model whose tables the tests can damage. */
static ooc_model_t copy_model(void)
{
    ooc_model_t m = TEST_MODEL;
    memcpy(tensors, m.tensors, m.n_tensors * sizeof tensors[0]);
    memcpy(ops, m.ops, m.n_ops * sizeof ops[0]);
    m.tensors = tensors;
    m.ops = ops;
    return m;
}

int main(void)
{
    struct ooc_config cfg;
    ooc_ctx_t ctx;
    ooc_model_t m;
    ooc_conv_params_t conv;
    static uint8_t in[1 << 20], out[1 << 16];
    int32_t in_bytes, out_bytes;
    unsigned i;

    memset(&cfg, 0, sizeof cfg);
    memset(&ctx, 0, sizeof ctx);
    cfg.arena = arena.bytes;
    cfg.arena_bytes = TEST_ARENA;

    /* null pointers and bad config */
    CHECK(ooc_init(NULL, &TEST_MODEL, &cfg) == OOC_ERR_ARG);
    CHECK(ooc_init(&ctx, NULL, &cfg) == OOC_ERR_ARG);
    CHECK(ooc_init(&ctx, &TEST_MODEL, NULL) == OOC_ERR_ARG);
    cfg.arena = NULL;
    CHECK(ooc_init(&ctx, &TEST_MODEL, &cfg) == OOC_ERR_ARG);
    cfg.arena = arena.bytes + 1; /* unaligned */
    CHECK(ooc_init(&ctx, &TEST_MODEL, &cfg) == OOC_ERR_ARG);
    cfg.arena = arena.bytes;

    /* not initialised */
    CHECK(ooc_invoke(&ctx) == OOC_ERR_STATE);
    CHECK(ooc_invoke(NULL) == OOC_ERR_STATE);
    CHECK(ooc_input_bytes(&ctx, 0) == OOC_ERR_STATE);

    /* the arena does not fit the plan */
    CHECK(init_with(&TEST_MODEL, TEST_MODEL.arena_bytes - 1u) == OOC_ERR_NOMEM);
    CHECK(init_with(&TEST_MODEL, 0) == OOC_ERR_NOMEM);

    /* damaged tables */
    m = copy_model();
    m.magic ^= 1u;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);
    m = copy_model();
    m.version = 99u;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_UNSUPPORTED);
    for (i = 0; i < m.n_tensors; i++) {
        if (tensors[i].data == NULL) {
            break;
        }
    }
    m = copy_model();
    tensors[i].offset = m.arena_bytes; /* an activation past the end of the plan */
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);
    m = copy_model();
    tensors[i].offset = 0xFFFFFFF0u; /* offset + bytes overflows */
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);
    m = copy_model();
    tensors[i].bytes = 0xFFFFFFFFu;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);
    m = copy_model();
    ops[0].kind = 200;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_UNSUPPORTED);
    m = copy_model();
    ops[0].output = 0xFFFEu;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);
    m = copy_model();
    ops[0].params = NULL;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);
    m = copy_model();
    ops[0].n_inputs = 0;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);
    m = copy_model();
    CHECK(ops[0].kind == OOC_OP_CONV_2D);
    conv = *(const ooc_conv_params_t *)ops[0].params;
    conv.out_h += 1; /* the kernel would write past its output tensor */
    ops[0].params = &conv;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);
    m = copy_model();
    m.n_tensors = 0;
    CHECK(init_with(&m, TEST_ARENA) == OOC_ERR_CORRUPT);

    /* a good init, then bad inputs and outputs */
    CHECK(ooc_init(&ctx, &TEST_MODEL, &cfg) == OOC_OK);
    in_bytes = ooc_input_bytes(&ctx, 0);
    out_bytes = ooc_output_bytes(&ctx, 0);
    CHECK(in_bytes > 0 && (uint32_t)in_bytes <= sizeof in);
    CHECK(out_bytes > 0 && (uint32_t)out_bytes <= sizeof out);
    CHECK(ooc_input_bytes(&ctx, 7) == OOC_ERR_ARG);
    CHECK(ooc_set_input(&ctx, 0, in, (uint32_t)in_bytes - 1u) == OOC_ERR_ARG);
    CHECK(ooc_set_input(&ctx, 0, in, (uint32_t)in_bytes + 1u) == OOC_ERR_ARG);
    CHECK(ooc_set_input(&ctx, 0, NULL, (uint32_t)in_bytes) == OOC_ERR_ARG);
    CHECK(ooc_set_input(&ctx, 1, in, (uint32_t)in_bytes) == OOC_ERR_ARG);
    CHECK(ooc_set_input(&ctx, 0, in, (uint32_t)in_bytes) == OOC_OK);
    CHECK(ooc_invoke(&ctx) == OOC_OK);
    CHECK(ooc_get_output(&ctx, 0, out, (uint32_t)out_bytes - 1u) == OOC_ERR_ARG);
    CHECK(ooc_get_output(&ctx, 0, NULL, (uint32_t)out_bytes) == OOC_ERR_ARG);
    CHECK(ooc_get_output(&ctx, 0, out, (uint32_t)out_bytes) == OOC_OK);
    CHECK(strcmp(ooc_strerror(OOC_ERR_NOMEM), "arena too small for the model") == 0);

    printf("%u passed, %u failed\n", passed, failed);
    return failed != 0;
}
