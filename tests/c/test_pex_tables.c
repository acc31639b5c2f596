/*
 * Damaged channel-split chains (OOC_NODE_PEX) are refused by ooc_init() with OOC_ERR_CORRUPT,
 * never run: a zero or oversized channel group, a window that is not the depthwise's, an
 * intermediate tensor given a place in the arena, scratch too close to the arena's end, a chain
 * that reaches past its block, a node that is no chain, a row group on a chain or larger than
 * its ring. The undamaged tables initialise.
 * Built by tests/test_pex.py, under ASan and UBSan, against a generated fused model whose
 * plan runs chains channel-split: -DTEST_HEADER -DTEST_MODEL -DTEST_ARENA as tests/c/test_api.c.
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
    uint32_t n, b = 0, pex = 0xFFFFFFFFu, plain = 0xFFFFFFFFu;
    if (!tables_fit(good)) {
        return 1;
    }
    for (n = 0; n < good->n_nodes && pex == 0xFFFFFFFFu; n++) {
        if (good->nodes[n].mode == OOC_NODE_PEX) {
            pex = n;
        }
    }
    for (n = 0; n < good->n_nodes && plain == 0xFFFFFFFFu; n++) {
        if (good->nodes[n].mode == OOC_NODE_OP && good->ops[good->nodes[n].op].kind == OOC_OP_CONV_2D &&
            good->nodes[n].cap != 0u) {
            plain = n; /* a convolution writing a ring */
        }
    }
    CHECK(pex != 0xFFFFFFFFu && plain != 0xFFFFFFFFu);
    if (pex == 0xFFFFFFFFu || plain == 0xFFFFFFFFu) {
        printf("%u passed, %u failed\n", passed, failed);
        return 1;
    }
    while (b < good->n_blocks && !(pex >= good->blocks[b].first_node &&
                                   pex < (uint32_t)good->blocks[b].first_node + good->blocks[b].n_nodes)) {
        b++;
    }

    CHECK(init_with(good) == OOC_OK);

    m = copy_model();
    nodes[pex].group = 0;
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[pex].group = (uint16_t)(nodes[pex].channels * 64u + 1u); /* more than the expansion makes */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[pex].k = (uint16_t)(nodes[pex].k + 1u);
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[pex].p = (int16_t)(nodes[pex].p + 1);
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    tensors[good->ops[nodes[pex].op].output].offset = 0; /* the expansion held whole */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    tensors[good->ops[nodes[pex].op + 1u].output].offset = 0; /* the depthwise output held whole */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    blocks[b].scratch = good->arena_bytes - 4u; /* a row's sums would run past the arena */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    blocks[b].scratch += 2u; /* the int32 sums misaligned */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[pex].tensor = good->ops[nodes[pex].op + 1u].output; /* not the projection's output */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[plain].mode = OOC_NODE_PEX; /* a lone convolution is no chain */
    nodes[plain].group = 8;
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[pex].mode = OOC_NODE_OP; /* the chain's other operators left without a node */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    blocks[b].n_ops = (uint16_t)(nodes[pex].op + 2u - blocks[b].first_op); /* the chain cut by its block */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[pex].rows_per_load = 2; /* a row group is a streamed convolution's, never a chain's */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);
    m = copy_model();
    nodes[plain].rows_per_load = 2; /* a convolution's is admitted (it applies when streamed) */
    CHECK(init_with(&m) == OOC_OK);
    m = copy_model();
    nodes[plain].rows_per_load = (uint16_t)(nodes[plain].cap + 1u); /* more rows than its ring holds */
    CHECK(init_with(&m) == OOC_ERR_CORRUPT);

    CHECK(init_with(good) == OOC_OK);
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
