/*
 * Damaged channel-group averages (OOC_NODE_CONV_MEAN) are refused by ooc_init() with
 * OOC_ERR_CORRUPT, never run: a zero or oversized group, the convolution's output given a place
 * in the arena, a node that does not name the average's output, accumulators past the arena's
 * end or misaligned, shapes that disagree, the pair cut by its block or left without its node,
 * a convolution no average follows. The undamaged tables initialise. Built by
 * tests/test_conv_mean.py, under ASan and UBSan, against a generated fused model whose plan runs
 * one: -DTEST_HEADER -DTEST_MODEL -DTEST_ARENA as tests/c/test_api.c.
 */
#include <stdio.h>
#include <string.h>

#include "ooc/ooc.h"
#include TEST_HEADER

#include "check.h"
#include "damaged_tables.h"

int main(void)
{
    const ooc_model_t *good = &TEST_MODEL;
    ooc_model_t m;
    uint32_t n, b = 0, cm = 0xFFFFFFFFu, plain = 0xFFFFFFFFu;
    uint16_t conv_out;
    if (!tables_fit(good)) {
        return 1;
    }
    for (n = 0; n < good->n_nodes; n++) {
        if (good->nodes[n].mode == OOC_NODE_CONV_MEAN && cm == 0xFFFFFFFFu) {
            cm = n;
        }
        if (good->nodes[n].mode == OOC_NODE_OP && good->ops[good->nodes[n].op].kind == OOC_OP_CONV_2D &&
            plain == 0xFFFFFFFFu) {
            plain = n;
        }
    }
    CHECK(cm != 0xFFFFFFFFu && plain != 0xFFFFFFFFu);
    if (cm == 0xFFFFFFFFu || plain == 0xFFFFFFFFu) {
        printf("%u passed, %u failed\n", passed, failed);
        return 1;
    }
    while (b < good->n_blocks && good->blocks[b].first_node != cm) {
        b++;
    }
    conv_out = good->ops[good->nodes[cm].op].output;

    CHECK(init_with(good) == OOC_OK);

    m = copy_model();
    nodes[cm].group = 0;
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[cm].group = (uint16_t)(nodes[cm].channels + 1u); /* more than the convolution makes */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    tensors[conv_out].offset = 0; /* the convolution's output held whole */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[cm].tensor = conv_out; /* not the average's output */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[cm].offset = good->arena_bytes - 4u; /* the group's sums would run past the arena */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[cm].offset += 2u; /* the int32 sums misaligned */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[cm].channels = (uint16_t)(nodes[cm].channels - 1u); /* not the convolution's channels */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[cm].width = (uint16_t)(nodes[cm].width + 1u); /* nor its width */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[cm].cap = 1; /* a ring where there is none */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[cm].mode = OOC_NODE_OP; /* the average left without a node */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    blocks[b].n_ops = 1; /* the pair cut by its block */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[plain].mode = OOC_NODE_CONV_MEAN; /* a convolution inside a larger block, no average after it */
    nodes[plain].group = 1;
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);

    CHECK(init_with(good) == OOC_OK);
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
