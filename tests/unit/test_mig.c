/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for gpu/mig.c: go-nvlib profile names, bus ids, the mig-minors parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/util.h"
#include "gpu/device.h"

#define MIB (1024ull * 1024ull)
#define GIB (1024ull * MIB)

static const uint64_t a100_40 = 40ull * GIB;

static void
profile_names_match_go_nvlib(void **state _unused_)
{
    static const struct {
        unsigned gi, ci;
        uint64_t mem_mib, total;
        const char *want;
    } cases[] = {
            {0x0, 0x0, 4864, a100_40, "1g.5gb"},
            {0x7, 0x0, 4864, a100_40, "1g.5gb+me"},
            {0x9, 0x0, 9856, a100_40, "1g.10gb"},
            {0x1, 0x1, 9856, a100_40, "2g.10gb"},
            {0x1, 0x0, 9856, a100_40, "1c.2g.10gb"},
            {0x2, 0x2, 19968, a100_40, "3g.20gb"},
            {0x4, 0x4, 40192, a100_40, "7g.40gb"},
            {0x0, 0x0, 9856, 81559ull * MIB, "1g.10gb"},
            {0x7, 0x0, 9856, 81559ull * MIB, "1g.10gb+me"},
            {0x9, 0x0, 19968, 81559ull * MIB, "1g.20gb"},
            {0x2, 0x2, 40192, 81559ull * MIB, "3g.40gb"},
            {0x4, 0x4, 80384, 81559ull * MIB, "7g.80gb"},
            {0xA, 0x0, 24064, 96ull * GIB, "1g.24gb+gfx"},
            {0xD, 0x0, 4864, a100_40, "1g.5gb-me"},
            {0xF, 0x0, 4864, a100_40, "1g.5gb+me.all"},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        char buf[GDP_PROFILE_MAX];
        assert_int_equal(gdp_mig_profile_name(cases[i].gi, cases[i].ci, cases[i].mem_mib,
                                              cases[i].total, buf, sizeof buf),
                         0);
        assert_string_equal(buf, cases[i].want);
    }
}

static void
profile_name_rejects_unknown_profiles(void **state _unused_)
{
    char buf[GDP_PROFILE_MAX];
    assert_int_equal(gdp_mig_profile_name(0x11, 0, 4864, a100_40, buf, sizeof buf), -EINVAL);
    assert_int_equal(gdp_mig_profile_name(0x12, 0, 4864, a100_40, buf, sizeof buf), -EINVAL);
    assert_int_equal(gdp_mig_profile_name(0, 9, 4864, a100_40, buf, sizeof buf), -EINVAL);
    assert_int_equal(gdp_mig_profile_name(0, 0, 4864, 0, buf, sizeof buf), -EINVAL);
    char tiny[4];
    assert_int_equal(gdp_mig_profile_name(0, 0, 4864, a100_40, tiny, sizeof tiny), -ENAMETOOLONG);
}

static void
bus_id_normalized_for_sysfs(void **state _unused_)
{
    char buf[GDP_BUSID_MAX];
    gdp_bus_id_normalize("00000000:3B:00.0", buf, sizeof buf);
    assert_string_equal(buf, "0000:3b:00.0");
    gdp_bus_id_normalize("00000001:AF:00.0", buf, sizeof buf);
    assert_string_equal(buf, "0001:af:00.0");
    gdp_bus_id_normalize("0000:07:00.0", buf, sizeof buf);
    assert_string_equal(buf, "0000:07:00.0");
}

static void
migcaps_parse_and_lookup(void **state _unused_)
{
    struct gdp_migcaps caps;
    gdp_migcaps_parse("config 1\nmonitor 2\ngpu0/gi0/access 3\ngpu0/gi0/ci0/access 4\n"
                      "garbage line\ngpu1/gi7/access 147\ngpu1/gi7/ci0/access 148\n"
                      "gpu1/gi7/ci0/access 9x\ngpu2/gi1/access",
                      &caps);
    assert_int_equal(caps.n, 4);
    assert_int_equal(gdp_migcaps_lookup(&caps, 0, 0, -1), 3);
    assert_int_equal(gdp_migcaps_lookup(&caps, 0, 0, 0), 4);
    assert_int_equal(gdp_migcaps_lookup(&caps, 1, 7, -1), 147);
    assert_int_equal(gdp_migcaps_lookup(&caps, 1, 7, 0), 148);
    assert_int_equal(gdp_migcaps_lookup(&caps, 1, 7, 1), -ENOENT);
    assert_int_equal(gdp_migcaps_lookup(&caps, 2, 1, -1), -ENOENT);
    gdp_migcaps_done(&caps);
    gdp_migcaps_parse("", &caps);
    assert_int_equal(caps.n, 0);
    gdp_migcaps_done(&caps);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(profile_names_match_go_nvlib),
            cmocka_unit_test(profile_name_rejects_unknown_profiles),
            cmocka_unit_test(bus_id_normalized_for_sysfs),
            cmocka_unit_test(migcaps_parse_and_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
