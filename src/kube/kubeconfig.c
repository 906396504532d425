/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the API server is and how to authenticate: in-cluster (KUBERNETES_SERVICE_HOST/_PORT
 * and the service-account token, CA and namespace files) or a kubeconfig file (YAML, or JSON
 * which is YAML too). The kubeconfig is read into a jansson tree first (bounded in nodes), so
 * the walk over contexts, clusters and users is plain JSON lookups.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/diag.h"
#include "core/util.h"
#include "kube/kube.h"

#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"
#define YAML_NODES_MAX 20000
#define YAML_DEPTH_MAX 64

void
gdp_kube_config_done(struct gdp_kube_config *cfg)
{
    free(cfg->server);
    free(cfg->ca_pem);
    free(cfg->token);
    free(cfg->token_file);
    free(cfg->cert_pem);
    free(cfg->key_pem);
    free(cfg->namespace);
    *cfg = (struct gdp_kube_config){0};
}

static int
read_text(const char *path, char **ret, struct gdp_diag *diag)
{
    int r = gdp_read_file(path, GDP_KUBE_FILE_MAX, ret);
    return r < 0 ? gdp_diag_set(diag, r, "%s: %s", path, gdp_strerror(r)) : 0;
}

static void
strip_trailing_space(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) {
        s[--n] = '\0';
    }
}

static int
load_in_cluster(struct gdp_kube_config *cfg, char **envp, const char *sa_dir, struct gdp_diag *diag)
{
    const char *host = gdp_env_get(envp, "KUBERNETES_SERVICE_HOST");
    const char *port = gdp_env_get(envp, "KUBERNETES_SERVICE_PORT");
    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
        return gdp_diag_set(diag, -ENOENT,
                            "not running in a cluster (KUBERNETES_SERVICE_HOST and "
                            "KUBERNETES_SERVICE_PORT unset) and no kubeconfig given");
    }
    bool v6 = strchr(host, ':') != NULL;
    cfg->server = gdp_asprintf("https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    cfg->in_cluster = true;
    const char *dir = sa_dir != NULL ? sa_dir : SA_DIR_DEFAULT;
    _cleanup_free_ char *ca = gdp_asprintf("%s/ca.crt", dir);
    _cleanup_free_ char *ns = gdp_asprintf("%s/namespace", dir);
    cfg->token_file = gdp_asprintf("%s/token", dir);
    int r = read_text(ca, &cfg->ca_pem, diag);
    if (r < 0) {
        return r;
    }
    if (read_text(ns, &cfg->namespace, NULL) < 0) {
        cfg->namespace = gdp_strdup("default");
    }
    strip_trailing_space(cfg->namespace);
    return 0;
}

/* Bounds on the YAML walk: nodes visited (aliases can multiply them) and nesting depth. */
struct ywalk {
    yaml_document_t *doc;
    size_t left;
    unsigned depth;
    bool over;
};

static json_t *yaml_to_json(struct ywalk *w, yaml_node_t *n);

static json_t *
yaml_scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (streq(v, "true") || streq(v, "false"))) {
        return json_boolean(streq(v, "true"));
    }
    return json_stringn(v, n->data.scalar.length);
}

static json_t *
yaml_collection(struct ywalk *w, yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *out = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            json_t *v = yaml_to_json(w, yaml_document_get_node(w->doc, *i));
            (void)json_array_append_new(out, v != NULL ? v : json_null());
        }
        return out;
    }
    json_t *out = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        json_t *v = yaml_to_json(w, yaml_document_get_node(w->doc, p->value));
        if (k != NULL && k->type == YAML_SCALAR_NODE) {
            (void)json_object_set_new(out, (const char *)k->data.scalar.value,
                                      v != NULL ? v : json_null());
        } else {
            json_decref(v);
        }
    }
    return out;
}

/* YAML to JSON: scalars stay strings except true/false (enough for kubeconfig's fields). */
static json_t *
yaml_to_json(struct ywalk *w, yaml_node_t *n)
{
    if (n == NULL || w->over) {
        return NULL;
    }
    if (w->left == 0 || w->depth >= YAML_DEPTH_MAX) {
        w->over = true;
        return NULL;
    }
    w->left--;
    if (n->type == YAML_SCALAR_NODE) {
        return yaml_scalar(n);
    }
    w->depth++;
    json_t *out = yaml_collection(w, n);
    w->depth--;
    return out;
}

static json_t *
parse_yaml(const char *text, size_t len, struct gdp_diag *diag)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        gdp_oom();
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        (void)gdp_diag_set(diag, GDP_E_CONFIG, "kubeconfig:%zu:%zu: %s",
                           parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                           parser.problem != NULL ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return NULL;
    }
    struct ywalk w = {.doc = &doc, .left = YAML_NODES_MAX};
    json_t *root = yaml_to_json(&w, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (root == NULL || w.over || !json_is_object(root)) {
        json_decref(root);
        (void)gdp_diag_set(diag, GDP_E_CONFIG,
                           "kubeconfig: not a mapping, or too large or too deeply nested");
        return NULL;
    }
    return root;
}

/* The "<what>" member of the entry of list `key` whose "name" is name. */
static json_t *
named(json_t *root, const char *key, const char *what, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(root, key), i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n != NULL && name != NULL && streq(n, name)) {
            return json_object_get(e, what);
        }
    }
    return NULL;
}

static char *
resolve(const char *dir, const char *file)
{
    if (file[0] == '/' || dir == NULL || dir[0] == '\0') {
        return gdp_strdup(file);
    }
    return gdp_asprintf("%s/%s", dir, file);
}

/* One credential: inline base64 "<key>-data" or the file "<key>". */
static int
data_or_file(json_t *obj, const char *key, const char *dir, char **ret, struct gdp_diag *diag)
{
    _cleanup_free_ char *dkey = gdp_asprintf("%s-data", key);
    const char *data = json_string_value(json_object_get(obj, dkey));
    const char *file = json_string_value(json_object_get(obj, key));
    size_t len;
    if (data != NULL) {
        int r = gdp_kube_base64_decode(data, ret, &len);
        return r < 0 ? gdp_diag_set(diag, GDP_E_CONFIG, "kubeconfig: %s: not base64", dkey) : 0;
    }
    if (file != NULL) {
        _cleanup_free_ char *path = resolve(dir, file);
        return read_text(path, ret, diag);
    }
    return 0;
}

static int
parse_user(struct gdp_kube_config *cfg, json_t *user, const char *dir, struct gdp_diag *diag)
{
    const char *token = json_string_value(json_object_get(user, "token"));
    const char *token_file = json_string_value(json_object_get(user, "tokenFile"));
    if (token != NULL) {
        cfg->token = gdp_strdup(token);
    } else if (token_file != NULL) {
        cfg->token_file = resolve(dir, token_file);
    }
    if (json_object_get(user, "exec") != NULL || json_object_get(user, "auth-provider") != NULL) {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "kubeconfig: users[].user: exec and auth-provider plugins are not "
                            "supported; use a token or a client certificate");
    }
    int r = data_or_file(user, "client-certificate", dir, &cfg->cert_pem, diag);
    if (r >= 0) {
        r = data_or_file(user, "client-key", dir, &cfg->key_pem, diag);
    }
    if (r >= 0 && (cfg->cert_pem == NULL) != (cfg->key_pem == NULL)) {
        r = gdp_diag_set(diag, GDP_E_CONFIG,
                         "kubeconfig: client-certificate and client-key go together");
    }
    return r;
}

static int
parse_cluster(struct gdp_kube_config *cfg, json_t *cluster, const char *dir, struct gdp_diag *diag)
{
    const char *server = json_string_value(json_object_get(cluster, "server"));
    if (server == NULL || server[0] == '\0') {
        return gdp_diag_set(diag, GDP_E_CONFIG, "kubeconfig: cluster has no server");
    }
    if (!startswith(server, "https://") && !startswith(server, "http://")) {
        return gdp_diag_set(diag, GDP_E_CONFIG, "kubeconfig: server \"%s\" is not an http(s) URL",
                            server);
    }
    cfg->server = gdp_strdup(server);
    size_t n = strlen(cfg->server);
    while (n > 0 && cfg->server[n - 1] == '/') {
        cfg->server[--n] = '\0';
    }
    cfg->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
    return data_or_file(cluster, "certificate-authority", dir, &cfg->ca_pem, diag);
}

int
gdp_kube_config_parse(struct gdp_kube_config *cfg, const char *text, size_t len, const char *dir,
                      struct gdp_diag *diag)
{
    json_t *root = parse_yaml(text, len, diag);
    if (root == NULL) {
        return GDP_E_CONFIG;
    }
    const char *ctx_name = json_string_value(json_object_get(root, "current-context"));
    json_t *ctx = named(root, "contexts", "context", ctx_name);
    if (ctx == NULL) {
        int r = gdp_diag_set(diag, GDP_E_CONFIG, "kubeconfig: current-context \"%s\" not found",
                             ctx_name != NULL ? ctx_name : "");
        json_decref(root);
        return r;
    }
    const char *cl = json_string_value(json_object_get(ctx, "cluster"));
    const char *us = json_string_value(json_object_get(ctx, "user"));
    const char *ns = json_string_value(json_object_get(ctx, "namespace"));
    json_t *cluster = named(root, "clusters", "cluster", cl);
    json_t *user = named(root, "users", "user", us);
    int r = cluster == NULL
                    ? gdp_diag_set(diag, GDP_E_CONFIG, "kubeconfig: cluster \"%s\" not found",
                                   cl != NULL ? cl : "")
                    : parse_cluster(cfg, cluster, dir, diag);
    if (r >= 0 && user != NULL) {
        r = parse_user(cfg, user, dir, diag);
    }
    cfg->namespace = gdp_strdup(ns != NULL && ns[0] != '\0' ? ns : "default");
    json_decref(root);
    return r;
}

static int
load_kubeconfig(struct gdp_kube_config *cfg, const char *path, struct gdp_diag *diag)
{
    _cleanup_free_ char *text = NULL;
    int r = read_text(path, &text, diag);
    if (r < 0) {
        return r;
    }
    _cleanup_free_ char *dir = gdp_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
    } else {
        dir[0] = '\0';
    }
    r = gdp_kube_config_parse(cfg, text, strlen(text), dir, diag);
    return r < 0 ? gdp_diag_prefix(diag, r, "%s", path) : 0;
}

int
gdp_kube_config_load(struct gdp_kube_config *cfg, const char *kubeconfig, char **envp,
                     const char *sa_dir, struct gdp_diag *diag)
{
    if (kubeconfig != NULL && kubeconfig[0] != '\0') {
        return load_kubeconfig(cfg, kubeconfig, diag);
    }
    return load_in_cluster(cfg, envp, sa_dir, diag);
}
