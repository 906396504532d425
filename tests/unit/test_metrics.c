/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/metrics.c (exposition text, histograms, escaping, the series bound) and
 * for the endpoint address parser of rpc/http.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* after the headers cmocka.h relies on (it includes none itself) */
#include <cmocka.h>

#include "core/diag.h"
#include "core/metrics.h"
#include "core/util.h"
#include "rpc/http.h"

static char *
render(void)
{
    size_t len = 0;
    char *text = gdp_metrics_render(&len);
    assert_int_equal(strlen(text), len);
    return text;
}

static void
counters_and_gauges(void **state _unused_)
{
    gdp_metrics_reset();
    gdp_metric_inc1(GDP_M_REGISTRATIONS, "nvidia.com/gpu");
    gdp_metric_inc1(GDP_M_REGISTRATIONS, "nvidia.com/gpu");
    const char *labels[] = {"nvidia.com/gpu", "healthy"};
    gdp_metric_set(GDP_M_DEVICES, labels, 8);
    gdp_metric_set(GDP_M_DEVICES, labels, 7);
    _cleanup_free_ char *text = render();
    assert_non_null(strstr(text, "# TYPE gpu_device_plugin_registrations_total counter\n"));
    assert_non_null(
            strstr(text, "gpu_device_plugin_registrations_total{resource=\"nvidia.com/gpu\"} 2\n"));
    assert_non_null(strstr(
            text, "gpu_device_plugin_devices{resource=\"nvidia.com/gpu\",health=\"healthy\"} 7\n"));
    /* unlabelled counters exist from the start */
    assert_non_null(strstr(text, "\ngpu_device_plugin_kubelet_restarts_total 0\n"));
    assert_non_null(strstr(text, "gpu_device_plugin_build_info{version=\""));
    gdp_metric_clear(GDP_M_DEVICES);
    _cleanup_free_ char *after = render();
    assert_null(strstr(after, "gpu_device_plugin_devices{"));
}

static void
histogram_buckets_are_cumulative(void **state _unused_)
{
    gdp_metrics_reset();
    const char *labels[] = {"Allocate", "nvidia.com/gpu"};
    gdp_metric_observe(GDP_M_REQUEST_DURATION, labels, 0.0002);
    gdp_metric_observe(GDP_M_REQUEST_DURATION, labels, 0.003);
    gdp_metric_observe(GDP_M_REQUEST_DURATION, labels, 5);
    _cleanup_free_ char *text = render();
    const char *p = "gpu_device_plugin_request_duration_seconds_";
    const char *l = "{method=\"Allocate\",resource=\"nvidia.com/gpu\"";
    char want[256];
    (void)snprintf(want, sizeof want, "%sbucket%s,le=\"0.0001\"} 0\n", p, l);
    assert_non_null(strstr(text, want));
    (void)snprintf(want, sizeof want, "%sbucket%s,le=\"0.00025\"} 1\n", p, l);
    assert_non_null(strstr(text, want));
    (void)snprintf(want, sizeof want, "%sbucket%s,le=\"0.005\"} 2\n", p, l);
    assert_non_null(strstr(text, want));
    (void)snprintf(want, sizeof want, "%sbucket%s,le=\"1\"} 2\n", p, l);
    assert_non_null(strstr(text, want));
    (void)snprintf(want, sizeof want, "%sbucket%s,le=\"+Inf\"} 3\n", p, l);
    assert_non_null(strstr(text, want));
    (void)snprintf(want, sizeof want, "%scount%s} 3\n", p, l);
    assert_non_null(strstr(text, want));
}

static void
label_values_are_escaped(void **state _unused_)
{
    gdp_metrics_reset();
    const char *labels[] = {"nvidia.com/gpu", "XID 48 \"DBE\"\nback\\slash"};
    gdp_metric_set(GDP_M_UNHEALTHY_DEVICES, labels, 1);
    _cleanup_free_ char *text = render();
    assert_non_null(strstr(text, "reason=\"XID 48 \\\"DBE\\\"\\nback\\\\slash\"} 1\n"));
}

static void
series_are_bounded(void **state _unused_)
{
    gdp_metrics_reset();
    char gpu[32];
    for (unsigned i = 0; i < GDP_METRIC_SERIES_MAX + 10; i++) {
        (void)snprintf(gpu, sizeof gpu, "GPU-%u", i);
        const char *labels[] = {gpu, "48"};
        gdp_metric_add(GDP_M_XID_EVENTS, labels, 1);
    }
    _cleanup_free_ char *text = render();
    assert_non_null(
            strstr(text, "gpu_device_plugin_xid_events_total{gpu=\"GPU-255\",xid=\"48\"} 1"));
    assert_null(strstr(text, "{gpu=\"GPU-256\""));
    assert_non_null(strstr(text, "gpu_device_plugin_metric_series_dropped_total{metric=\""
                                 "gpu_device_plugin_xid_events_total\"} 10\n"));
}

static int collected;

static void
collect(void *userdata)
{
    collected += *(int *)userdata;
    gdp_metric_set(GDP_M_READY, NULL, 1);
}

static void
collector_runs_before_render(void **state _unused_)
{
    gdp_metrics_reset();
    int one = 1;
    gdp_metrics_set_collector(collect, &one);
    _cleanup_free_ char *text = render();
    assert_int_equal(collected, 1);
    assert_non_null(strstr(text, "\ngpu_device_plugin_ready 1\n"));
    gdp_metrics_reset();
}

static void
addresses(void **state _unused_)
{
    struct sockaddr_storage sa;
    socklen_t len = 0;
    struct gdp_diag diag = {0};
    assert_int_equal(gdp_http_parse_address("127.0.0.1:9400", &sa, &len, &diag), 0);
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)&sa;
    assert_int_equal(in4->sin_family, AF_INET);
    assert_int_equal(ntohs(in4->sin_port), 9400);
    assert_int_equal(gdp_http_parse_address(":9400", &sa, &len, &diag), 0);
    assert_int_equal(in4->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(gdp_http_parse_address("localhost:1", &sa, &len, &diag), 0);
    assert_int_equal(in4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    assert_int_equal(gdp_http_parse_address("[::1]:80", &sa, &len, &diag), 0);
    assert_int_equal(sa.ss_family, AF_INET6);
    assert_int_equal(gdp_http_parse_address("unix:/run/gdp.sock", &sa, &len, &diag), 0);
    assert_string_equal(((const struct sockaddr_un *)&sa)->sun_path, "/run/gdp.sock");
    static const char *const bad[] = {"",        "9400",    "1.2.3.4:",   "1.2.3.4:65536",
                                      "host:80", "[::1:80", "1.2.3.4:-1", "unix:"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        assert_int_equal(gdp_http_parse_address(bad[i], &sa, &len, &diag), -EINVAL);
        assert_true(diag.msg[0] != '\0');
    }
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    memcpy(longpath, "unix:", 5);
    assert_int_equal(gdp_http_parse_address(longpath, &sa, &len, &diag), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(counters_and_gauges),
            cmocka_unit_test(histogram_buckets_are_cumulative),
            cmocka_unit_test(label_values_are_escaped),
            cmocka_unit_test(series_are_bounded),
            cmocka_unit_test(collector_runs_before_render),
            cmocka_unit_test(addresses),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    gdp_metrics_reset();
    return r;
}
