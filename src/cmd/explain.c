/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gpu-device-plugin explain [DEVICE-ID | --pod NS/NAME]`: asks a running plugin (its
 * --metrics-address endpoint, /debug/state) rather than discovering anything itself. For a
 * device: whether it is advertised and healthy, the rule behind it and since when, the GPU
 * behind it and where that sits on the node. For a pod: the kubelet's PodResources API (v1
 * List) says which devices each container holds; the plugin's state says what they are.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <podresources_v1.pb-c.h>

#include "cmd/cmd.h"
#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "rpc/client.h"
#include "rpc/grpc.h"
#include "rpc/http.h"

#define DEFAULT_POD_RESOURCES "/var/lib/kubelet/pod-resources/kubelet.sock"
#define TIMEOUT_MS            5000
#define LIST_METHOD           "/v1.PodResourcesLister/List"
#define LIST_MAX              (16u << 20)

struct explain_args {
    const char *device;
    const char *pod;
    const char *address;
    const char *pod_resources;
};

static void
explain_usage(FILE *f)
{
    (void)fprintf(
            f,
            "Usage: gpu-device-plugin explain [DEVICE-ID | --pod NAMESPACE/NAME] "
            "[--metrics-address ADDR] [--pod-resources-socket PATH]\n"
            "Explains a device (by kubelet device ID, UUID or index) or a pod's devices, "
            "reading the running plugin's state from its endpoint.\n"
            "  --metrics-address ADDR       the plugin's endpoint (HOST:PORT or unix:PATH; "
            "env METRICS_ADDRESS)\n"
            "  --pod NAMESPACE/NAME         the pod to explain, through the kubelet's "
            "PodResources API\n"
            "  --pod-resources-socket PATH  the PodResources socket (default " DEFAULT_POD_RESOURCES
            ")\n");
}

/* "--name VALUE" or "--name=VALUE" (one or two dashes); advances *i past a separate value. */
static const char *
flag_value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    a += a[1] == '-' ? 2 : 1;
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) {
        return NULL;
    }
    if (a[n] == '=') {
        return a + n + 1;
    }
    if (a[n] == '\0' && *i + 1 < argc) {
        return argv[++*i];
    }
    return NULL;
}

static int
parse_flag(int argc, char **argv, int *i, struct explain_args *ret)
{
    const char *v = NULL;
    if ((v = flag_value(argc, argv, i, "metrics-address")) != NULL) {
        ret->address = v;
    } else if ((v = flag_value(argc, argv, i, "pod-resources-socket")) != NULL) {
        ret->pod_resources = v;
    } else if ((v = flag_value(argc, argv, i, "pod")) != NULL) {
        ret->pod = v;
    } else {
        (void)fprintf(stderr, "gpu-device-plugin explain: unknown flag or missing value: %s\n",
                      argv[*i]);
        return -EINVAL;
    }
    return 0;
}

static int
parse_args(int argc, char **argv, char **envp, struct explain_args *ret)
{
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] != '-' && ret->device == NULL) {
            ret->device = argv[i];
        } else if (argv[i][0] != '-' || parse_flag(argc, argv, &i, ret) < 0) {
            return -EINVAL;
        }
    }
    if (ret->address == NULL) {
        ret->address = gdp_env_get(envp, "METRICS_ADDRESS");
    }
    if ((ret->device == NULL) == (ret->pod == NULL)) {
        (void)fprintf(stderr, "gpu-device-plugin explain: give a DEVICE-ID or --pod, not both\n");
        return -EINVAL;
    }
    if (ret->address == NULL || ret->address[0] == '\0') {
        (void)fprintf(stderr, "gpu-device-plugin explain: no endpoint: pass the --metrics-address "
                              "the plugin serves on (or set METRICS_ADDRESS)\n");
        return -EINVAL;
    }
    if (ret->pod_resources == NULL) {
        ret->pod_resources = DEFAULT_POD_RESOURCES;
    }
    return 0;
}

/* ---- the plugin's state ---- */

static json_t *
fetch_state(const char *address)
{
    struct gdp_diag diag = {0};
    struct gdp_http_answer a = {0};
    if (gdp_http_get(address, "/debug/state", TIMEOUT_MS, &a, &diag) < 0) {
        (void)fprintf(stderr, "gpu-device-plugin explain: cannot read the plugin's state: %s\n",
                      diag.msg);
        return NULL;
    }
    json_error_t err;
    _cleanup_free_ char *body = a.body;
    json_t *doc = a.status == 200 ? json_loadb(body, a.len, 0, &err) : NULL;
    if (doc == NULL) {
        (void)fprintf(stderr,
                      "gpu-device-plugin explain: %s answered /debug/state with %u and no "
                      "state document\n",
                      address, a.status);
    }
    return doc;
}

static const char *
jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static bool
device_matches(const json_t *dev, const char *want)
{
    return streq(jstr(dev, "id"), want) || streq(jstr(dev, "uuid"), want) ||
           streq(jstr(dev, "index"), want);
}

static void
print_since(const json_t *dev)
{
    const json_t *since = json_object_get(dev, "since");
    if (!json_is_integer(since)) {
        (void)printf("\n");
        return;
    }
    time_t t = (time_t)json_integer_value(since);
    struct tm tm;
    char buf[64];
    (void)strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
    (void)printf(" since %s\n", buf);
}

static void
print_gpu(const json_t *dev)
{
    const json_t *gpu = json_object_get(dev, "gpu");
    const json_t *numa = json_object_get(dev, "numaNode");
    (void)printf("  backed by:  GPU %lld %s (%s), PCI %s, /dev/nvidia%lld\n",
                 (long long)json_integer_value(json_object_get(gpu, "index")), jstr(gpu, "uuid"),
                 jstr(gpu, "name"), jstr(gpu, "pciBusId"),
                 (long long)json_integer_value(json_object_get(gpu, "minor")));
    if (json_is_integer(numa)) {
        (void)printf("  topology:   NUMA node %lld\n", (long long)json_integer_value(numa));
    } else {
        (void)printf("  topology:   NUMA node unknown\n");
    }
}

static void
print_device(const json_t *res, const json_t *dev)
{
    bool healthy = json_is_true(json_object_get(dev, "healthy"));
    (void)printf("device %s\n", jstr(dev, "id"));
    (void)printf("  advertised: yes, as %s (registration %s, %lld ListAndWatch stream(s))\n",
                 jstr(res, "name"), jstr(res, "registration"),
                 (long long)json_integer_value(json_object_get(res, "listAndWatchStreams")));
    (void)printf("  health:     %s", healthy ? "Healthy" : "Unhealthy");
    print_since(dev);
    if (!healthy) {
        (void)printf("  why:        %s\n", jstr(dev, "reason"));
    }
    if (json_is_integer(json_object_get(dev, "replicas"))) {
        (void)printf("  replica:    %lld of %lld of %s\n",
                     (long long)json_integer_value(json_object_get(dev, "replica")),
                     (long long)json_integer_value(json_object_get(dev, "replicas")),
                     jstr(dev, "uuid"));
    }
    if (streq(jstr(dev, "type"), "mig")) {
        (void)printf("  MIG:        %s, profile %s\n", jstr(dev, "uuid"), jstr(dev, "migProfile"));
    }
    print_gpu(dev);
}

static size_t
explain_advertised(const json_t *state, const char *want)
{
    size_t found = 0;
    size_t i = 0;
    size_t j = 0;
    const json_t *res = NULL;
    const json_t *dev = NULL;
    json_array_foreach(json_object_get(state, "resources"), i, res)
    {
        json_array_foreach(json_object_get(res, "devices"), j, dev)
        {
            if (device_matches(dev, want)) {
                print_device(res, dev);
                found++;
            }
        }
    }
    return found;
}

static size_t
explain_unadvertised(const json_t *state, const char *want)
{
    size_t found = 0;
    size_t i = 0;
    const json_t *dev = NULL;
    json_array_foreach(json_object_get(state, "unadvertised"), i, dev)
    {
        if (streq(jstr(dev, "uuid"), want) || streq(jstr(dev, "index"), want)) {
            (void)printf("device %s (index %s)\n  advertised: no: %s\n", jstr(dev, "uuid"),
                         jstr(dev, "index"), jstr(dev, "why"));
            if (json_object_get(dev, "gpu") != NULL) {
                print_gpu(dev);
            }
            found++;
        }
    }
    return found;
}

static int
explain_device(const json_t *state, const char *want)
{
    size_t found = explain_advertised(state, want) + explain_unadvertised(state, want);
    if (found == 0) {
        (void)fprintf(stderr,
                      "gpu-device-plugin explain: no device %s on this node (not a "
                      "device ID, UUID or index the plugin knows)\n",
                      want);
        return GDP_EXIT_FAILURE;
    }
    if (!json_is_true(json_object_get(state, "ready"))) {
        (void)printf("plugin not ready: %s\n", jstr(state, "notReadyReason"));
    }
    return GDP_EXIT_OK;
}

/* ---- pods ---- */

struct list_call {
    struct gdp_loop *loop;
    int status;
    char message[GDP_GRPC_MESSAGE_MAX];
    V1__ListPodResourcesResponse *resp;
};

static void
on_list(const struct gdp_rpc_result *res, void *userdata)
{
    struct list_call *c = userdata;
    c->status = res->status;
    (void)gdp_strlcpy(c->message, res->message, sizeof c->message);
    if (res->status == GDP_GRPC_OK) {
        c->resp = v1__list_pod_resources_response__unpack(NULL, res->len, res->data);
    }
    gdp_loop_quit(c->loop, 0);
}

static void
loop_freep(struct gdp_loop **loop)
{
    gdp_loop_free(*loop);
}

static V1__ListPodResourcesResponse *
list_pods(const char *socket)
{
    struct gdp_diag diag = {0};
    _cleanup_(loop_freep) struct gdp_loop *loop = NULL;
    struct list_call c = {.status = -1};
    static const uint8_t empty[1];
    const struct gdp_rpc_request req = {.socket_path = socket,
                                        .method = LIST_METHOD,
                                        .data = empty,
                                        .timeout_ms = TIMEOUT_MS,
                                        .max_response = LIST_MAX};
    if (gdp_loop_new(&loop, &diag) < 0 ||
        gdp_rpc_client_call(loop, &req, on_list, &c, NULL, &diag) < 0) {
        (void)fprintf(stderr, "gpu-device-plugin explain: PodResources at %s: %s\n", socket,
                      diag.msg);
        return NULL;
    }
    c.loop = loop;
    (void)gdp_loop_run(loop);
    if (c.resp == NULL) {
        (void)fprintf(stderr, "gpu-device-plugin explain: PodResources List at %s failed: %s\n",
                      socket, c.status == GDP_GRPC_OK ? "malformed answer" : c.message);
    }
    return c.resp;
}

static const json_t *
find_device(const json_t *state, const char *resource, const char *id)
{
    size_t i = 0;
    size_t j = 0;
    const json_t *res = NULL;
    const json_t *dev = NULL;
    json_array_foreach(json_object_get(state, "resources"), i, res)
    {
        if (!streq(jstr(res, "name"), resource)) {
            continue;
        }
        json_array_foreach(json_object_get(res, "devices"), j, dev)
        {
            if (streq(jstr(dev, "id"), id)) {
                return dev;
            }
        }
    }
    return NULL;
}

static void
print_container_device(const json_t *state, const char *resource, const char *id)
{
    const json_t *dev = find_device(state, resource, id);
    if (dev == NULL) {
        (void)printf("      %s: not advertised by this plugin now\n", id);
        return;
    }
    const json_t *gpu = json_object_get(dev, "gpu");
    (void)printf("      %s: %s, GPU %lld %s (%s), runtime ID %s\n", id,
                 json_is_true(json_object_get(dev, "healthy")) ? "Healthy" : "Unhealthy",
                 (long long)json_integer_value(json_object_get(gpu, "index")), jstr(gpu, "uuid"),
                 jstr(gpu, "name"), jstr(dev, "runtimeId"));
}

static void
print_container(const json_t *state, const V1__ContainerResources *c)
{
    (void)printf("  container %s\n", c->name);
    for (size_t i = 0; i < c->n_devices; i++) {
        const V1__ContainerDevices *d = c->devices[i];
        if (!startswith(d->resource_name, "nvidia.com/")) {
            continue;
        }
        (void)printf("    %s: %zu device(s)\n", d->resource_name, d->n_device_ids);
        for (size_t j = 0; j < d->n_device_ids; j++) {
            print_container_device(state, d->resource_name, d->device_ids[j]);
        }
    }
}

static int
explain_pod(const json_t *state, const char *pod, const char *socket)
{
    const char *slash = strchr(pod, '/');
    if (slash == NULL || slash == pod || slash[1] == '\0') {
        (void)fprintf(stderr, "gpu-device-plugin explain: --pod wants NAMESPACE/NAME, not %s\n",
                      pod);
        return GDP_EXIT_USAGE;
    }
    V1__ListPodResourcesResponse *resp = list_pods(socket);
    if (resp == NULL) {
        return GDP_EXIT_FAILURE;
    }
    size_t ns_len = (size_t)(slash - pod);
    int ret = GDP_EXIT_FAILURE;
    for (size_t i = 0; i < resp->n_pod_resources; i++) {
        const V1__PodResources *p = resp->pod_resources[i];
        if (strlen(p->namespace_) != ns_len || strncmp(p->namespace_, pod, ns_len) != 0 ||
            !streq(p->name, slash + 1)) {
            continue;
        }
        (void)printf("pod %s/%s\n", p->namespace_, p->name);
        for (size_t j = 0; j < p->n_containers; j++) {
            print_container(state, p->containers[j]);
        }
        ret = GDP_EXIT_OK;
    }
    if (ret != GDP_EXIT_OK) {
        (void)fprintf(stderr, "gpu-device-plugin explain: the kubelet knows no pod %s\n", pod);
    }
    v1__list_pod_resources_response__free_unpacked(resp, NULL);
    return ret;
}

int
gdp_cmd_explain(int argc, char **argv, char **envp)
{
    struct explain_args args = {0};
    for (int i = 0; i < argc; i++) {
        if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
            explain_usage(stdout);
            return GDP_EXIT_OK;
        }
    }
    if (parse_args(argc, argv, envp, &args) < 0) {
        explain_usage(stderr);
        return GDP_EXIT_USAGE;
    }
    json_t *state = fetch_state(args.address);
    if (state == NULL) {
        return GDP_EXIT_FAILURE;
    }
    int r = args.device != NULL ? explain_device(state, args.device)
                                : explain_pod(state, args.pod, args.pod_resources);
    json_decref(state);
    return fflush(stdout) == 0 ? r : GDP_EXIT_FAILURE;
}
