/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vGPU detection from PCI configuration space (see vgpu.h): the standard capability list is
 * walked (with loop protection) to the vendor-specific capability (id 0x09); a vGPU's starts
 * with the signature "VF" and is followed by records of <id, length, data>, where record 0
 * holds the host driver version and branch, 10 bytes each, NUL-padded.
 */
#include "gpu/vgpu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"

#define CONFIG_SIZE     256
#define PCI_STATUS      0x06
#define PCI_STATUS_CAPS 0x10
#define PCI_CAP_PTR     0x34
#define PCI_CAP_VENDOR  0x09
#define RECORDS_START   5
#define FIELD_LEN       10

/* Reads the first CONFIG_SIZE bytes of a config file; returns bytes read or -errno. */
static ssize_t
read_config(const char *path, uint8_t *buf)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t len = 0;
    while (len < CONFIG_SIZE) {
        ssize_t n = read(fd, buf + len, CONFIG_SIZE - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    return (ssize_t)len;
}

/* Offset and length of the vendor-specific capability, or 0 when there is none. */
static size_t
vendor_cap(const uint8_t *cfg, size_t *ret_len)
{
    bool visited[CONFIG_SIZE] = {false};
    if ((cfg[PCI_STATUS] & PCI_STATUS_CAPS) == 0) {
        return 0;
    }
    size_t pos = cfg[PCI_CAP_PTR];
    while (pos != 0 && pos + 2 < CONFIG_SIZE && !visited[pos] && cfg[pos] != 0xff) {
        visited[pos] = true;
        if (cfg[pos] == PCI_CAP_VENDOR) {
            size_t len = cfg[pos + 2];
            *ret_len = pos + len <= CONFIG_SIZE ? len : CONFIG_SIZE - pos;
            return pos;
        }
        pos = cfg[pos + 1];
    }
    return 0;
}

static void
copy_field(const uint8_t *p, char *buf, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < FIELD_LEN && n + 1 < size; i++) {
        if (p[i] != 0) {
            buf[n++] = (char)p[i];
        }
    }
    buf[n] = '\0';
}

/* Parses one vGPU capability (cap[0..len)). Returns 0, or -EPROTO without a version record. */
static int
parse_records(const uint8_t *cap, size_t len, struct gdp_vgpu_info *ret)
{
    size_t pos = RECORDS_START;
    while (pos + 1 < len && cap[pos] != 0) {
        if (cap[pos + 1] == 0) {
            return -EPROTO; /* a zero-length record would never end */
        }
        pos += cap[pos + 1];
    }
    if (pos >= len || cap[pos] != 0 || pos + 2 + FIELD_LEN + FIELD_LEN > len) {
        return -EPROTO;
    }
    copy_field(cap + pos + 2, ret->host_driver_version, sizeof ret->host_driver_version);
    copy_field(cap + pos + 2 + FIELD_LEN, ret->host_driver_branch, sizeof ret->host_driver_branch);
    return 0;
}

static bool
is_nvidia(const char *dir)
{
    _cleanup_free_ char *path = gdp_asprintf("%s/vendor", dir);
    _cleanup_free_ char *text = NULL;
    if (gdp_read_file(path, 64, &text) < 0) {
        return false;
    }
    return strncmp(text, "0x10de", 6) == 0 && (text[6] == '\0' || text[6] == '\n');
}

static int
probe_device(const char *dir, const char *name, struct gdp_vgpu_info *ret, struct gdp_diag *diag)
{
    uint8_t cfg[CONFIG_SIZE] = {0};
    if (!is_nvidia(dir)) {
        return 0;
    }
    _cleanup_free_ char *path = gdp_asprintf("%s/config", dir);
    ssize_t n = read_config(path, cfg);
    if (n < CONFIG_SIZE) {
        return gdp_diag_set(diag, n < 0 ? (int)n : -EACCES,
                            "PCI device %s: cannot read its whole configuration space (vGPU "
                            "detection needs a privileged container)",
                            name);
    }
    size_t len = 0;
    size_t pos = vendor_cap(cfg, &len);
    if (pos == 0 || len < 5 || cfg[pos + 3] != 'V' || cfg[pos + 4] != 'F') {
        return 0;
    }
    ret->present = true;
    if (parse_records(cfg + pos, len, ret) < 0) {
        return gdp_diag_set(diag, -EPROTO,
                            "PCI device %s: vGPU capability without a host driver version record",
                            name);
    }
    return 0;
}

static void
closedirp(DIR **d)
{
    if (*d != NULL) {
        (void)closedir(*d);
    }
}

int
gdp_vgpu_probe(const char *sysfs_root, struct gdp_vgpu_info *ret, struct gdp_diag *diag)
{
    *ret = (struct gdp_vgpu_info){0};
    _cleanup_free_ char *root =
            gdp_path_join(sysfs_root != NULL ? sysfs_root : "/sys", "/bus/pci/devices");
    _cleanup_(closedirp) DIR *d = opendir(root);
    if (d == NULL) {
        return 0;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] == '.') {
            continue;
        }
        _cleanup_free_ char *dir = gdp_asprintf("%s/%s", root, e->d_name);
        int r = probe_device(dir, e->d_name, ret, diag);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}
