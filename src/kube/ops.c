/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compound operations on top of single requests: list+watch of a collection (resourceVersion,
 * bookmarks, relist on 410 Gone, re-watch when the server ends the stream, exponential backoff
 * after failures) and create-or-update of one object (GET, then CREATE or UPDATE with the
 * stored resourceVersion, retried once on a conflict).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "kube/kube.h"
#include "kube/kube_int.h"

#define WATCH_TIMEOUT_DEFAULT_S 300
#define BACKOFF_MIN_DEFAULT_MS  500
#define BACKOFF_MAX_DEFAULT_MS  30000
#define FIELD_MAX               256
#define QUICK_CLOSE_MS          1000 /* a stream ended sooner, and empty, is a failure */

/* Owned copies of a reference's strings. */
struct ref_copy {
    char group[FIELD_MAX], version[FIELD_MAX], resource[FIELD_MAX], ns[FIELD_MAX], name[FIELD_MAX];
    struct gdp_kube_ref ref;
};

static void
ref_copy(struct ref_copy *dst, const struct gdp_kube_ref *src)
{
    (void)gdp_strlcpy(dst->group, src->group != NULL ? src->group : "", FIELD_MAX);
    (void)gdp_strlcpy(dst->version, src->version != NULL ? src->version : "", FIELD_MAX);
    (void)gdp_strlcpy(dst->resource, src->resource != NULL ? src->resource : "", FIELD_MAX);
    (void)gdp_strlcpy(dst->ns, src->namespace != NULL ? src->namespace : "", FIELD_MAX);
    (void)gdp_strlcpy(dst->name, src->name != NULL ? src->name : "", FIELD_MAX);
    dst->ref = (struct gdp_kube_ref){
            .group = dst->group,
            .version = dst->version,
            .resource = dst->resource,
            .namespace = src->namespace != NULL ? dst->ns : NULL,
            .name = src->name != NULL ? dst->name : NULL,
    };
}

struct gdp_kube_watch {
    struct gdp_kube_client *c;
    struct gdp_kube_watch_opts o;
    struct ref_copy ref;
    char *field_selector, *label_selector, *rv;
    struct gdp_kube_req *req;
    struct gdp_loop_timer *retry;
    uint64_t backoff_ms, stream_started_ms;
    unsigned busy;
    bool zombie, relist, got_line;
};

static void
watch_destroy(struct gdp_kube_watch *w)
{
    gdp_kube_req_cancel(w->req);
    gdp_loop_timer_free(w->retry);
    free(w->field_selector);
    free(w->label_selector);
    free(w->rv);
    free(w);
}

void
gdp_kube_watch_free(struct gdp_kube_watch *w)
{
    if (w == NULL) {
        return;
    }
    gdp_kube_req_cancel(w->req);
    w->req = NULL;
    if (w->busy > 0) {
        w->zombie = true;
        return;
    }
    watch_destroy(w);
}

const char *
gdp_kube_watch_rv(const struct gdp_kube_watch *w)
{
    return w->rv != NULL ? w->rv : "";
}

/* Calls into the caller; returns false when the caller freed the watch meanwhile. */
static bool
emit(struct gdp_kube_watch *w, enum gdp_kube_event type, json_t *obj)
{
    w->busy++;
    w->o.on_event(w, type, obj, w->o.userdata);
    w->busy--;
    if (w->zombie && w->busy == 0) {
        watch_destroy(w);
        return false;
    }
    return true;
}

/* Reports trouble and schedules the next attempt (a relist when relist). */
static void
trouble(struct gdp_kube_watch *w, int r, const struct gdp_diag *diag, bool relist, bool now)
{
    uint64_t delay = now ? 1 : w->backoff_ms;
    w->relist = w->relist || relist;
    if (!now) {
        w->backoff_ms =
                w->backoff_ms * 2 > w->o.backoff_max_ms ? w->o.backoff_max_ms : w->backoff_ms * 2;
    }
    if (w->o.on_trouble != NULL) {
        w->busy++;
        w->o.on_trouble(w, r, diag, delay, w->o.userdata);
        w->busy--;
        if (w->zombie && w->busy == 0) {
            watch_destroy(w);
            return;
        }
    }
    (void)gdp_loop_timer_set(w->retry, delay, 0);
}

static void
set_rv(struct gdp_kube_watch *w, json_t *obj)
{
    const char *rv =
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (rv != NULL && rv[0] != '\0') {
        free(w->rv);
        w->rv = gdp_strdup(rv);
    }
}

static void watch_stream(struct gdp_kube_watch *w);

static void
on_list(struct gdp_kube_client *c _unused_, const struct gdp_kube_result *res, void *userdata)
{
    struct gdp_kube_watch *w = userdata;
    struct gdp_diag diag = {0};
    w->req = NULL;
    if (res->r < 0) {
        trouble(w, res->r, res->diag, true, false);
        return;
    }
    json_t *items = json_object_get(res->body, "items");
    if (!json_is_array(items) && !json_is_null(items)) {
        trouble(w, gdp_diag_set(&diag, -EPROTO, "list %s: no \"items\" array", w->ref.resource),
                &diag, true, false);
        return;
    }
    set_rv(w, res->body);
    w->relist = false;
    w->backoff_ms = w->o.backoff_min_ms;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (!emit(w, GDP_KUBE_ADDED, item)) {
            return;
        }
    }
    watch_stream(w);
}

static void
watch_list(struct gdp_kube_watch *w)
{
    struct gdp_diag diag = {0};
    const struct gdp_kube_query q = {.label_selector = w->label_selector,
                                     .field_selector = w->field_selector};
    const struct gdp_kube_call call = {GDP_KUBE_LIST, &w->ref.ref, &q, NULL, on_list, w};
    int r = gdp_kube_request(w->c, &call, &w->req, &diag);
    if (r < 0) {
        trouble(w, r, &diag, true, false);
    }
}

/* An ERROR event carries a Status: 410 means our resourceVersion is too old. */
static void
on_error_event(struct gdp_kube_watch *w, json_t *status)
{
    struct gdp_diag diag = {0};
    json_int_t code = json_integer_value(json_object_get(status, "code"));
    int r = gdp_kube_status_error((long)code, GDP_KUBE_WATCH, &w->ref.ref, status, &diag);
    gdp_kube_req_cancel(w->req);
    w->req = NULL;
    trouble(w, r, &diag, code == 410, code == 410);
}

static void
on_line(struct gdp_kube_req *req _unused_, const char *line, size_t len, void *userdata)
{
    struct gdp_kube_watch *w = userdata;
    struct gdp_diag diag = {0};
    enum gdp_kube_event type;
    json_t *obj = NULL;
    w->got_line = true;
    int r = gdp_kube_watch_parse(line, len, &type, &obj, &diag);
    if (r < 0) {
        gdp_kube_req_cancel(w->req);
        w->req = NULL;
        trouble(w, r, &diag, false, false);
        return;
    }
    if (type == GDP_KUBE_ERROR) {
        on_error_event(w, obj);
        json_decref(obj);
        return;
    }
    set_rv(w, obj);
    w->backoff_ms = w->o.backoff_min_ms;
    if (type != GDP_KUBE_BOOKMARK) {
        (void)emit(w, type, obj);
    }
    json_decref(obj);
}

static void
on_stream_done(struct gdp_kube_client *c _unused_, const struct gdp_kube_result *res,
               void *userdata)
{
    struct gdp_kube_watch *w = userdata;
    struct gdp_diag diag = {0};
    w->req = NULL;
    if (res->r == -ESTALE) {
        trouble(w, res->r, res->diag, true, true);
    } else if (res->r < 0) {
        trouble(w, res->r, res->diag, false, false);
    } else if (!w->got_line && gdp_loop_now_ms() - w->stream_started_ms < QUICK_CLOSE_MS) {
        trouble(w,
                gdp_diag_set(&diag, -EPIPE, "watch %s: the server closed the stream at once",
                             w->ref.resource),
                &diag, false, false);
    } else {
        watch_stream(w); /* timeoutSeconds (or a quiet server) ended it: go on from our version */
    }
}

static void
watch_stream(struct gdp_kube_watch *w)
{
    struct gdp_diag diag = {0};
    const struct gdp_kube_query q = {.label_selector = w->label_selector,
                                     .field_selector = w->field_selector,
                                     .resource_version = w->rv,
                                     .watch = true,
                                     .bookmarks = true,
                                     .timeout_s = w->o.timeout_s};
    w->got_line = false;
    const struct gdp_kube_call call = {GDP_KUBE_WATCH, &w->ref.ref, &q, NULL, on_stream_done, w};
    int r = gdp_kube_stream(w->c, &call, on_line, &w->req, &diag);
    if (r < 0) {
        trouble(w, r, &diag, false, false);
    }
}

static void
on_retry(struct gdp_loop *loop _unused_, struct gdp_loop_timer *t _unused_, void *userdata)
{
    struct gdp_kube_watch *w = userdata;
    if (w->req != NULL) {
        return;
    }
    if (w->relist || w->rv == NULL) {
        watch_list(w);
    } else {
        watch_stream(w);
    }
}

int
gdp_kube_watch_start(struct gdp_kube_client *c, const struct gdp_kube_watch_opts *opts,
                     struct gdp_kube_watch **ret, struct gdp_diag *diag)
{
    struct gdp_kube_watch *w = gdp_calloc(1, sizeof *w);
    w->c = c;
    w->o = *opts;
    ref_copy(&w->ref, opts->ref);
    w->o.ref = &w->ref.ref;
    w->o.timeout_s = opts->timeout_s > 0 ? opts->timeout_s : WATCH_TIMEOUT_DEFAULT_S;
    w->o.backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms : BACKOFF_MIN_DEFAULT_MS;
    w->o.backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : BACKOFF_MAX_DEFAULT_MS;
    w->backoff_ms = w->o.backoff_min_ms;
    w->field_selector = opts->field_selector != NULL ? gdp_strdup(opts->field_selector) : NULL;
    w->label_selector = opts->label_selector != NULL ? gdp_strdup(opts->label_selector) : NULL;
    w->o.field_selector = w->field_selector;
    w->o.label_selector = w->label_selector;
    int r = gdp_loop_timer_new(gdp_kube_client_loop(c), on_retry, w, &w->retry, diag);
    if (r < 0) {
        watch_destroy(w);
        return r;
    }
    w->relist = true;
    (void)gdp_loop_timer_set(w->retry, 1, 0);
    *ret = w;
    return 0;
}

struct apply {
    struct gdp_kube_client *c;
    struct ref_copy ref;
    json_t *obj;
    gdp_kube_done_fn done;
    void *userdata;
    bool retried;
};

static void
apply_free(void *p)
{
    struct apply *a = p;
    json_decref(a->obj);
    free(a);
}

static void apply_get(struct apply *a);

static void
apply_finish(struct apply *a, const struct gdp_kube_result *res)
{
    a->done(a->c, res, a->userdata);
    apply_free(a);
}

static void
on_apply_write(struct gdp_kube_client *c _unused_, const struct gdp_kube_result *res,
               void *userdata)
{
    struct apply *a = userdata;
    if ((res->r == -ESTALE || res->r == -EEXIST) && !a->retried) {
        a->retried = true; /* someone else wrote it between our GET and write */
        apply_get(a);
        return;
    }
    apply_finish(a, res);
}

static void
apply_write(struct apply *a, enum gdp_kube_method m)
{
    struct gdp_diag diag = {0};
    struct gdp_kube_ref target = a->ref.ref;
    struct gdp_kube_req *req = NULL;
    if (m == GDP_KUBE_CREATE) {
        target.name = NULL;
    }
    const struct gdp_kube_call call = {m, &target, NULL, a->obj, on_apply_write, a};
    int r = gdp_kube_request(a->c, &call, &req, &diag);
    if (r < 0) {
        const struct gdp_kube_result res = {.r = r, .diag = &diag};
        apply_finish(a, &res);
        return;
    }
    gdp_kube_req_set_cleanup(req, apply_free);
}

static void
on_apply_get(struct gdp_kube_client *c _unused_, const struct gdp_kube_result *res, void *userdata)
{
    struct apply *a = userdata;
    if (res->r == -ENOENT) {
        json_t *meta = json_object_get(a->obj, "metadata");
        (void)json_object_del(meta, "resourceVersion");
        apply_write(a, GDP_KUBE_CREATE);
        return;
    }
    if (res->r < 0) {
        apply_finish(a, res);
        return;
    }
    json_t *rv = json_object_get(json_object_get(res->body, "metadata"), "resourceVersion");
    json_t *meta = json_object_get(a->obj, "metadata");
    if (json_is_object(meta) && json_is_string(rv)) {
        (void)json_object_set(meta, "resourceVersion", rv);
    }
    apply_write(a, GDP_KUBE_UPDATE);
}

static void
apply_get(struct apply *a)
{
    struct gdp_diag diag = {0};
    struct gdp_kube_req *req = NULL;
    const struct gdp_kube_call call = {GDP_KUBE_GET, &a->ref.ref, NULL, NULL, on_apply_get, a};
    int r = gdp_kube_request(a->c, &call, &req, &diag);
    if (r < 0) {
        const struct gdp_kube_result res = {.r = r, .diag = &diag};
        apply_finish(a, &res);
        return;
    }
    gdp_kube_req_set_cleanup(req, apply_free);
}

int
gdp_kube_apply(struct gdp_kube_client *c, const struct gdp_kube_ref *ref, const json_t *obj,
               gdp_kube_done_fn done, void *userdata, struct gdp_diag *diag)
{
    if (ref->name == NULL || !json_is_object(json_object_get(obj, "metadata"))) {
        return gdp_diag_set(diag, -EINVAL, "apply: the object needs a name and metadata");
    }
    struct apply *a = gdp_calloc(1, sizeof *a);
    a->c = c;
    ref_copy(&a->ref, ref);
    a->obj = json_deep_copy(obj);
    a->done = done;
    a->userdata = userdata;
    struct gdp_kube_req *req = NULL;
    const struct gdp_kube_call call = {GDP_KUBE_GET, &a->ref.ref, NULL, NULL, on_apply_get, a};
    int r = gdp_kube_request(c, &call, &req, diag);
    if (r < 0) {
        apply_free(a);
        return r;
    }
    gdp_kube_req_set_cleanup(req, apply_free);
    return 0;
}
