/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Global state of the mock NVML library: the init reference count, the node model (loaded
 * on the first init and kept for the life of the process so handles stay stable), handle
 * validation, injected failures and lost GPUs, and the prologue every entry point runs.
 * Lock order: control-channel lock, then state_lock, then the event-set locks.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

#define MOCK_FAIL_MAX 64u

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mock_node *node; /* written once under state_lock, read with acquire */
static atomic_int init_count;  /* > 0: initialized */
static atomic_uint fail_count; /* fast path: no rules, no lock */
static struct mock_fail_rule fail_rules[MOCK_FAIL_MAX]; /* under state_lock */
static bool control_started;                            /* under state_lock */

bool mock_debug;

void
mock_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    n = snprintf(line, sizeof line, "mock-nvml: ");
    va_start(ap, fmt);
    (void)vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    (void)fprintf(stderr, "%s\n", line);
}

struct mock_node *
mock_node_get(void)
{
    return __atomic_load_n(&node, __ATOMIC_ACQUIRE);
}

static nvmlReturn_t
load_locked(void)
{
    struct mock_node *n = NULL;
    nvmlReturn_t r;

    if (node != NULL) {
        return NVML_SUCCESS;
    }
    r = mock_node_load(&n);
    if (r != NVML_SUCCESS) {
        return r;
    }
    for (unsigned int i = 0; i < n->n_fail; i++) {
        fail_rules[i] = n->fail[i];
    }
    atomic_store(&fail_count, n->n_fail);
    mock_debug = getenv("MOCK_NVML_DEBUG") != NULL;
    __atomic_store_n(&node, n, __ATOMIC_RELEASE);
    return NVML_SUCCESS;
}

/* Called with state_lock held. Consumes a matching "once" rule. */
static nvmlReturn_t
fail_match_locked(enum mock_fn fn, const struct nvmlDevice_st *dev)
{
    unsigned int n = atomic_load(&fail_count);

    for (unsigned int i = 0; i < n; i++) {
        struct mock_fail_rule *f = &fail_rules[i];
        const struct nvmlDevice_st *gpu = dev != NULL && dev->parent ? dev->parent : dev;
        nvmlReturn_t code = f->code;

        if (f->fn != fn || (f->target != NULL && f->target != dev && f->target != gpu)) {
            continue;
        }
        if (f->once) {
            memmove(f, f + 1, (n - i - 1) * sizeof *f);
            atomic_store(&fail_count, n - 1);
        }
        return code;
    }
    return NVML_SUCCESS;
}

nvmlReturn_t
mock_init(enum mock_fn fn)
{
    nvmlReturn_t r;
    bool start;

    mock_control_drain();
    (void)pthread_mutex_lock(&state_lock);
    r = load_locked();
    if (r == NVML_SUCCESS && node->init_error != NVML_SUCCESS) {
        r = node->init_error;
    }
    if (r == NVML_SUCCESS && atomic_load(&fail_count) > 0) {
        r = fail_match_locked(fn, NULL);
    }
    start = r == NVML_SUCCESS && !control_started;
    if (r == NVML_SUCCESS) {
        control_started = true;
        atomic_fetch_add(&init_count, 1);
    }
    (void)pthread_mutex_unlock(&state_lock);
    if (start) {
        mock_control_start();
    }
    return r;
}

nvmlReturn_t
mock_shutdown(void)
{
    nvmlReturn_t r = NVML_SUCCESS;

    mock_control_drain();
    (void)pthread_mutex_lock(&state_lock);
    if (atomic_load(&init_count) == 0) {
        r = NVML_ERROR_UNINITIALIZED;
    } else if (atomic_load(&fail_count) > 0) {
        r = fail_match_locked(MOCK_FN_nvmlShutdown, NULL);
    }
    if (r == NVML_SUCCESS) {
        atomic_fetch_sub(&init_count, 1);
    }
    (void)pthread_mutex_unlock(&state_lock);
    return r;
}

struct mock_node *
mock_node_load_once(nvmlReturn_t *ret)
{
    struct mock_node *n;

    (void)pthread_mutex_lock(&state_lock);
    *ret = load_locked();
    n = node;
    (void)pthread_mutex_unlock(&state_lock);
    return n;
}

nvmlReturn_t
mock_enter(enum mock_fn fn)
{
    (void)fn;
    mock_control_drain();
    return atomic_load(&init_count) > 0 ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
}

nvmlReturn_t
mock_check(enum mock_fn fn, const struct nvmlDevice_st *dev)
{
    nvmlReturn_t r = NVML_SUCCESS;

    if (atomic_load(&fail_count) > 0) {
        (void)pthread_mutex_lock(&state_lock);
        r = fail_match_locked(fn, dev);
        (void)pthread_mutex_unlock(&state_lock);
    }
    if (r == NVML_SUCCESS && dev != NULL) {
        const struct nvmlDevice_st *gpu = dev->parent ? dev->parent : dev;
        if (atomic_load(&gpu->lost)) {
            r = NVML_ERROR_GPU_IS_LOST;
        }
    }
    return r;
}

/* Whether p points at element 0..n-1 of an array of elements of size sz starting at base. */
static bool
in_table(const void *p, const void *base, size_t n, size_t sz)
{
    uintptr_t a = (uintptr_t)p;
    uintptr_t b = (uintptr_t)base;

    return p != NULL && a >= b && a < b + n * sz && (a - b) % sz == 0;
}

struct nvmlDevice_st *
mock_dev_get(nvmlDevice_t h)
{
    struct mock_node *n = mock_node_get();

    if (n == NULL || !in_table(h, n->devs, n->n_devs, sizeof n->devs[0])) {
        return NULL;
    }
    return h;
}

struct nvmlGpuInstance_st *
mock_gi_get(nvmlGpuInstance_t h)
{
    struct mock_node *n = mock_node_get();

    if (n == NULL || !in_table(h, n->gis, n->n_gis, sizeof n->gis[0])) {
        return NULL;
    }
    return h;
}

struct nvmlComputeInstance_st *
mock_ci_get(nvmlComputeInstance_t h)
{
    struct mock_node *n = mock_node_get();

    if (n == NULL || !in_table(h, n->cis, n->n_cis, sizeof n->cis[0])) {
        return NULL;
    }
    return h;
}

nvmlReturn_t
mock_enter_dev(enum mock_fn fn, nvmlDevice_t h, enum mock_scope scope, struct nvmlDevice_st **ret)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r = mock_enter(fn);

    if (r != NVML_SUCCESS) {
        return r;
    }
    d = mock_dev_get(h);
    if (d == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    r = mock_check(fn, d);
    if (r != NVML_SUCCESS) {
        return r;
    }
    if ((scope == MOCK_GPU_ONLY && d->parent != NULL) ||
        (scope == MOCK_MIG_ONLY && d->parent == NULL)) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    *ret = d;
    return NVML_SUCCESS;
}

struct nvmlDevice_st *
mock_gpu_of(struct nvmlDevice_st *dev)
{
    return dev->parent != NULL ? dev->parent : dev;
}

/* "MIG-GPU-<gpu uuid>/<gi>/<ci>", the MIG UUID form of drivers before R470. */
static struct nvmlDevice_st *
find_legacy_mig(struct mock_node *n, const char *uuid)
{
    char gpu_uuid[MOCK_STR_LEN];
    unsigned int gi, ci;
    int used = 0;

    if (strncmp(uuid, "MIG-GPU-", 8) != 0 || strlen(uuid) >= sizeof gpu_uuid) {
        return NULL;
    }
    if (sscanf(uuid + 4, "%40[^/]/%u/%u%n", gpu_uuid, &gi, &ci, &used) != 3 ||
        uuid[4 + used] != '\0') {
        return NULL;
    }
    for (unsigned int i = n->n_gpus; i < n->n_devs; i++) {
        struct nvmlDevice_st *d = &n->devs[i];
        if (strcmp(d->parent->uuid, gpu_uuid) == 0 && d->gi->id == gi && d->ci->id == ci) {
            return d;
        }
    }
    return NULL;
}

struct nvmlDevice_st *
mock_find_uuid(const char *uuid)
{
    struct mock_node *n = mock_node_get();

    if (n == NULL) {
        return NULL;
    }
    for (unsigned int i = 0; i < n->n_devs; i++) {
        if (strcmp(n->devs[i].uuid, uuid) == 0) {
            return &n->devs[i];
        }
    }
    return find_legacy_mig(n, uuid);
}

nvmlReturn_t
mock_copy_str(char *buf, unsigned int len, const char *s)
{
    size_t need = strlen(s) + 1;

    if (buf == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (need > len) {
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memcpy(buf, s, need);
    return NVML_SUCCESS;
}

bool
mock_fail_add(const struct mock_fail_rule *rule)
{
    bool ok = false;

    (void)pthread_mutex_lock(&state_lock);
    unsigned int n = atomic_load(&fail_count);
    if (n < MOCK_FAIL_MAX) {
        fail_rules[n] = *rule;
        atomic_store(&fail_count, n + 1);
        ok = true;
    }
    (void)pthread_mutex_unlock(&state_lock);
    return ok;
}

void
mock_reset_faults(void)
{
    struct mock_node *n;

    (void)pthread_mutex_lock(&state_lock);
    atomic_store(&fail_count, 0);
    n = node;
    (void)pthread_mutex_unlock(&state_lock);
    for (unsigned int i = 0; n != NULL && i < n->n_gpus; i++) {
        atomic_store(&n->devs[i].lost, false);
    }
}

void
mock_set_lost(struct nvmlDevice_st *gpu, bool lost)
{
    bool was = atomic_exchange(&gpu->lost, lost);

    if (lost && !was) {
        mock_event_gpu_lost(gpu);
    }
}
