/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of the API client: request paths and query strings, RBAC names of methods
 * and resources, messages for failed responses (Status objects), watch event lines and base64.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "kube/kube.h"

struct sbuf {
    char *p;
    size_t len, cap;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 128 : b->cap;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        b->p = gdp_reallocarray(b->p, cap, 1);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static bool
unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void
sb_escaped(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (unreserved(*p)) {
            sb_add(b, (const char *)p, 1);
        } else {
            sb_add(b, enc, 3);
        }
    }
}

static bool
segment_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strchr(s, '/') == NULL && !streq(s, ".") && !streq(s, "..");
}

static void
sb_param(struct sbuf *b, bool *first, const char *key, const char *value)
{
    sb_str(b, *first ? "?" : "&");
    *first = false;
    sb_str(b, key);
    sb_str(b, "=");
    sb_escaped(b, value);
}

static void
add_query(struct sbuf *b, const struct gdp_kube_query *q)
{
    bool first = true;
    char num[16];
    if (q->label_selector != NULL && q->label_selector[0] != '\0') {
        sb_param(b, &first, "labelSelector", q->label_selector);
    }
    if (q->field_selector != NULL && q->field_selector[0] != '\0') {
        sb_param(b, &first, "fieldSelector", q->field_selector);
    }
    if (q->resource_version != NULL && q->resource_version[0] != '\0') {
        sb_param(b, &first, "resourceVersion", q->resource_version);
    }
    if (q->watch) {
        sb_param(b, &first, "watch", "true");
    }
    if (q->bookmarks) {
        sb_param(b, &first, "allowWatchBookmarks", "true");
    }
    if (q->timeout_s > 0) {
        (void)snprintf(num, sizeof num, "%u", q->timeout_s);
        sb_param(b, &first, "timeoutSeconds", num);
    }
}

char *
gdp_kube_path(const struct gdp_kube_ref *ref, const struct gdp_kube_query *query)
{
    bool core = ref->group == NULL || ref->group[0] == '\0';
    if (!segment_ok(ref->version) || !segment_ok(ref->resource) ||
        (!core && !segment_ok(ref->group)) ||
        (ref->namespace != NULL && !segment_ok(ref->namespace)) ||
        (ref->name != NULL && !segment_ok(ref->name))) {
        return NULL;
    }
    struct sbuf b = {0};
    sb_str(&b, core ? "/api/" : "/apis/");
    if (!core) {
        sb_str(&b, ref->group);
        sb_str(&b, "/");
    }
    sb_str(&b, ref->version);
    if (ref->namespace != NULL) {
        sb_str(&b, "/namespaces/");
        sb_escaped(&b, ref->namespace);
    }
    sb_str(&b, "/");
    sb_str(&b, ref->resource);
    if (ref->name != NULL) {
        sb_str(&b, "/");
        sb_escaped(&b, ref->name);
    }
    if (query != NULL) {
        add_query(&b, query);
    }
    return b.p;
}

void
gdp_kube_rbac_resource(const struct gdp_kube_ref *ref, char *buf, size_t size)
{
    if (ref->group == NULL || ref->group[0] == '\0') {
        (void)snprintf(buf, size, "%s", ref->resource);
    } else {
        (void)snprintf(buf, size, "%s.%s", ref->resource, ref->group);
    }
}

const char *
gdp_kube_verb(enum gdp_kube_method m)
{
    static const char *const verbs[] = {
            [GDP_KUBE_GET] = "get",       [GDP_KUBE_LIST] = "list",     [GDP_KUBE_WATCH] = "watch",
            [GDP_KUBE_CREATE] = "create", [GDP_KUBE_UPDATE] = "update", [GDP_KUBE_PATCH] = "patch",
    };
    return (size_t)m < ELEMENTSOF(verbs) ? verbs[m] : "?";
}

static const char *
status_message(const json_t *body)
{
    const char *msg = json_string_value(json_object_get(body, "message"));
    return msg != NULL ? msg : "(no message)";
}

int
gdp_kube_status_error(long status, enum gdp_kube_method m, const struct gdp_kube_ref *ref,
                      const json_t *body, struct gdp_diag *diag)
{
    char res[160];
    const char *verb = gdp_kube_verb(m);
    gdp_kube_rbac_resource(ref, res, sizeof res);
    switch (status) {
    case 401:
        return gdp_diag_set(diag, -EACCES,
                            "401 Unauthorized: the API server rejected our credentials (expired "
                            "or rotated token?): %s",
                            status_message(body));
    case 403:
        return gdp_diag_set(diag, -EPERM,
                            "403 Forbidden: RBAC does not allow verb \"%s\" on resource \"%s\" "
                            "(grant it in the ClusterRole or Role): %s",
                            verb, res, status_message(body));
    case 404:
        return gdp_diag_set(diag, -ENOENT, "404 Not Found: %s %s: %s", verb, res,
                            status_message(body));
    case 409:
        return gdp_diag_set(diag, m == GDP_KUBE_CREATE ? -EEXIST : -ESTALE,
                            "409 Conflict: %s %s: %s", verb, res, status_message(body));
    case 410:
        return gdp_diag_set(diag, -ESTALE, "410 Gone: resourceVersion too old: %s",
                            status_message(body));
    default:
        break;
    }
    return gdp_diag_set(diag, status == 429 || status >= 500 ? -EAGAIN : -EPROTO,
                        "HTTP %ld from the API server on %s %s: %s", status, verb, res,
                        status_message(body));
}

int
gdp_kube_watch_parse(const char *line, size_t len, enum gdp_kube_event *ret_type, json_t **ret_obj,
                     struct gdp_diag *diag)
{
    static const char *const names[] = {
            [GDP_KUBE_ADDED] = "ADDED",     [GDP_KUBE_MODIFIED] = "MODIFIED",
            [GDP_KUBE_DELETED] = "DELETED", [GDP_KUBE_BOOKMARK] = "BOOKMARK",
            [GDP_KUBE_ERROR] = "ERROR",
    };
    json_error_t err;
    json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (ev == NULL) {
        return gdp_diag_set(diag, -EPROTO, "malformed watch event (column %d): %s", err.column,
                            err.text);
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    for (size_t i = 0; type != NULL && json_is_object(obj) && i < ELEMENTSOF(names); i++) {
        if (streq(type, names[i])) {
            *ret_type = (enum gdp_kube_event)i;
            *ret_obj = json_incref(obj);
            json_decref(ev);
            return 0;
        }
    }
    json_decref(ev);
    return gdp_diag_set(diag, -EPROTO, "malformed watch event: %s",
                        type == NULL ? "no \"type\"" : "unknown type or no \"object\"");
}

static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int
gdp_kube_base64_decode(const char *in, char **ret, size_t *ret_len)
{
    size_t n = strlen(in), len = 0, bits = 0;
    uint32_t acc = 0;
    _cleanup_free_ char *out = gdp_malloc(n / 4 * 3 + 4);
    bool pad = false;
    for (const char *p = in; *p != '\0'; p++) {
        int v = b64_value(*p);
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
            continue;
        }
        if (*p == '=') {
            pad = true;
            continue;
        }
        if (v < 0 || pad) {
            return -EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6) {
        return -EINVAL;
    }
    out[len] = '\0';
    *ret_len = len;
    *ret = TAKE_PTR(out);
    return 0;
}
