/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GPU feature discovery's NodeFeature output (--use-node-feature-api): the labels go into the
 * NodeFeature object nvidia-features-for-<node> in --namespace, labelled with the node name
 * for node-feature-discovery and owned by the DaemonSet and the Pod when --pod-name is known,
 * as NVIDIA's GFD writes it. GFD itself is a synchronous loop, so each call here runs its own
 * event loop until the API client is done (bounded by the request timeout).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/gfd.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"
#include "kube/kube.h"
#include "labels/labels.h"

#define NFD_GROUP       "nfd.k8s-sigs.io"
#define NFD_VERSION     "v1alpha1"
#define NODE_NAME_LABEL "nfd.node.kubernetes.io/node-name"
#define WAIT_MS         60000 /* longer than any request's own timeout */

struct gdp_gfd_api {
    struct gdp_loop *loop;
    struct gdp_kube_config kcfg;
    struct gdp_kube_client *client;
    char *name; /* nvidia-features-for-<node> */
    char *node;
    char *namespace;
    json_t *owners;    /* ownerReferences, or NULL (no --pod-name) */
    json_t *published; /* spec.labels last stored, or NULL */
    /* the call in flight */
    bool done;
    int r;
    json_t *body;
    struct gdp_diag diag;
};

static void
on_done(struct gdp_kube_client *c _unused_, const struct gdp_kube_result *res, void *userdata)
{
    struct gdp_gfd_api *api = userdata;
    api->done = true;
    api->r = res->r;
    api->body = res->body != NULL ? json_incref(res->body) : NULL;
    if (res->r < 0 && res->diag != NULL) {
        api->diag = *res->diag;
    }
}

/* Runs the loop until the call started with on_done finishes. */
static int
wait_done(struct gdp_gfd_api *api, struct gdp_diag *diag)
{
    uint64_t deadline = gdp_loop_now_ms() + WAIT_MS;
    while (!api->done && gdp_loop_now_ms() < deadline) {
        (void)gdp_loop_run_once(api->loop, 100);
    }
    if (!api->done) {
        return gdp_diag_set(diag, -ETIMEDOUT, "no answer from the API server in %d s",
                            WAIT_MS / 1000);
    }
    if (api->r < 0) {
        *diag = api->diag;
    }
    return api->r;
}

static void
start_call(struct gdp_gfd_api *api)
{
    json_decref(api->body);
    api->body = NULL;
    api->done = false;
    api->r = 0;
    api->diag = (struct gdp_diag){0};
}

/* An ownerReference to obj (kind, apiVersion from obj or given), or NULL without a uid. */
static json_t *
owner_ref(const char *api_version, const char *kind, const char *name, const char *uid,
          bool controller)
{
    if (name == NULL || uid == NULL) {
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api_version, "kind", kind,
                     "name", name, "uid", uid, "controller", controller, "blockOwnerDeletion",
                     false);
}

/* The DaemonSet that controls pod (from its ownerReferences), as an ownerReference. */
static json_t *
daemonset_of(const json_t *pod)
{
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(json_object_get(pod, "metadata"), "ownerReferences"), i, ref)
    {
        if (streq_ptr(json_string_value(json_object_get(ref, "kind")), "DaemonSet")) {
            return owner_ref("apps/v1", "DaemonSet",
                             json_string_value(json_object_get(ref, "name")),
                             json_string_value(json_object_get(ref, "uid")), true);
        }
    }
    return NULL;
}

/* Reads our Pod (--pod-name) for the ownerReferences: its DaemonSet, then the Pod itself. */
static int
load_owners(struct gdp_gfd_api *api, const char *pod_name, struct gdp_diag *diag)
{
    const struct gdp_kube_ref ref = {
            .version = "v1", .resource = "pods", .namespace = api->namespace, .name = pod_name};
    const struct gdp_kube_call call = {GDP_KUBE_GET, &ref, NULL, NULL, on_done, api};
    start_call(api);
    int r = gdp_kube_request(api->client, &call, NULL, diag);
    r = r < 0 ? r : wait_done(api, diag);
    if (r < 0) {
        return r;
    }
    const json_t *meta = json_object_get(api->body, "metadata");
    api->owners = json_array();
    json_t *ds = daemonset_of(api->body);
    if (ds != NULL) {
        (void)json_array_append_new(api->owners, ds);
    }
    json_t *pod = owner_ref("v1", "Pod", pod_name, json_string_value(json_object_get(meta, "uid")),
                            false);
    if (pod != NULL) {
        (void)json_array_append_new(api->owners, pod);
    }
    return 0;
}

static int
check_names(const struct gdp_config *cfg, struct gdp_diag *diag)
{
    if (gdp_nonempty(cfg->gfd_node_name) == NULL) {
        return gdp_diag_set(diag, GDP_E_CONFIG,
                            "no node name: set --node-name or NODE_NAME, or "
                            "--use-node-feature-api=false to write the feature file");
    }
    if (gdp_nonempty(cfg->gfd_namespace) == NULL) {
        return gdp_diag_set(diag, GDP_E_CONFIG, "--namespace (NAMESPACE) is empty");
    }
    return 0;
}

int
gdp_gfd_api_new(const struct gdp_config *cfg, char **envp, struct gdp_gfd_api **ret,
                struct gdp_diag *diag)
{
    int r = check_names(cfg, diag);
    if (r < 0) {
        return r;
    }
    struct gdp_gfd_api *api = gdp_calloc(1, sizeof *api);
    api->node = gdp_strdup(cfg->gfd_node_name);
    api->namespace = gdp_strdup(cfg->gfd_namespace);
    api->name = gdp_asprintf("nvidia-features-for-%s", cfg->gfd_node_name);
    const struct gdp_kube_opts kopts = {.user_agent = "gpu-feature-discovery"};
    r = gdp_kube_config_load(&api->kcfg, cfg->gfd_kubeconfig, envp,
                             gdp_nonempty(cfg->gfd_serviceaccount_dir), diag);
    r = r < 0 ? r : gdp_loop_new(&api->loop, diag);
    r = r < 0 ? r : gdp_kube_client_new(api->loop, &api->kcfg, &kopts, &api->client, diag);
    if (r >= 0 && gdp_nonempty(cfg->gfd_pod_name) != NULL) {
        r = load_owners(api, cfg->gfd_pod_name, diag);
        r = r < 0 ? gdp_diag_prefix(diag, r, "reading pod %s for its owner", cfg->gfd_pod_name) : r;
    }
    if (r < 0) {
        gdp_gfd_api_free(api);
        return r;
    }
    *ret = api;
    return 0;
}

void
gdp_gfd_api_free(struct gdp_gfd_api *api)
{
    if (api == NULL) {
        return;
    }
    gdp_kube_client_free(api->client);
    gdp_loop_free(api->loop);
    gdp_kube_config_done(&api->kcfg);
    json_decref(api->owners);
    json_decref(api->published);
    json_decref(api->body);
    free(api->name);
    free(api->node);
    free(api->namespace);
    free(api);
}

static json_t *
labels_json(const struct gdp_labels *labels)
{
    json_t *o = json_object();
    for (size_t i = 0; i < labels->n; i++) {
        (void)json_object_set_new(o, labels->v[i].key, json_string(labels->v[i].value));
    }
    return o;
}

static json_t *
node_feature(const struct gdp_gfd_api *api, json_t *spec_labels)
{
    json_t *meta = json_pack("{s:s, s:s, s:{s:s}}", "name", api->name, "namespace", api->namespace,
                             "labels", NODE_NAME_LABEL, api->node);
    if (api->owners != NULL && json_array_size(api->owners) > 0) {
        (void)json_object_set(meta, "ownerReferences", api->owners);
    }
    return json_pack("{s:s, s:s, s:o, s:{s:O}}", "apiVersion", NFD_GROUP "/" NFD_VERSION, "kind",
                     "NodeFeature", "metadata", meta, "spec", "labels", spec_labels);
}

int
gdp_gfd_api_publish(struct gdp_gfd_api *api, const struct gdp_labels *labels, struct gdp_diag *diag)
{
    json_t *want = labels_json(labels);
    if (api->published != NULL && json_equal(api->published, want)) {
        json_decref(want);
        log_debug("NodeFeature %s/%s unchanged", api->namespace, api->name);
        return 0;
    }
    const struct gdp_kube_ref ref = {.group = NFD_GROUP,
                                     .version = NFD_VERSION,
                                     .resource = "nodefeatures",
                                     .namespace = api->namespace,
                                     .name = api->name};
    json_t *obj = node_feature(api, want);
    start_call(api);
    int r = gdp_kube_apply(api->client, &ref, obj, on_done, api, diag);
    json_decref(obj);
    r = r < 0 ? r : wait_done(api, diag);
    if (r < 0) {
        json_decref(want);
        return r;
    }
    json_decref(api->published);
    api->published = want;
    log_info("NodeFeature %s/%s holds %zu labels", api->namespace, api->name, labels->n);
    return 0;
}
