/*
 * What the damaged-table tests share (test_pex_tables.c, test_conv_mean_tables.c): an arena of
 * TEST_ARENA bytes, ooc_init() on a model, and a mutable copy of TEST_MODEL's tables for a test
 * to damage. Include after TEST_HEADER.
 */
#ifndef OOC_TEST_DAMAGED_TABLES_H
#define OOC_TEST_DAMAGED_TABLES_H

#include <stdio.h>
#include <string.h>

#include "ooc/ooc.h"

static union {
    uint32_t align;
    uint8_t bytes[TEST_ARENA + 8u];
} arena;

static ooc_tensor_t tensors[1024];
static ooc_node_t nodes[1024];
static ooc_block_t blocks[256];

static int init_with(const ooc_model_t *model)
{
    struct ooc_config cfg;
    ooc_ctx_t ctx;
    memset(&cfg, 0, sizeof cfg);
    cfg.arena = arena.bytes;
    cfg.arena_bytes = TEST_ARENA;
    return ooc_init(&ctx, model, &cfg);
}

/* 1 when the model's tables fit the copies, else a line on stdout and 0. */
static int tables_fit(const ooc_model_t *good)
{
    if (good->n_nodes > sizeof nodes / sizeof nodes[0] || good->n_blocks > sizeof blocks / sizeof blocks[0] ||
        good->n_tensors > sizeof tensors / sizeof tensors[0]) {
        printf("tables too large for the test\n");
        return 0;
    }
    return 1;
}

/* A mutable copy of the model whose tables the test damages. */
static ooc_model_t copy_model(void)
{
    ooc_model_t m = TEST_MODEL;
    memcpy(tensors, m.tensors, m.n_tensors * sizeof tensors[0]);
    memcpy(nodes, m.nodes, m.n_nodes * sizeof nodes[0]);
    memcpy(blocks, m.blocks, m.n_blocks * sizeof blocks[0]);
    m.tensors = tensors;
    m.nodes = nodes;
    m.blocks = blocks;
    return m;
}

#endif /* OOC_TEST_DAMAGED_TABLES_H */
