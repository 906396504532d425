/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the API client's pure parts: request paths and query strings, kubeconfig
 * parsing, in-cluster configuration, watch event lines, Status messages and base64.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/util.h"
#include "kube/kube.h"

static void
path_core_and_group(void **state _unused_)
{
    const struct gdp_kube_ref node = {.version = "v1", .resource = "nodes", .name = "n-1"};
    _cleanup_free_ char *p1 = gdp_kube_path(&node, NULL);
    assert_string_equal(p1, "/api/v1/nodes/n-1");
    const struct gdp_kube_ref nf = {.group = "nfd.k8s-sigs.io",
                                    .version = "v1alpha1",
                                    .resource = "nodefeatures",
                                    .namespace = "gpu-operator",
                                    .name = "nvidia-features-for-n-1"};
    _cleanup_free_ char *p2 = gdp_kube_path(&nf, NULL);
    assert_string_equal(p2, "/apis/nfd.k8s-sigs.io/v1alpha1/namespaces/gpu-operator/"
                            "nodefeatures/nvidia-features-for-n-1");
}

static void
path_query_is_encoded(void **state _unused_)
{
    const struct gdp_kube_ref nodes = {.version = "v1", .resource = "nodes"};
    const struct gdp_kube_query q = {.field_selector = "metadata.name=a b&c",
                                     .label_selector = "x in (1,2)",
                                     .resource_version = "123",
                                     .watch = true,
                                     .bookmarks = true,
                                     .timeout_s = 300};
    _cleanup_free_ char *p = gdp_kube_path(&nodes, &q);
    assert_string_equal(p, "/api/v1/nodes?labelSelector=x%20in%20%281%2C2%29"
                           "&fieldSelector=metadata.name%3Da%20b%26c&resourceVersion=123"
                           "&watch=true&allowWatchBookmarks=true&timeoutSeconds=300");
    const struct gdp_kube_query empty = {0};
    _cleanup_free_ char *p2 = gdp_kube_path(&nodes, &empty);
    assert_string_equal(p2, "/api/v1/nodes");
}

static void
path_rejects_bad_names(void **state _unused_)
{
    const char *bad[] = {"", "a/b", "..", "."};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        const struct gdp_kube_ref r = {.version = "v1", .resource = "nodes", .name = bad[i]};
        assert_null(gdp_kube_path(&r, NULL));
    }
    const struct gdp_kube_ref ns = {.version = "v1", .resource = "pods", .namespace = "a/b"};
    assert_null(gdp_kube_path(&ns, NULL));
    const struct gdp_kube_ref nov = {.resource = "nodes"};
    assert_null(gdp_kube_path(&nov, NULL));
}

static void
rbac_names(void **state _unused_)
{
    char buf[64];
    const struct gdp_kube_ref nf = {.group = "nfd.k8s-sigs.io", .resource = "nodefeatures"};
    gdp_kube_rbac_resource(&nf, buf, sizeof buf);
    assert_string_equal(buf, "nodefeatures.nfd.k8s-sigs.io");
    assert_string_equal(gdp_kube_verb(GDP_KUBE_LIST), "list");
    assert_string_equal(gdp_kube_verb(GDP_KUBE_UPDATE), "update");
    assert_string_equal(gdp_kube_verb(GDP_KUBE_PATCH), "patch");
}

static void
status_errors(void **state _unused_)
{
    struct gdp_diag diag = {0};
    const struct gdp_kube_ref nodes = {.version = "v1", .resource = "nodes"};
    json_t *body = json_pack("{s:s,s:i}", "message", "nodes is forbidden: nope", "code", 403);
    assert_int_equal(gdp_kube_status_error(403, GDP_KUBE_PATCH, &nodes, body, &diag), -EPERM);
    assert_non_null(strstr(diag.msg, "verb \"patch\" on resource \"nodes\""));
    assert_non_null(strstr(diag.msg, "nodes is forbidden: nope"));
    json_decref(body);
    assert_int_equal(gdp_kube_status_error(401, GDP_KUBE_GET, &nodes, NULL, &diag), -EACCES);
    assert_int_equal(gdp_kube_status_error(410, GDP_KUBE_WATCH, &nodes, NULL, &diag), -ESTALE);
    assert_int_equal(gdp_kube_status_error(409, GDP_KUBE_CREATE, &nodes, NULL, &diag), -EEXIST);
    assert_int_equal(gdp_kube_status_error(409, GDP_KUBE_UPDATE, &nodes, NULL, &diag), -ESTALE);
    assert_int_equal(gdp_kube_status_error(503, GDP_KUBE_GET, &nodes, NULL, &diag), -EAGAIN);
    assert_int_equal(gdp_kube_status_error(400, GDP_KUBE_GET, &nodes, NULL, &diag), -EPROTO);
    assert_non_null(strstr(diag.msg, "(no message)"));
}

static void
watch_lines(void **state _unused_)
{
    struct gdp_diag diag = {0};
    enum gdp_kube_event type;
    json_t *obj = NULL;
    const char ok[] = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"n\"}}}";
    assert_int_equal(gdp_kube_watch_parse(ok, strlen(ok), &type, &obj, &diag), 0);
    assert_int_equal(type, GDP_KUBE_MODIFIED);
    assert_string_equal(
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")), "n");
    json_decref(obj);
    const char bm[] = "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}";
    assert_int_equal(gdp_kube_watch_parse(bm, strlen(bm), &type, &obj, &diag), 0);
    assert_int_equal(type, GDP_KUBE_BOOKMARK);
    json_decref(obj);
    const char *bad[] = {"{\"type\":\"MODIFIED\"", "{\"object\":{}}",
                         "{\"type\":\"RENAMED\",\"object\":{}}",
                         "{\"type\":\"ADDED\",\"object\":1}", "[]"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        assert_int_equal(gdp_kube_watch_parse(bad[i], strlen(bad[i]), &type, &obj, &diag), -EPROTO);
        assert_non_null(strstr(diag.msg, "malformed watch event"));
    }
}

static void
base64(void **state _unused_)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(gdp_kube_base64_decode("aGVsbG8gd29ybGQ=", &out, &len), 0);
    assert_string_equal(out, "hello world");
    assert_int_equal(len, 11);
    free(out);
    assert_int_equal(gdp_kube_base64_decode("aGVs\nbG8=\n", &out, &len), 0);
    assert_string_equal(out, "hello");
    free(out);
    assert_int_equal(gdp_kube_base64_decode("", &out, &len), 0);
    assert_int_equal(len, 0);
    free(out);
    assert_int_equal(gdp_kube_base64_decode("a$==", &out, &len), -EINVAL);
    assert_int_equal(gdp_kube_base64_decode("aGVs=bG8", &out, &len), -EINVAL);
    assert_int_equal(gdp_kube_base64_decode("a", &out, &len), -EINVAL);
}

static const char kubeconfig[] = "apiVersion: v1\n"
                                 "kind: Config\n"
                                 "current-context: prod\n"
                                 "clusters:\n"
                                 "- name: dev\n"
                                 "  cluster: {server: https://dev:6443}\n"
                                 "- name: prod\n"
                                 "  cluster:\n"
                                 "    server: https://10.0.0.1:6443/\n"
                                 "    certificate-authority-data: Q0EgUEVN\n"
                                 "contexts:\n"
                                 "- name: dev\n"
                                 "  context: {cluster: dev, user: dev}\n"
                                 "- name: prod\n"
                                 "  context:\n"
                                 "    cluster: prod\n"
                                 "    user: admin\n"
                                 "    namespace: gpu\n"
                                 "users:\n"
                                 "- name: admin\n"
                                 "  user:\n"
                                 "    client-certificate-data: Q0VSVA==\n"
                                 "    client-key-data: S0VZ\n"
                                 "- name: dev\n"
                                 "  user: {token: abc}\n";

static void
kubeconfig_current_context(void **state _unused_)
{
    struct gdp_diag diag = {0};
    struct gdp_kube_config cfg = {0};
    assert_int_equal(gdp_kube_config_parse(&cfg, kubeconfig, strlen(kubeconfig), NULL, &diag), 0);
    assert_string_equal(cfg.server, "https://10.0.0.1:6443");
    assert_string_equal(cfg.ca_pem, "CA PEM");
    assert_string_equal(cfg.cert_pem, "CERT");
    assert_string_equal(cfg.key_pem, "KEY");
    assert_string_equal(cfg.namespace, "gpu");
    assert_null(cfg.token);
    assert_false(cfg.insecure);
    gdp_kube_config_done(&cfg);
}

static void
kubeconfig_errors(void **state _unused_)
{
    struct {
        const char *text, *msg;
    } cases[] = {
            {"current-context: x\n", "current-context \"x\" not found"},
            {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n",
             "cluster \"k\" not found"},
            {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
             "clusters: [{name: k, cluster: {server: ftp://x}}]\n",
             "not an http(s) URL"},
            {"current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
             "clusters: [{name: k, cluster: {server: 'https://x'}}]\n"
             "users: [{name: u, user: {exec: {command: aws}}}]\n",
             "exec and auth-provider plugins are not supported"},
            {"current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
             "clusters: [{name: k, cluster: {server: 'https://x'}}]\n"
             "users: [{name: u, user: {client-certificate-data: QQ==}}]\n",
             "client-certificate and client-key go together"},
            {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
             "clusters: [{name: k, cluster: {server: 'https://x', "
             "certificate-authority-data: '!!'}}]\n",
             "not base64"},
            {"a: [1, 2\n", "kubeconfig:"},
            {"- 1\n", "not a mapping"},
            {"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
             "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
             "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
             "too large"},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct gdp_diag diag = {0};
        struct gdp_kube_config cfg = {0};
        assert_int_equal(
                gdp_kube_config_parse(&cfg, cases[i].text, strlen(cases[i].text), NULL, &diag),
                GDP_E_CONFIG);
        if (strstr(diag.msg, cases[i].msg) == NULL) {
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, diag.msg, cases[i].msg);
        }
        gdp_kube_config_done(&cfg);
    }
}

static void
kubeconfig_too_deep(void **state _unused_)
{
    char text[256] = "a: ";
    for (size_t i = 0; i < 100; i++) {
        text[3 + i] = '[';
        text[3 + 100 + 1 + i] = ']';
    }
    text[3 + 100] = '1';
    text[3 + 201] = '\n';
    struct gdp_diag diag = {0};
    struct gdp_kube_config cfg = {0};
    assert_int_equal(gdp_kube_config_parse(&cfg, text, strlen(text), NULL, &diag), GDP_E_CONFIG);
    assert_non_null(strstr(diag.msg, "too deeply nested"));
    gdp_kube_config_done(&cfg);
}

static void
kubeconfig_files_relative_to_its_directory(void **state _unused_)
{
    char dir[] = "/tmp/test_kube.XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *ca = gdp_asprintf("%s/ca.pem", dir);
    FILE *f = fopen(ca, "w");
    assert_non_null(f);
    assert_int_equal(fputs("FILE CA\n", f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    const char text[] = "{\"current-context\": \"c\", \"contexts\": [{\"name\": \"c\", \"context\":"
                        " {\"cluster\": \"k\", \"user\": \"u\"}}], \"clusters\": [{\"name\": "
                        "\"k\", \"cluster\": {\"server\": \"https://h\", \"certificate-authority\":"
                        " \"ca.pem\", \"insecure-skip-tls-verify\": true}}], \"users\": [{\"name\":"
                        " \"u\", \"user\": {\"tokenFile\": \"tok\"}}]}";
    struct gdp_diag diag = {0};
    struct gdp_kube_config cfg = {0};
    assert_int_equal(gdp_kube_config_parse(&cfg, text, strlen(text), dir, &diag), 0);
    assert_string_equal(cfg.ca_pem, "FILE CA\n");
    _cleanup_free_ char *tok = gdp_asprintf("%s/tok", dir);
    assert_string_equal(cfg.token_file, tok);
    assert_true(cfg.insecure);
    assert_string_equal(cfg.namespace, "default");
    gdp_kube_config_done(&cfg);
    assert_int_equal(unlink(ca), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void
in_cluster(void **state _unused_)
{
    char path[] = "PATH=/bin", host[] = "KUBERNETES_SERVICE_HOST=fd00::1",
         port[] = "KUBERNETES_SERVICE_PORT=443";
    char *env_none[] = {path, NULL};
    char *env[] = {host, port, NULL};
    struct gdp_diag diag = {0};
    struct gdp_kube_config cfg = {0};
    assert_int_equal(gdp_kube_config_load(&cfg, NULL, env_none, NULL, &diag), -ENOENT);
    assert_non_null(strstr(diag.msg, "KUBERNETES_SERVICE_HOST"));
    gdp_kube_config_done(&cfg);
    assert_int_equal(gdp_kube_config_load(&cfg, "", env, "/nonexistent-sa", &diag), -ENOENT);
    assert_string_equal(cfg.server, "https://[fd00::1]:443");
    assert_non_null(strstr(diag.msg, "/nonexistent-sa/ca.crt"));
    gdp_kube_config_done(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(path_core_and_group),
            cmocka_unit_test(path_query_is_encoded),
            cmocka_unit_test(path_rejects_bad_names),
            cmocka_unit_test(rbac_names),
            cmocka_unit_test(status_errors),
            cmocka_unit_test(watch_lines),
            cmocka_unit_test(base64),
            cmocka_unit_test(kubeconfig_current_context),
            cmocka_unit_test(kubeconfig_errors),
            cmocka_unit_test(kubeconfig_too_deep),
            cmocka_unit_test(kubeconfig_files_relative_to_its_directory),
            cmocka_unit_test(in_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
