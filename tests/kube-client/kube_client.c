/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube-client: runs one request of the API client (src/kube/) from the command line, for the
 * integration tests. `kube-client VERB GROUP VERSION RESOURCE NAMESPACE NAME [BODY.json]` with
 * VERB one of get, list, create, update, patch, apply; "-" for an empty group, namespace or
 * name. The configuration is in-cluster (or $KUBECONFIG). Prints the HTTP status and the
 * returned object on stdout; a failure prints the client's message on stderr and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "kube/kube.h"

extern char **environ;

static const char *const verbs[] = {"get", "list", "watch", "create", "update", "patch"};

static const char *
opt(const char *s)
{
    return streq(s, "-") ? NULL : s;
}

static void
on_done(struct gdp_kube_client *c _unused_, const struct gdp_kube_result *res, void *userdata)
{
    struct gdp_loop *loop = userdata;
    if (res->r < 0) {
        (void)fprintf(stderr, "kube-client: %s\n", res->diag->msg);
        gdp_loop_quit(loop, 1);
        return;
    }
    char *text = json_dumps(res->body, JSON_COMPACT | JSON_SORT_KEYS);
    (void)printf("%ld %s\n", res->status, text != NULL ? text : "null");
    free(text);
    gdp_loop_quit(loop, 0);
}

static int
start(struct gdp_kube_client *c, struct gdp_loop *loop, char **argv, json_t *body,
      struct gdp_diag *diag)
{
    const struct gdp_kube_ref ref = {opt(argv[1]), argv[2], argv[3], opt(argv[4]), opt(argv[5])};
    if (streq(argv[0], "apply")) {
        return gdp_kube_apply(c, &ref, body, on_done, loop, diag);
    }
    for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
        if (streq(argv[0], verbs[i])) {
            const struct gdp_kube_call call = {
                    (enum gdp_kube_method)i, &ref, NULL, body, on_done, loop};
            return gdp_kube_request(c, &call, NULL, diag);
        }
    }
    return gdp_diag_set(diag, -EINVAL, "unknown verb %s", argv[0]);
}

int
main(int argc, char **argv)
{
    struct gdp_diag diag = {0};
    struct gdp_kube_config cfg = {0};
    struct gdp_loop *loop = NULL;
    struct gdp_kube_client *c = NULL;
    json_t *body = NULL;
    json_error_t err;
    if (argc != 7 && argc != 8) {
        (void)fprintf(stderr, "usage: kube-client VERB GROUP VERSION RESOURCE NS NAME [BODY]\n");
        return 2;
    }
    if (argc == 8 && (body = json_load_file(argv[7], 0, &err)) == NULL) {
        (void)fprintf(stderr, "kube-client: %s: %s\n", argv[7], err.text);
        return 2;
    }
    int r = gdp_kube_config_load(&cfg, getenv("KUBECONFIG"), environ,
                                 getenv("GDP_SERVICEACCOUNT_DIR"), &diag);
    r = r < 0 ? r : gdp_loop_new(&loop, &diag);
    r = r < 0 ? r : gdp_kube_client_new(loop, &cfg, NULL, &c, &diag);
    r = r < 0 ? r : start(c, loop, argv + 1, body, &diag);
    if (r < 0) {
        (void)fprintf(stderr, "kube-client: %s\n", diag.msg);
    } else {
        r = gdp_loop_run(loop) == 0 ? 0 : -1;
    }
    json_decref(body);
    gdp_kube_client_free(c);
    gdp_loop_free(loop);
    gdp_kube_config_done(&cfg);
    return r < 0 ? 1 : 0;
}
