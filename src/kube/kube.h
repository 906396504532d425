/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small Kubernetes API client: where the API server is and how to authenticate (in-cluster
 * service account or a kubeconfig file), JSON requests (GET, CREATE, UPDATE, PATCH) and
 * list+watch with resourceVersion, bookmarks, relist on 410 Gone and reconnection with backoff.
 * Transfers run on libcurl's multi interface driven by the daemon's epoll loop: nothing
 * blocks the loop thread. HTTP/2 is used where the server offers it through ALPN, HTTP/1.1
 * otherwise; TLS is always verified against the cluster CA. Knows nothing about GPUs.
 * docs/kube-api.md describes what is supported and the RBAC each call needs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct gdp_diag;
struct gdp_loop;
struct gdp_kube_client;
struct gdp_kube_req;
struct gdp_kube_watch;

/* Largest response body (or single watch event) accepted; bigger ones fail with -EMSGSIZE. */
#define GDP_KUBE_BODY_MAX ((size_t)8 << 20)
/* Largest kubeconfig, token, CA or namespace file read. */
#define GDP_KUBE_FILE_MAX ((size_t)1 << 20)

/* Where the API server is and how to reach it; filled by gdp_kube_config_load(). */
struct gdp_kube_config {
    char *server;     /* "https://host:port" (no trailing slash) */
    char *ca_pem;     /* PEM bundle to verify the server with; NULL: the system store */
    char *token;      /* bearer token given inline, or NULL */
    char *token_file; /* re-read when it changes and after a 401, or NULL */
    char *cert_pem;   /* client certificate (PEM) or NULL */
    char *key_pem;    /* its private key (PEM) or NULL */
    char *namespace;  /* the pod's namespace (in-cluster) or the context's; "default" */
    bool insecure;    /* kubeconfig's insecure-skip-tls-verify: the caller must warn */
    bool in_cluster;
};

/*
 * Fills cfg: from the kubeconfig file when kubeconfig is non-empty, else in-cluster from
 * KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT in envp ("K=V", NULL-terminated) and the
 * service-account files in sa_dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount).
 * Returns 0, -ENOENT (no in-cluster environment, or a file missing), GDP_E_CONFIG (a bad
 * kubeconfig: diag names the key), or -errno reading a file; diag filled on failure. cfg is
 * owned by the caller (gdp_kube_config_done()), also after a failure.
 */
int gdp_kube_config_load(struct gdp_kube_config *cfg, const char *kubeconfig, char **envp,
                         const char *sa_dir, struct gdp_diag *diag);

/*
 * Parses a kubeconfig document (YAML or JSON, len bytes) into cfg: the current context's
 * cluster (server, certificate-authority[-data], insecure-skip-tls-verify) and user (token,
 * tokenFile, client-certificate[-data], client-key[-data]). Relative file names are taken
 * from dir (may be NULL). Returns 0 or GDP_E_CONFIG / -errno with diag filled.
 */
int gdp_kube_config_parse(struct gdp_kube_config *cfg, const char *text, size_t len,
                          const char *dir, struct gdp_diag *diag);

/* Frees what cfg holds and zeroes it. Accepts a zeroed or half-filled cfg. */
void gdp_kube_config_done(struct gdp_kube_config *cfg);

/*
 * Decodes standard base64 (whitespace ignored, padding optional). Returns 0 and *ret (NUL-
 * terminated, caller frees with free()) with *ret_len, or -EINVAL for bad input.
 */
int gdp_kube_base64_decode(const char *in, char **ret, size_t *ret_len);

/* An API object or collection: group "" (or NULL) is the core group. */
struct gdp_kube_ref {
    const char *group;     /* "nfd.k8s-sigs.io", or NULL for core */
    const char *version;   /* "v1", "v1alpha1" */
    const char *resource;  /* plural: "nodes", "nodefeatures" */
    const char *namespace; /* NULL for cluster-scoped resources */
    const char *name;      /* NULL for the collection */
};

/* Query parameters of a list or watch; NULL / 0 / false leaves one out. */
struct gdp_kube_query {
    const char *label_selector;
    const char *field_selector;
    const char *resource_version;
    bool watch;
    bool bookmarks;
    unsigned timeout_s;
};

/*
 * Builds the request path with its query string, percent-encoded:
 * "/api/v1/nodes/n1", "/apis/<group>/<version>/namespaces/<ns>/<resource>/<name>?...".
 * Returns the path (caller frees with free()), or NULL when a name is empty or holds '/'
 * (names are path segments; selectors and versions are encoded).
 */
char *gdp_kube_path(const struct gdp_kube_ref *ref, const struct gdp_kube_query *query);

/* "nodes" or "nodefeatures.nfd.k8s-sigs.io": how RBAC names the resource. Static or ref's. */
void gdp_kube_rbac_resource(const struct gdp_kube_ref *ref, char *buf, size_t size);

enum gdp_kube_method {
    GDP_KUBE_GET = 0,
    GDP_KUBE_LIST,
    GDP_KUBE_WATCH,
    GDP_KUBE_CREATE,
    GDP_KUBE_UPDATE,
    GDP_KUBE_PATCH, /* JSON merge patch (RFC 7386) */
};

/* The RBAC verb of a method ("get", "list", "watch", "create", "update", "patch"). */
const char *gdp_kube_verb(enum gdp_kube_method m);

/*
 * Writes the message for a failed response into diag and returns the error code:
 * 401 -EACCES, 403 -EPERM (naming the RBAC verb and resource the request needed), 404
 * -ENOENT, 409 -EEXIST (create) or -ESTALE (update conflict), 410 -ESTALE, 429/5xx -EAGAIN,
 * other -EPROTO. body is the decoded Status object or NULL; its message is quoted.
 */
int gdp_kube_status_error(long status, enum gdp_kube_method m, const struct gdp_kube_ref *ref,
                          const json_t *body, struct gdp_diag *diag);

/* Outcome of a request: r == 0 and status 2xx with body (borrowed, valid during the callback;
 * json_incref() to keep it), or r < 0 with the message in diag (status 0 if no response). */
struct gdp_kube_result {
    int r;
    long status;
    json_t *body;
    const struct gdp_diag *diag;
};

typedef void (*gdp_kube_done_fn)(struct gdp_kube_client *c, const struct gdp_kube_result *res,
                                 void *userdata);

/* Client settings beyond the config; zero means the default. */
struct gdp_kube_opts {
    uint64_t timeout_ms; /* per request (not watch), default 30000 */
    const char *user_agent;
};

/*
 * Creates a client on loop using cfg (borrowed: must outlive the client). Returns 0 and
 * *ret (caller frees with gdp_kube_client_free()), or -ENOMEM / -EIO with diag filled.
 */
int gdp_kube_client_new(struct gdp_loop *loop, const struct gdp_kube_config *cfg,
                        const struct gdp_kube_opts *opts, struct gdp_kube_client **ret,
                        struct gdp_diag *diag);

/* Cancels every request (their callbacks are not called) and frees the client. Free the
 * watches first. Accepts NULL. Not from inside a client callback. */
void gdp_kube_client_free(struct gdp_kube_client *c);

/* One request: what to do and whom to tell. */
struct gdp_kube_call {
    enum gdp_kube_method method;
    const struct gdp_kube_ref *ref;     /* LIST and WATCH name a collection */
    const struct gdp_kube_query *query; /* may be NULL */
    const json_t *body;                 /* CREATE/UPDATE/PATCH; borrowed, serialized at once */
    gdp_kube_done_fn done;
    void *userdata;
};

/*
 * Starts a request. call->done is called once on the loop thread, never from inside this
 * call. *ret_req (may be NULL) is borrowed until done runs or gdp_kube_req_cancel().
 * Returns 0, or -EINVAL (bad reference) with diag filled.
 */
int gdp_kube_request(struct gdp_kube_client *c, const struct gdp_kube_call *call,
                     struct gdp_kube_req **ret_req, struct gdp_diag *diag);

/* Cancels a request whose callback has not run yet; its callback never runs. */
void gdp_kube_req_cancel(struct gdp_kube_req *req);

/*
 * Creates the object (ref names it; obj's metadata.name must match) or, when it exists,
 * replaces it with obj carrying the current resourceVersion (one retry on a conflict):
 * GET, then CREATE or UPDATE. done gets the stored object. Same returns as
 * gdp_kube_request(). obj is borrowed (copied now).
 */
int gdp_kube_apply(struct gdp_kube_client *c, const struct gdp_kube_ref *ref, const json_t *obj,
                   gdp_kube_done_fn done, void *userdata, struct gdp_diag *diag);

enum gdp_kube_event {
    GDP_KUBE_ADDED = 0, /* also every object of a (re)list */
    GDP_KUBE_MODIFIED,
    GDP_KUBE_DELETED,
    GDP_KUBE_BOOKMARK,
    GDP_KUBE_ERROR,
};

/*
 * Parses one watch line ({"type": ..., "object": {...}}, len bytes). Returns 0 with *ret_type
 * and *ret_obj (a new reference: caller json_decref()s), or -EPROTO with diag filled.
 */
int gdp_kube_watch_parse(const char *line, size_t len, enum gdp_kube_event *ret_type,
                         json_t **ret_obj, struct gdp_diag *diag);

/* An object event (ADDED/MODIFIED/DELETED; obj borrowed for the call). */
typedef void (*gdp_kube_event_fn)(struct gdp_kube_watch *w, enum gdp_kube_event type, json_t *obj,
                                  void *userdata);
/* Something went wrong and the watch recovers by itself (relist, reconnect after retry_ms):
 * r and diag say what, for the caller to log. */
typedef void (*gdp_kube_trouble_fn)(struct gdp_kube_watch *w, int r, const struct gdp_diag *diag,
                                    uint64_t retry_ms, void *userdata);

struct gdp_kube_watch_opts {
    const struct gdp_kube_ref *ref; /* a collection (name NULL) */
    const char *field_selector;
    const char *label_selector;
    unsigned timeout_s;      /* server-side watch timeout, default 300 */
    uint64_t backoff_min_ms; /* default 500 */
    uint64_t backoff_max_ms; /* default 30000 */
    gdp_kube_event_fn on_event;
    gdp_kube_trouble_fn on_trouble;
    void *userdata;
};

/*
 * Lists the collection (each object reported as ADDED), then watches from the list's
 * resourceVersion with bookmarks, forever: a 410 Gone relists, a closed stream re-watches, a
 * failure retries with exponential backoff. Everything in opts is copied. Returns 0 and *ret
 * (caller frees with gdp_kube_watch_free()), or -errno with diag filled.
 */
int gdp_kube_watch_start(struct gdp_kube_client *c, const struct gdp_kube_watch_opts *opts,
                         struct gdp_kube_watch **ret, struct gdp_diag *diag);

/* Stops and frees a watch; safe from inside its own callbacks. Accepts NULL. */
void gdp_kube_watch_free(struct gdp_kube_watch *w);

/* The resourceVersion the watch has seen last ("" before the first list). Borrowed. */
const char *gdp_kube_watch_rv(const struct gdp_kube_watch *w);
