/*
 * The host's bulk AES engine (ooc_aes_bulk_t, ooc/ooc_crypto.h): a worker thread that runs each
 * CTR job beside the CPU, as a DMA-driven engine does on a chip, so the pager's overlap of the
 * next step's decryption with a step's compute runs (and is measured) on the host. The job is
 * software AES on the worker (the runtime's own, reentrant); a job can be made to take a set
 * time, to fail half way through or to be refused, for the tests. It also gives an
 * ooc_aes_engine_t (ECB blocks, on the caller's thread) that counts a call made while a CTR job
 * is outstanding: a breach of the hook's contract. POSIX threads: host only.
 */
#ifndef OOC_HOST_ENGINE_H
#define OOC_HOST_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "ooc/ooc_crypto.h"

/* Jobs whose times are kept (the first ones from log_base on). */
#define OOC_HOST_ENGINE_LOG 4096u

typedef struct {
    double queued;     /* seconds, CLOCK_MONOTONIC: ctr_start handed the job over, */
    double start, end; /* the worker took it, finished it */
    uint32_t len;
    int status;        /* 0, or -1 (failed) */
} ooc_host_job_t;

typedef struct {
    ooc_aes_bulk_t bulk;     /* the port's aes_bulk */
    ooc_aes_engine_t blocks; /* the port's aes_engine (optional) */
    /* Settings (before the first job): */
    uint32_t delay_us;       /* each job takes at least this long, as a slower engine would */
    uint32_t fail_job;       /* job number (from 1) that fails half way, its first half done */
    uint32_t refuse_job;     /* job number (from 1) that ctr_start refuses */
    /* Counters (read them when no job is outstanding): */
    uint32_t jobs;           /* ctr_start calls */
    uint32_t misuse;         /* contract breaches: a start or an ECB call with a job
                                outstanding, a wait with none */
    uint32_t log_base;       /* log[i] is job log_base + 1 + i: set it to `jobs` to log from
                                the next job on (when no job is outstanding) */
    ooc_host_job_t log[OOC_HOST_ENGINE_LOG];
    /* Private: the worker and the job. */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state, quit, status;
    uint8_t key[OOC_AES_MAX_KEY_BYTES];
    uint8_t iv[OOC_AES_BLOCK_BYTES];
    uint32_t key_bytes, len;
    double queued;
    const uint8_t *in;
    uint8_t *out;
} ooc_host_engine_t;

/* Start the worker; set the settings first (zero: a plain engine). 0, or -1. */
int ooc_host_engine_open(ooc_host_engine_t *e);

/* Stop the worker (waiting for a job still running) and wipe the key it held. */
void ooc_host_engine_close(ooc_host_engine_t *e);

/* Seconds on the clock the job log uses. */
double ooc_host_engine_now(void);

#endif /* OOC_HOST_ENGINE_H */
