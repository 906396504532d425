/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests to the API server on libcurl's multi interface, driven by the loop: libcurl tells
 * us which sockets to watch and when to wake it (socket and timer callbacks), we tell it what
 * is ready. Response data is only collected inside libcurl's callbacks; results and watch
 * lines are handed to the caller after libcurl has returned, and finished or cancelled
 * requests are freed by a loop hook, never inside a callback. The bearer token file is
 * re-read when it changes on disk, and once more after a 401 (bound tokens rotate).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "kube/curl_dl.h"
#include "kube/kube.h"
#include "kube/kube_int.h"

#ifndef GDP_VERSION
#define GDP_VERSION "0"
#endif

#define TIMEOUT_DEFAULT_MS 30000
#define WATCH_GRACE_S      30
#define RES_MAX            160

/* libcurl's symbols, set by the first gdp_kube_client_new() (loop thread only). */
static const struct gdp_curl_fns *cu;

struct gdp_kube_req {
    struct gdp_kube_client *c;
    struct gdp_kube_req *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    enum gdp_kube_method m;
    struct gdp_kube_ref ref; /* only what status messages need: group and resource */
    char group[RES_MAX], resource[RES_MAX];
    char *url, *body;
    uint64_t transfer_timeout_ms;
    char *buf;
    size_t len, cap;
    bool too_big, active, dead, auth_retried;
    gdp_kube_line_fn line;
    gdp_kube_done_fn done;
    gdp_kube_cleanup_fn cleanup;
    void *userdata;
    char errbuf[CURL_ERROR_SIZE];
};

struct gdp_kube_client {
    struct gdp_loop *loop;
    const struct gdp_kube_config *cfg;
    CURLM *multi;
    struct gdp_loop_timer *timer;
    struct gdp_kube_req *reqs;
    uint64_t timeout_ms;
    char *user_agent;
    char *token;
    struct stat token_st;
};

static size_t
on_write(char *data, size_t size, size_t n, void *userdata)
{
    struct gdp_kube_req *req = userdata;
    size_t add = size * n;
    if (req->len + add > GDP_KUBE_BODY_MAX) {
        req->too_big = true;
        return 0;
    }
    if (req->len + add + 1 > req->cap) {
        size_t cap = req->cap == 0 ? 4096 : req->cap;
        while (cap < req->len + add + 1) {
            cap *= 2;
        }
        req->buf = gdp_reallocarray(req->buf, cap, 1);
        req->cap = cap;
    }
    memcpy(req->buf + req->len, data, add);
    req->len += add;
    req->buf[req->len] = '\0';
    return add;
}

/* Re-reads the token file when it changed on disk (or always, with force). */
static void
refresh_token(struct gdp_kube_client *c, bool force)
{
    struct stat st;
    if (c->cfg->token_file == NULL || stat(c->cfg->token_file, &st) < 0) {
        return;
    }
    if (!force && c->token != NULL && st.st_ino == c->token_st.st_ino &&
        st.st_size == c->token_st.st_size && st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec) {
        return;
    }
    char *tok = NULL;
    if (gdp_read_file(c->cfg->token_file, GDP_KUBE_FILE_MAX, &tok) < 0) {
        return; /* keep the old one: the next 401 tells the caller */
    }
    size_t n = strlen(tok);
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ')) {
        tok[--n] = '\0';
    }
    free(c->token);
    c->token = tok;
    c->token_st = st;
}

static void
set_headers(struct gdp_kube_req *req)
{
    struct gdp_kube_client *c = req->c;
    const char *token = c->cfg->token != NULL ? c->cfg->token : c->token;
    cu->slist_free_all(req->headers);
    req->headers = cu->slist_append(NULL, "Accept: application/json");
    if (req->body != NULL) {
        req->headers = cu->slist_append(req->headers,
                                        req->m == GDP_KUBE_PATCH
                                                ? "Content-Type: application/merge-patch+json"
                                                : "Content-Type: application/json");
    }
    if (token != NULL && token[0] != '\0') {
        _cleanup_free_ char *h = gdp_asprintf("Authorization: Bearer %s", token);
        req->headers = cu->slist_append(req->headers, h);
    }
    if (req->headers == NULL) {
        gdp_oom();
    }
    (void)cu->easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
}

static void
set_tls(struct gdp_kube_req *req)
{
    const struct gdp_kube_config *cfg = req->c->cfg;
    CURL *e = req->easy;
    if (cfg->ca_pem != NULL) {
        struct curl_blob ca = {cfg->ca_pem, strlen(cfg->ca_pem), CURL_BLOB_COPY};
        (void)cu->easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (cfg->cert_pem != NULL && cfg->key_pem != NULL) {
        struct curl_blob cert = {cfg->cert_pem, strlen(cfg->cert_pem), CURL_BLOB_COPY};
        struct curl_blob key = {cfg->key_pem, strlen(cfg->key_pem), CURL_BLOB_COPY};
        (void)cu->easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
        (void)cu->easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        (void)cu->easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
        (void)cu->easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    (void)cu->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cfg->insecure ? 0L : 1L);
    (void)cu->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cfg->insecure ? 0L : 2L);
}

static void
setup_easy(struct gdp_kube_req *req)
{
    static const char *const methods[] = {
            [GDP_KUBE_GET] = "GET",     [GDP_KUBE_LIST] = "GET",   [GDP_KUBE_WATCH] = "GET",
            [GDP_KUBE_CREATE] = "POST", [GDP_KUBE_UPDATE] = "PUT", [GDP_KUBE_PATCH] = "PATCH",
    };
    CURL *e = req->easy;
    (void)cu->easy_setopt(e, CURLOPT_URL, req->url);
    (void)cu->easy_setopt(e, CURLOPT_PRIVATE, req);
    (void)cu->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    (void)cu->easy_setopt(e, CURLOPT_WRITEDATA, req);
    (void)cu->easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    (void)cu->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    (void)cu->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    (void)cu->easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    (void)cu->easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    (void)cu->easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    (void)cu->easy_setopt(e, CURLOPT_USERAGENT, req->c->user_agent);
    (void)cu->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)req->c->timeout_ms);
    (void)cu->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->transfer_timeout_ms);
    (void)cu->easy_setopt(e, CURLOPT_CUSTOMREQUEST, methods[req->m]);
    if (req->body != NULL) {
        (void)cu->easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        (void)cu->easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
    }
    set_tls(req);
    set_headers(req);
}

static int
start(struct gdp_kube_req *req)
{
    refresh_token(req->c, false);
    set_headers(req);
    req->len = 0;
    req->too_big = false;
    CURLMcode mc = cu->multi_add_handle(req->c->multi, req->easy);
    if (mc != CURLM_OK) {
        return -EIO;
    }
    req->active = true;
    return 0;
}

static void
req_free(struct gdp_kube_req *req)
{
    struct gdp_kube_client *c = req->c;
    if (req->active) {
        (void)cu->multi_remove_handle(c->multi, req->easy);
    }
    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else {
        c->reqs = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    }
    if (req->cleanup != NULL) {
        req->cleanup(req->userdata);
    }
    cu->easy_cleanup(req->easy);
    cu->slist_free_all(req->headers);
    free(req->url);
    free(req->body);
    free(req->buf);
    free(req);
}

void
gdp_kube_req_set_cleanup(struct gdp_kube_req *req, gdp_kube_cleanup_fn fn)
{
    req->cleanup = fn;
}

void
gdp_kube_req_cancel(struct gdp_kube_req *req)
{
    if (req == NULL || req->dead) {
        return;
    }
    req->dead = true; /* freed by the hook: we may be inside one of its callbacks */
    if (req->active) {
        (void)cu->multi_remove_handle(req->c->multi, req->easy);
        req->active = false;
    }
}

static struct gdp_kube_req *
req_new(struct gdp_kube_client *c, enum gdp_kube_method m, const struct gdp_kube_ref *ref,
        char *path)
{
    struct gdp_kube_req *req = gdp_calloc(1, sizeof *req);
    req->c = c;
    req->m = m;
    (void)gdp_strlcpy(req->group, ref->group != NULL ? ref->group : "", sizeof req->group);
    (void)gdp_strlcpy(req->resource, ref->resource, sizeof req->resource);
    req->ref.group = req->group;
    req->ref.resource = req->resource;
    req->url = gdp_asprintf("%s%s", c->cfg->server, path);
    req->easy = cu->easy_init();
    if (req->easy == NULL) {
        gdp_oom();
    }
    req->next = c->reqs;
    if (c->reqs != NULL) {
        c->reqs->prev = req;
    }
    c->reqs = req;
    return req;
}

static int
submit(struct gdp_kube_client *c, const struct gdp_kube_call *call, gdp_kube_line_fn line,
       struct gdp_kube_req **ret, struct gdp_diag *diag)
{
    const struct gdp_kube_ref *ref = call->ref;
    _cleanup_free_ char *path = gdp_kube_path(ref, call->query);
    if (path == NULL) {
        return gdp_diag_set(diag, -EINVAL, "invalid API object reference (%s/%s %s)",
                            ref->version != NULL ? ref->version : "",
                            ref->resource != NULL ? ref->resource : "",
                            ref->name != NULL ? ref->name : "");
    }
    struct gdp_kube_req *req = req_new(c, call->method, ref, path);
    if (call->body != NULL) {
        req->body = json_dumps(call->body, JSON_COMPACT);
    }
    req->line = line;
    req->done = call->done;
    req->userdata = call->userdata;
    req->transfer_timeout_ms = c->timeout_ms;
    if (line != NULL) {
        unsigned timeout_s = call->query != NULL ? call->query->timeout_s : 0;
        req->transfer_timeout_ms = ((uint64_t)timeout_s + WATCH_GRACE_S) * 1000;
    }
    setup_easy(req);
    int r = start(req);
    if (r < 0) {
        req_free(req);
        return gdp_diag_set(diag, r, "cannot start a request to %s", c->cfg->server);
    }
    if (ret != NULL) {
        *ret = req;
    }
    return 0;
}

int
gdp_kube_request(struct gdp_kube_client *c, const struct gdp_kube_call *call,
                 struct gdp_kube_req **ret_req, struct gdp_diag *diag)
{
    return submit(c, call, NULL, ret_req, diag);
}

int
gdp_kube_stream(struct gdp_kube_client *c, const struct gdp_kube_call *call, gdp_kube_line_fn line,
                struct gdp_kube_req **ret_req, struct gdp_diag *diag)
{
    return submit(c, call, line, ret_req, diag);
}

/* Hands complete lines of a streamed response to the caller; keeps the partial tail. */
static void
deliver_lines(struct gdp_kube_req *req, bool final)
{
    size_t off = 0;
    while (!req->dead && off < req->len) {
        char *nl = memchr(req->buf + off, '\n', req->len - off);
        if (nl == NULL && !final) {
            break;
        }
        size_t n = nl != NULL ? (size_t)(nl - (req->buf + off)) : req->len - off;
        if (n > 0) {
            req->line(req, req->buf + off, n, req->userdata);
        }
        off += n + (nl != NULL ? 1 : 0);
    }
    if (off > 0) {
        memmove(req->buf, req->buf + off, req->len - off);
        req->len -= off;
    }
}

static int
transfer_error(struct gdp_kube_req *req, CURLcode cc, struct gdp_diag *diag)
{
    const char *verb = gdp_kube_verb(req->m);
    const char *what = req->errbuf[0] != '\0' ? req->errbuf : cu->easy_strerror(cc);
    if (req->too_big) {
        return gdp_diag_set(diag, -EMSGSIZE, "%s %s: response larger than %zu bytes", verb,
                            req->resource, GDP_KUBE_BODY_MAX);
    }
    int r = cc == CURLE_OPERATION_TIMEDOUT         ? -ETIMEDOUT
            : cc == CURLE_COULDNT_CONNECT          ? -ECONNREFUSED
            : cc == CURLE_PEER_FAILED_VERIFICATION ? -EPERM
                                                   : -EIO;
    return gdp_diag_set(diag, r, "%s %s: %s: %s", verb, req->resource, req->c->cfg->server, what);
}

/* Decodes the finished response into res; res->body is a new reference or NULL. */
static void
collect(struct gdp_kube_req *req, CURLcode cc, struct gdp_kube_result *res, struct gdp_diag *diag)
{
    json_error_t err = {0};
    (void)cu->easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &res->status);
    if (cc != CURLE_OK) {
        res->r = transfer_error(req, cc, diag);
        return;
    }
    bool ok = res->status >= 200 && res->status < 300;
    if (ok && req->line != NULL) {
        deliver_lines(req, true);
        return;
    }
    json_t *body = req->len > 0 ? json_loadb(req->buf, req->len, 0, &err) : NULL;
    if (!ok) {
        res->r = gdp_kube_status_error(res->status, req->m, &req->ref, body, diag);
        json_decref(body);
        return;
    }
    if (body == NULL) {
        res->r = gdp_diag_set(diag, -EPROTO,
                              "%s %s: malformed JSON in the response (line %d, column %d): %s",
                              gdp_kube_verb(req->m), req->resource, err.line, err.column,
                              req->len == 0 ? "empty body" : err.text);
        return;
    }
    res->body = body;
}

static void
finish(struct gdp_kube_req *req, CURLcode cc)
{
    struct gdp_diag diag = {0};
    struct gdp_kube_result res = {.diag = &diag};
    (void)cu->multi_remove_handle(req->c->multi, req->easy);
    req->active = false;
    collect(req, cc, &res, &diag);
    if (res.status == 401 && !req->auth_retried && req->c->cfg->token_file != NULL) {
        _cleanup_free_ char *old = req->c->token != NULL ? gdp_strdup(req->c->token) : NULL;
        refresh_token(req->c, true);
        if (!streq_ptr(old, req->c->token)) {
            req->auth_retried = true;
            if (start(req) == 0) {
                return;
            }
        }
    }
    req->dead = true;
    req->cleanup = NULL; /* done owns userdata from here */
    if (req->done != NULL) {
        req->done(req->c, &res, req->userdata);
    }
    json_decref(res.body);
}

static void
process(struct gdp_kube_client *c)
{
    for (struct gdp_kube_req *req = c->reqs; req != NULL; req = req->next) {
        if (req->line != NULL && req->active && !req->dead && req->len > 0) {
            long status = 0;
            (void)cu->easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 200 && status < 300) {
                deliver_lines(req, false);
            }
        }
    }
    CURLMsg *msg;
    int left;
    while ((msg = cu->multi_info_read(c->multi, &left)) != NULL) {
        struct gdp_kube_req *req = NULL;
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        (void)cu->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        if (req != NULL && req->active && !req->dead) {
            finish(req, msg->data.result);
        }
    }
}

static void
on_io(struct gdp_loop *loop _unused_, int fd, uint32_t events, void *userdata)
{
    struct gdp_kube_client *c = userdata;
    int flags = ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
    int running;
    (void)cu->multi_socket_action(c->multi, fd, flags, &running);
    process(c);
}

static void
on_timer(struct gdp_loop *loop _unused_, struct gdp_loop_timer *t _unused_, void *userdata)
{
    struct gdp_kube_client *c = userdata;
    int running;
    (void)cu->multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process(c);
}

static int
on_socket(CURL *e _unused_, curl_socket_t s, int what, void *userp, void *socketp _unused_)
{
    struct gdp_kube_client *c = userp;
    if (what == CURL_POLL_REMOVE) {
        (void)gdp_loop_del_fd(c->loop, s);
        return 0;
    }
    uint32_t ev = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    if (gdp_loop_mod_fd(c->loop, s, ev) == -ENOENT) {
        (void)gdp_loop_add_fd(c->loop, s, ev, on_io, c);
    }
    return 0;
}

static int
on_curl_timer(CURLM *multi _unused_, long timeout_ms, void *userp)
{
    struct gdp_kube_client *c = userp;
    /* 0 means "as soon as possible": a 1 ms timer keeps it off libcurl's own stack */
    uint64_t ms = timeout_ms < 0 ? 0 : timeout_ms == 0 ? 1 : (uint64_t)timeout_ms;
    return gdp_loop_timer_set(c->timer, ms, 0) < 0 ? -1 : 0;
}

static void
reap(struct gdp_loop *loop _unused_, void *userdata)
{
    struct gdp_kube_client *c = userdata;
    struct gdp_kube_req *next;
    for (struct gdp_kube_req *req = c->reqs; req != NULL; req = next) {
        next = req->next;
        if (req->dead) {
            req_free(req);
        }
    }
}

int
gdp_kube_client_new(struct gdp_loop *loop, const struct gdp_kube_config *cfg,
                    const struct gdp_kube_opts *opts, struct gdp_kube_client **ret,
                    struct gdp_diag *diag)
{
    cu = gdp_curl_load(diag);
    if (cu == NULL) {
        return -ENOENT;
    }
    struct gdp_kube_client *c = gdp_calloc(1, sizeof *c);
    c->loop = loop;
    c->cfg = cfg;
    c->timeout_ms = opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms : TIMEOUT_DEFAULT_MS;
    c->user_agent =
            gdp_strdup(opts != NULL && opts->user_agent != NULL ? opts->user_agent
                                                                : "gpu-device-plugin/" GDP_VERSION);
    c->multi = cu->multi_init();
    int r = c->multi == NULL ? gdp_diag_set(diag, -ENOMEM, "curl_multi_init failed")
                             : gdp_loop_timer_new(loop, on_timer, c, &c->timer, diag);
    if (r < 0) {
        gdp_kube_client_free(c);
        return r;
    }
    (void)cu->multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    (void)cu->multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    (void)cu->multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    (void)cu->multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    (void)gdp_loop_add_hook(loop, reap, c);
    *ret = c;
    return 0;
}

struct gdp_loop *
gdp_kube_client_loop(const struct gdp_kube_client *c)
{
    return c->loop;
}

void
gdp_kube_client_free(struct gdp_kube_client *c)
{
    if (c == NULL) {
        return;
    }
    struct gdp_kube_req *next;
    for (struct gdp_kube_req *req = c->reqs; req != NULL; req = next) {
        next = req->next;
        req_free(req);
    }
    gdp_loop_del_hook(c->loop, reap, c);
    if (c->multi != NULL) {
        (void)cu->multi_cleanup(c->multi);
    }
    gdp_loop_timer_free(c->timer);
    free(c->user_agent);
    free(c->token);
    free(c);
}
