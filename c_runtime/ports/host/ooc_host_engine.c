/*
 * The host's bulk AES engine: ooc_host_engine.h.
 */
#define _POSIX_C_SOURCE 200112L
#include "ooc_host_engine.h"

#include <string.h>
#include <time.h>

#include "ooc/ooc.h"

enum { IDLE, QUEUED, RUNNING, DONE };

double ooc_host_engine_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_us(uint32_t us)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(us / 1000000u);
    ts.tv_nsec = (long)(us % 1000000u) * 1000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One job on the worker, outside the lock: the buffers are the engine's until the wait. */
static int run_job(ooc_host_engine_t *e, uint32_t number)
{
    ooc_aes_t aes;
    uint32_t len = e->len;
    int rc;
    if (e->delay_us != 0u) {
        sleep_us(e->delay_us);
    }
    rc = ooc_aes_init(&aes, e->key, e->key_bytes, NULL);
    if (rc == OOC_OK && number == e->fail_job) {
        len = (len / 2u) & ~15u; /* half the chunk is plaintext when the engine fails */
        rc = len != 0u ? ooc_aes_ctr(&aes, e->iv, e->in, e->out, len) : OOC_OK;
        rc = rc == OOC_OK ? OOC_ERR_IO : rc;
    } else if (rc == OOC_OK) {
        rc = ooc_aes_ctr(&aes, e->iv, e->in, e->out, len);
    }
    ooc_aes_wipe(&aes);
    return rc == OOC_OK ? 0 : -1;
}

static void *worker(void *arg)
{
    ooc_host_engine_t *e = (ooc_host_engine_t *)arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        uint32_t number;
        double start;
        int status;
        while (e->state != QUEUED && !e->quit) {
            pthread_cond_wait(&e->cv, &e->mu);
        }
        if (e->quit) {
            break;
        }
        e->state = RUNNING;
        number = e->jobs;
        pthread_mutex_unlock(&e->mu);
        start = ooc_host_engine_now();
        status = run_job(e, number);
        pthread_mutex_lock(&e->mu);
        if (number - 1u - e->log_base < OOC_HOST_ENGINE_LOG) {
            ooc_host_job_t *j = &e->log[number - 1u - e->log_base];
            j->queued = e->queued;
            j->start = start;
            j->end = ooc_host_engine_now();
            j->len = e->len;
            j->status = status;
        }
        ooc_wipe(e->key, sizeof e->key);
        e->status = status;
        e->state = DONE;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static int ctr_start(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t iv[16],
                     const uint8_t *in, uint8_t *out, uint32_t len)
{
    ooc_host_engine_t *e = (ooc_host_engine_t *)user;
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    if (e->state != IDLE || key_bytes > sizeof e->key) {
        e->misuse++;
        rc = -1;
    } else if (++e->jobs == e->refuse_job) {
        rc = -1;
    } else {
        memcpy(e->key, key, key_bytes);
        memcpy(e->iv, iv, sizeof e->iv);
        e->key_bytes = key_bytes;
        e->in = in;
        e->out = out;
        e->len = len;
        e->queued = ooc_host_engine_now();
        e->state = QUEUED;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static int ctr_wait(void *user)
{
    ooc_host_engine_t *e = (ooc_host_engine_t *)user;
    int rc;
    pthread_mutex_lock(&e->mu);
    if (e->state == IDLE) {
        e->misuse++;
        rc = -1;
    } else {
        while (e->state != DONE) {
            pthread_cond_wait(&e->cv, &e->mu);
        }
        rc = e->status;
        e->state = IDLE;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static int ecb_encrypt(void *user, const uint8_t *key, uint32_t key_bytes, const uint8_t *in,
                       uint8_t *out, uint32_t n_blocks)
{
    ooc_host_engine_t *e = (ooc_host_engine_t *)user;
    ooc_aes_t aes;
    int rc, busy;
    pthread_mutex_lock(&e->mu);
    busy = e->state != IDLE;
    e->misuse += busy ? 1u : 0u;
    pthread_mutex_unlock(&e->mu);
    if (busy) {
        return -1;
    }
    rc = ooc_aes_init(&aes, key, key_bytes, NULL);
    if (rc == OOC_OK) {
        rc = ooc_aes_encrypt_blocks(&aes, in, out, n_blocks);
    }
    ooc_aes_wipe(&aes);
    return rc == OOC_OK ? 0 : -1;
}

int ooc_host_engine_open(ooc_host_engine_t *e)
{
    e->bulk.ctr_start = ctr_start;
    e->bulk.ctr_wait = ctr_wait;
    e->bulk.user = e;
    e->blocks.ecb_encrypt = ecb_encrypt;
    e->blocks.user = e;
    e->jobs = e->misuse = e->log_base = 0u;
    e->state = IDLE;
    e->quit = 0;
    if (pthread_mutex_init(&e->mu, NULL) != 0) {
        return -1;
    }
    if (pthread_cond_init(&e->cv, NULL) != 0) {
        pthread_mutex_destroy(&e->mu);
        return -1;
    }
    if (pthread_create(&e->thread, NULL, worker, e) != 0) {
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
        return -1;
    }
    return 0;
}

void ooc_host_engine_close(ooc_host_engine_t *e)
{
    pthread_mutex_lock(&e->mu);
    while (e->state == QUEUED || e->state == RUNNING) {
        pthread_cond_wait(&e->cv, &e->mu);
    }
    e->quit = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    ooc_wipe(e->key, sizeof e->key);
}
