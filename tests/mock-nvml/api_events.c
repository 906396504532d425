/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVML event sets: creation, registration of event types per GPU, injection (from the
 * control channel) and waiting. Each set has its own queue, lock and condition variable;
 * an injected event is copied into every set that registered that GPU for that type.
 * Waiting holds only the set's own lock, so other threads keep calling NVML meanwhile.
 * Lock order: sets_lock, then a set's lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define QUEUE_LEN 256u

struct nvmlEventSet_st {
    struct nvmlEventSet_st *next; /* registry link, under sets_lock */
    unsigned int waiters;         /* under sets_lock */
    bool freed;                   /* under sets_lock and lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned long long registered[MOCK_MAX_GPUS]; /* event types per GPU index */
    bool lost_pending;
    unsigned int head, len;
    nvmlEventData_t queue[QUEUE_LEN];
};

static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nvmlEventSet_st *sets;

/* Called with sets_lock held. */
static struct nvmlEventSet_st *
find_set_locked(nvmlEventSet_t h)
{
    for (struct nvmlEventSet_st *s = sets; s != NULL; s = s->next) {
        if (s == h) {
            return s;
        }
    }
    return NULL;
}

static void
destroy_set(struct nvmlEventSet_st *s)
{
    (void)pthread_cond_destroy(&s->cond);
    (void)pthread_mutex_destroy(&s->lock);
    free(s);
}

MOCK_API nvmlReturn_t
nvmlEventSetCreate(nvmlEventSet_t *set)
{
    nvmlReturn_t r = mock_enter(MOCK_FN_nvmlEventSetCreate);
    pthread_condattr_t attr;
    struct nvmlEventSet_st *s;

    if (r == NVML_SUCCESS) {
        r = mock_check(MOCK_FN_nvmlEventSetCreate, NULL);
    }
    if (r != NVML_SUCCESS || set == NULL) {
        return r != NVML_SUCCESS ? r : NVML_ERROR_INVALID_ARGUMENT;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NVML_ERROR_MEMORY;
    }
    (void)pthread_mutex_init(&s->lock, NULL);
    (void)pthread_condattr_init(&attr);
    (void)pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&s->cond, &attr);
    (void)pthread_condattr_destroy(&attr);
    (void)pthread_mutex_lock(&sets_lock);
    s->next = sets;
    sets = s;
    (void)pthread_mutex_unlock(&sets_lock);
    *set = s;
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlEventSetFree(nvmlEventSet_t set)
{
    nvmlReturn_t r = mock_enter(MOCK_FN_nvmlEventSetFree);
    struct nvmlEventSet_st **pp;

    if (r == NVML_SUCCESS) {
        r = mock_check(MOCK_FN_nvmlEventSetFree, NULL);
    }
    if (r != NVML_SUCCESS) {
        return r;
    }
    (void)pthread_mutex_lock(&sets_lock);
    for (pp = &sets; *pp != NULL && *pp != set; pp = &(*pp)->next) {
    }
    if (*pp == NULL) {
        (void)pthread_mutex_unlock(&sets_lock);
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *pp = set->next;
    /* a thread still waiting on the set wakes up and the last one out frees it */
    (void)pthread_mutex_lock(&set->lock);
    set->freed = true;
    (void)pthread_cond_broadcast(&set->cond);
    (void)pthread_mutex_unlock(&set->lock);
    if (set->waiters == 0) {
        destroy_set(set);
    }
    (void)pthread_mutex_unlock(&sets_lock);
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t
nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes)
{
    struct nvmlDevice_st *d;
    nvmlReturn_t r =
            mock_enter_dev(MOCK_FN_nvmlDeviceGetSupportedEventTypes, device, MOCK_GPU_ONLY, &d);

    if (r == NVML_SUCCESS && eventTypes == NULL) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    }
    if (r == NVML_SUCCESS) {
        *eventTypes = d->event_types;
    }
    return r;
}

MOCK_API nvmlReturn_t
nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set)
{
    struct nvmlDevice_st *d;
    struct nvmlEventSet_st *s;
    nvmlReturn_t r = mock_enter_dev(MOCK_FN_nvmlDeviceRegisterEvents, device, MOCK_GPU_ONLY, &d);

    if (r != NVML_SUCCESS) {
        return r;
    }
    if ((eventTypes & ~d->event_types) != 0) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    (void)pthread_mutex_lock(&sets_lock);
    s = find_set_locked(set);
    if (s != NULL) {
        (void)pthread_mutex_lock(&s->lock);
        s->registered[d->index] |= eventTypes; /* registering twice is harmless */
        (void)pthread_mutex_unlock(&s->lock);
    }
    (void)pthread_mutex_unlock(&sets_lock);
    return s != NULL ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

static struct timespec
deadline_after(unsigned int ms)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static nvmlReturn_t
wait_on(struct nvmlEventSet_st *s, nvmlEventData_t *data, unsigned int timeoutms)
{
    struct timespec deadline = deadline_after(timeoutms);
    nvmlReturn_t r = NVML_ERROR_TIMEOUT;

    (void)pthread_mutex_lock(&s->lock);
    while (s->len == 0 && !s->lost_pending && !s->freed) {
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (s->len > 0) {
        *data = s->queue[s->head];
        s->head = (s->head + 1) % QUEUE_LEN;
        s->len--;
        r = NVML_SUCCESS;
    } else if (s->lost_pending) {
        s->lost_pending = false;
        r = NVML_ERROR_GPU_IS_LOST;
    } else if (s->freed) {
        r = NVML_ERROR_INVALID_ARGUMENT;
    }
    (void)pthread_mutex_unlock(&s->lock);
    return r;
}

static nvmlReturn_t
event_wait(enum mock_fn fn, nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    nvmlReturn_t r = mock_enter(fn);
    struct nvmlEventSet_st *s;

    if (r == NVML_SUCCESS) {
        r = mock_check(fn, NULL);
    }
    if (r != NVML_SUCCESS || data == NULL) {
        return r != NVML_SUCCESS ? r : NVML_ERROR_INVALID_ARGUMENT;
    }
    (void)pthread_mutex_lock(&sets_lock);
    s = find_set_locked(set);
    if (s != NULL) {
        s->waiters++;
    }
    (void)pthread_mutex_unlock(&sets_lock);
    if (s == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    r = wait_on(s, data, timeoutms);
    (void)pthread_mutex_lock(&sets_lock);
    if (--s->waiters == 0 && s->freed) {
        destroy_set(s);
    }
    (void)pthread_mutex_unlock(&sets_lock);
    return r;
}

MOCK_API nvmlReturn_t
nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    return event_wait(MOCK_FN_nvmlEventSetWait_v2, set, data, timeoutms);
}

MOCK_API nvmlReturn_t
nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    return event_wait(MOCK_FN_nvmlEventSetWait, set, data, timeoutms);
}

void
mock_event_inject(struct nvmlDevice_st *gpu, unsigned long long type, unsigned long long data,
                  unsigned int gi, unsigned int ci)
{
    const nvmlEventData_t ev = {
            .device = gpu,
            .eventType = type,
            .eventData = data,
            .gpuInstanceId = gi,
            .computeInstanceId = ci,
    };

    (void)pthread_mutex_lock(&sets_lock);
    for (struct nvmlEventSet_st *s = sets; s != NULL; s = s->next) {
        (void)pthread_mutex_lock(&s->lock);
        if ((s->registered[gpu->index] & type) != 0) {
            if (s->len == QUEUE_LEN) { /* full: the oldest event is dropped */
                s->head = (s->head + 1) % QUEUE_LEN;
                s->len--;
            }
            s->queue[(s->head + s->len) % QUEUE_LEN] = ev;
            s->len++;
            (void)pthread_cond_broadcast(&s->cond);
        }
        (void)pthread_mutex_unlock(&s->lock);
    }
    (void)pthread_mutex_unlock(&sets_lock);
}

void
mock_event_gpu_lost(const struct nvmlDevice_st *gpu)
{
    (void)pthread_mutex_lock(&sets_lock);
    for (struct nvmlEventSet_st *s = sets; s != NULL; s = s->next) {
        (void)pthread_mutex_lock(&s->lock);
        if (s->registered[gpu->index] != 0) {
            s->lost_pending = true;
            (void)pthread_cond_broadcast(&s->cond);
        }
        (void)pthread_mutex_unlock(&s->lock);
    }
    (void)pthread_mutex_unlock(&sets_lock);
}
