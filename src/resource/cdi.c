/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CDI spec generation, a small subset of what NVIDIA's nvcdi library does for the device
 * plugin (docs/cdi.md lists what is generated, docs/compatibility.md what is not): the
 * driver's files are discovered under the driver root as mounted in our container and every
 * host path is rewritten to the driver root and dev root on the host, because the container
 * runtime reads the spec on the host. JSON is built with jansson; files are replaced
 * atomically.
 */
#define _GNU_SOURCE /* mkostemp */
#include "resource/cdi.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "core/diag.h"
#include "core/util.h"
#include "gpu/device.h"
#include "resource/cdi_driver.h"
#include "resource/imex.h"
#include "resource/paths.h"

#define HOOK_CREATE_SYMLINKS    "create-symlinks"
#define HOOK_UPDATE_LDCACHE     "update-ldcache"
#define HOOK_CUDA_COMPAT        "enable-cuda-compat"
#define HOOK_NO_DEVICE_NODE_MOD "disable-device-node-modification"

/* The --cdi-feature-flags we act on (the others NVIDIA defines change nothing here). */
#define FEATURE_EXPLICIT_LIBS "enable-explicit-driver-libraries"
#define FEATURE_NO_IPC        "disable-ipc-discoverer"
#define FEATURE_NO_GIDS       "no-additional-gids-for-device-nodes"

static const char *const bin_dirs[] = {"/usr/bin", "/usr/sbin", "/bin", "/sbin"};
static const char *const binaries[] = {"nvidia-smi",
                                       "nvidia-debugdump",
                                       "nvidia-persistenced",
                                       "nvidia-cuda-mps-control",
                                       "nvidia-cuda-mps-server",
                                       "nvidia-imex",
                                       "nvidia-imex-ctl"};
/* Each row: alternatives for one IPC endpoint; the first that exists is mounted. */
static const char *const ipc_paths[][2] = {
        {"/run/nvidia-persistenced/socket", "/var/run/nvidia-persistenced/socket"},
        {"/run/nvidia-fabricmanager/socket", "/var/run/nvidia-fabricmanager/socket"},
        {"/tmp/nvidia-mps", NULL},
};
static const char *const firmware_dirs[] = {"/lib/firmware/nvidia", "/usr/lib/firmware/nvidia"};
static const char *const control_nodes[] = {"/dev/nvidiactl", "/dev/nvidia-uvm",
                                            "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"};

/* The gated kinds: device nodes (globs under the dev root) and paths under the driver root. */
struct extra_kind {
    enum gdp_cdi_kind kind;
    const char *nodes[3];
    const char *files[2];
};

static const struct extra_kind extra_kinds[] = {
        {GDP_CDI_GDRCOPY, {"/dev/gdrdrv"}, {NULL}},
        {GDP_CDI_GDS, {"/dev/nvidia-fs*"}, {"/etc/cufile.json", "/run/udev"}},
        {GDP_CDI_MOFED, {"/dev/infiniband/uverbs*", "/dev/infiniband/rdma_cm"}, {NULL}},
};

/* What one spec is generated from. */
struct gen {
    const struct gdp_config *cfg;
    const struct gdp_node *node;
    const char *drv_ctr;  /* driver root inside our container */
    const char *dev_ctr;  /* dev root inside our container */
    const char *drv_host; /* driver root on the host */
    const char *dev_host; /* dev root on the host */
};

const char *
gdp_cdi_class(enum gdp_cdi_kind kind)
{
    switch (kind) {
    case GDP_CDI_GPU:
        return "gpu";
    case GDP_CDI_IMEX:
        return "imex-channel";
    case GDP_CDI_GDRCOPY:
        return "gdrcopy";
    case GDP_CDI_GDS:
        return "gds";
    case GDP_CDI_MOFED:
        return "mofed";
    }
    return NULL;
}

static bool
exists_under(const char *root, const char *path, mode_t type)
{
    _cleanup_free_ char *p = gdp_path_join(root, path);
    struct stat st;
    return stat(p, &st) == 0 && (type == 0 || (st.st_mode & S_IFMT) == type);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
json_add(json_t *array, json_t *item)
{
    if (json_array_append_new(array, item) < 0) {
        gdp_oom();
    }
}

static void
json_set(json_t *object, const char *key, json_t *value)
{
    if (value == NULL || json_object_set_new(object, key, value) < 0) {
        gdp_oom();
    }
}

static json_t *
json_strv(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_add(a, json_string(v[i]));
    }
    return a;
}

/* A deviceNode; hostPath only where it differs from path (it needs cdiVersion 0.5.0). */
static json_t *
device_node(const struct gen *g, const char *path)
{
    json_t *o = json_object();
    json_set(o, "path", json_string(path));
    _cleanup_free_ char *host = gdp_path_join(g->dev_host, path);
    if (!streq(host, path)) {
        json_set(o, "hostPath", json_string(host));
    }
    return o;
}

/* Read-only bind mounts for the driver's files; IPC endpoints are read-write and noexec. */
enum mount_kind {
    MOUNT_RO = 0,
    MOUNT_IPC,
};

static json_t *
mount(const struct gen *g, const char *path, enum mount_kind kind)
{
    static const char *const ro[] = {"ro", "nosuid", "nodev", "bind"};
    static const char *const ipc[] = {"rw", "nosuid", "nodev", "bind", "noexec"};
    _cleanup_free_ char *host = gdp_path_join(g->drv_host, path);
    json_t *o = json_object();
    json_set(o, "hostPath", json_string(host));
    json_set(o, "containerPath", json_string(path));
    json_set(o, "options",
             kind == MOUNT_IPC ? json_strv(ipc, ELEMENTSOF(ipc)) : json_strv(ro, ELEMENTSOF(ro)));
    return o;
}

/*
 * Appends the regular files in <drv_ctr><dir> whose names end in suffix (NULL: all) to ret,
 * sorted, as container paths. Returns how many were added.
 */
static size_t
list_files(const struct gen *g, const char *dir, const char *suffix, struct gdp_strv *ret)
{
    _cleanup_free_ char *full = gdp_path_join(g->drv_ctr, dir);
    DIR *d = opendir(full);
    if (d == NULL) {
        return 0;
    }
    size_t first = ret->n;
    const char *want = suffix != NULL ? suffix : "";
    size_t slen = strlen(want);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= slen || !streq(e->d_name + len - slen, want)) {
            continue;
        }
        _cleanup_free_ char *path = gdp_asprintf("%s/%s", dir, e->d_name);
        if (exists_under(g->drv_ctr, path, S_IFREG)) {
            gdp_strv_take(ret, TAKE_PTR(path));
        }
    }
    (void)closedir(d);
    if (ret->n > first) {
        qsort(ret->v + first, ret->n - first, sizeof(char *), cmp_str);
    }
    return ret->n - first;
}

/* Whether dir was already visited (by device and inode); records it otherwise. */
static bool
seen_dir(const struct gen *g, const char *dir, struct stat *seen, size_t *n_seen)
{
    _cleanup_free_ char *full = gdp_path_join(g->drv_ctr, dir);
    struct stat st;
    if (stat(full, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return true;
    }
    for (size_t i = 0; i < *n_seen; i++) {
        if (seen[i].st_dev == st.st_dev && seen[i].st_ino == st.st_ino) {
            return true;
        }
    }
    seen[(*n_seen)++] = st;
    return false;
}

static void
find_firmware(const struct gen *g, struct gdp_strv *files)
{
    struct stat seen[ELEMENTSOF(firmware_dirs)];
    size_t n_seen = 0;
    for (size_t i = 0; i < ELEMENTSOF(firmware_dirs); i++) {
        _cleanup_free_ char *dir = gdp_asprintf("%s/%s", firmware_dirs[i], g->node->driver_version);
        if (!seen_dir(g, dir, seen, &n_seen)) {
            (void)list_files(g, dir, NULL, files);
        }
    }
}

static void
add_binaries(const struct gen *g, json_t *mounts)
{
    for (size_t i = 0; i < ELEMENTSOF(binaries); i++) {
        for (size_t j = 0; j < ELEMENTSOF(bin_dirs); j++) {
            _cleanup_free_ char *p = gdp_asprintf("%s/%s", bin_dirs[j], binaries[i]);
            if (exists_under(g->drv_ctr, p, S_IFREG)) {
                json_add(mounts, mount(g, p, MOUNT_RO));
                break;
            }
        }
    }
}

static bool
feature(const struct gdp_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->cdi_feature_flags.n; i++) {
        if (streq(cfg->cdi_feature_flags.v[i], name)) {
            return true;
        }
    }
    return false;
}

/* NVIDIA_DRIVER_CAPABILITIES asks for graphics: "graphics", "display" or "all". */
static bool
wants_graphics(const struct gdp_config *cfg)
{
    for (size_t i = 0; i < cfg->driver_capabilities.n; i++) {
        const char *c = cfg->driver_capabilities.v[i];
        if (streq(c, "graphics") || streq(c, "display") || streq(c, "all")) {
            return true;
        }
    }
    return false;
}

static void
add_ipc(const struct gen *g, json_t *mounts)
{
    if (feature(g->cfg, FEATURE_NO_IPC)) {
        return;
    }
    for (size_t i = 0; i < ELEMENTSOF(ipc_paths); i++) {
        for (size_t j = 0; j < 2 && ipc_paths[i][j] != NULL; j++) {
            if (exists_under(g->drv_ctr, ipc_paths[i][j], 0)) {
                json_add(mounts, mount(g, ipc_paths[i][j], MOUNT_IPC));
                break;
            }
        }
    }
}

static bool
hook_enabled(const struct gdp_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->cdi_disable_hooks.n; i++) {
        const char *h = cfg->cdi_disable_hooks.v[i];
        if (streq(h, "all") || streq(h, name)) {
            return false;
        }
    }
    return true;
}

/* A createContainer hook; nvidia-ctk takes its hooks as "nvidia-ctk hook <name>". */
static json_t *
hook(const struct gen *g, const char *name, json_t *args)
{
    const char *path = g->cfg->nvidia_cdi_hook_path;
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    json_t *all = json_array();
    json_add(all, json_string(base));
    if (streq(base, "nvidia-ctk")) {
        json_add(all, json_string("hook"));
    }
    json_add(all, json_string(name));
    if (json_array_extend(all, args) < 0) {
        gdp_oom();
    }
    json_decref(args);
    return json_pack("{s:s, s:s, s:o}", "hookName", "createContainer", "path", path, "args", all);
}

/* nvcdi's order: symlinks, CUDA compat, ldcache, then device-node modification off. */
static void
add_hooks(const struct gen *g, const struct gdp_cdi_driver *drv, json_t *hooks)
{
    if (drv->links.n > 0 && hook_enabled(g->cfg, HOOK_CREATE_SYMLINKS)) {
        json_t *args = json_array();
        for (size_t i = 0; i < drv->links.n; i++) {
            json_add(args, json_string("--link"));
            json_add(args, json_string(drv->links.v[i]));
        }
        json_add(hooks, hook(g, HOOK_CREATE_SYMLINKS, args));
    }
    if (drv->libs.n > 0 && hook_enabled(g->cfg, HOOK_CUDA_COMPAT)) {
        json_add(hooks, hook(g, HOOK_CUDA_COMPAT,
                             json_pack("[s+]", "--host-driver-version=", g->node->driver_version)));
    }
    if (drv->dirs.n > 0 && hook_enabled(g->cfg, HOOK_UPDATE_LDCACHE)) {
        json_t *args = json_array();
        for (size_t i = 0; i < drv->dirs.n; i++) {
            json_add(args, json_string("--folder"));
            json_add(args, json_string(drv->dirs.v[i]));
        }
        json_add(hooks, hook(g, HOOK_UPDATE_LDCACHE, args));
    }
    if (hook_enabled(g->cfg, HOOK_NO_DEVICE_NODE_MOD)) {
        json_add(hooks, hook(g, HOOK_NO_DEVICE_NODE_MOD, json_array()));
    }
}

/* Sets key to array in edits when the array has entries; consumes array. */
static void
set_nonempty(json_t *edits, const char *key, json_t *array)
{
    if (json_array_size(array) > 0) {
        json_set(edits, key, array);
    } else {
        json_decref(array);
    }
}

/*
 * Sets edits' deviceNodes (consumed; nothing when empty) and, as nvcdi, additionalGids: the
 * groups other than root that own the nodes, so that a container user may open them.
 */
static void
set_nodes(const struct gen *g, json_t *edits, json_t *nodes)
{
    json_t *gids = json_array();
    const json_t *n;
    size_t i;
    json_array_foreach(nodes, i, n)
    {
        _cleanup_free_ char *p =
                gdp_path_join(g->dev_ctr, json_string_value(json_object_get(n, "path")));
        struct stat st;
        if (feature(g->cfg, FEATURE_NO_GIDS) || stat(p, &st) != 0 || st.st_gid == 0) {
            continue;
        }
        bool seen = false;
        const json_t *x;
        size_t j;
        json_array_foreach(gids, j, x)
        {
            seen = seen || json_integer_value(x) == (json_int_t)st.st_gid;
        }
        if (!seen) {
            json_add(gids, json_integer((json_int_t)st.st_gid));
        }
    }
    set_nonempty(edits, "deviceNodes", nodes);
    set_nonempty(edits, "additionalGids", gids);
}

/* The gpu spec's containerEdits shared by every device: the driver as a whole. */
static json_t *
gpu_common_edits(const struct gen *g)
{
    _cleanup_(gdp_cdi_driver_done) struct gdp_cdi_driver drv = {0};
    _cleanup_(gdp_strv_clear) struct gdp_strv firmware = {0};
    unsigned flags = (feature(g->cfg, FEATURE_EXPLICIT_LIBS) ? GDP_CDI_DRIVER_EXPLICIT_LIBS : 0u) |
                     (wants_graphics(g->cfg) ? GDP_CDI_DRIVER_GRAPHICS : 0u);
    gdp_cdi_driver_find(g->drv_ctr, g->node->driver_version, flags, &drv);
    find_firmware(g, &firmware);
    json_t *edits = json_object();
    json_set(edits, "env", json_pack("[s]", "NVIDIA_VISIBLE_DEVICES=void"));
    json_t *nodes = json_array();
    for (size_t i = 0; i < ELEMENTSOF(control_nodes); i++) {
        if (exists_under(g->dev_ctr, control_nodes[i], 0)) {
            json_add(nodes, device_node(g, control_nodes[i]));
        }
    }
    set_nodes(g, edits, nodes);
    json_t *hooks = json_array();
    add_hooks(g, &drv, hooks);
    set_nonempty(edits, "hooks", hooks);
    json_t *mounts = json_array();
    for (size_t i = 0; i < drv.libs.n; i++) {
        json_add(mounts, mount(g, drv.libs.v[i], MOUNT_RO));
    }
    add_binaries(g, mounts);
    add_ipc(g, mounts);
    for (size_t i = 0; i < firmware.n; i++) {
        json_add(mounts, mount(g, firmware.v[i], MOUNT_RO));
    }
    for (size_t i = 0; i < drv.files.n; i++) {
        json_add(mounts, mount(g, drv.files.v[i], MOUNT_RO));
    }
    set_nonempty(edits, "mounts", mounts);
    return edits;
}

static json_t *
cdi_device(const struct gen *g, const char *name, json_t *nodes)
{
    json_t *edits = json_object();
    set_nodes(g, edits, nodes);
    return json_pack("{s:s, s:o}", "name", name, "containerEdits", edits);
}

static int
gpu_device(const struct gen *g, const struct gdp_device *d, json_t **ret, struct gdp_diag *diag)
{
    json_t *nodes = json_array();
    char path[GDP_PATH_MAX];
    (void)snprintf(path, sizeof path, "/dev/nvidia%u", d->minor);
    json_add(nodes, device_node(g, path));
    if (d->kind == GDP_DEVICE_MIG) {
        if (d->gi_cap_minor < 0 || d->ci_cap_minor < 0) {
            json_decref(nodes);
            return gdp_diag_set(diag, -ENOENT,
                                "no nvidia-caps device for MIG device %s (gpu%u/gi%u/ci%u); is "
                                "/proc/driver/nvidia-caps/mig-minors readable?",
                                d->uuid, d->minor, d->gi, d->ci);
        }
        (void)snprintf(path, sizeof path, "/dev/nvidia-caps/nvidia-cap%d", d->gi_cap_minor);
        json_add(nodes, device_node(g, path));
        (void)snprintf(path, sizeof path, "/dev/nvidia-caps/nvidia-cap%d", d->ci_cap_minor);
        json_add(nodes, device_node(g, path));
    }
    bool by_index = g->cfg->device_id_strategy == GDP_ID_INDEX;
    *ret = cdi_device(g, by_index ? d->index_str : d->uuid, nodes);
    return 0;
}

static int
gpu_devices(const struct gen *g, json_t *devices, struct gdp_diag *diag)
{
    for (size_t i = 0; i < g->node->n_devices; i++) {
        json_t *dev = NULL;
        int r = gpu_device(g, &g->node->devices[i], &dev, diag);
        if (r < 0) {
            return r;
        }
        json_add(devices, dev);
    }
    return 0;
}

static void
imex_devices(const struct gen *g, const struct gdp_imex *imex, json_t *devices)
{
    for (size_t i = 0; imex != NULL && i < imex->n; i++) {
        char name[16];
        char path[64];
        (void)snprintf(name, sizeof name, "%u", imex->ids[i]);
        (void)snprintf(path, sizeof path, GDP_IMEX_CHANNEL_DIR "/channel%u", imex->ids[i]);
        json_add(devices, cdi_device(g, name, json_pack("[o]", device_node(g, path))));
    }
}

/* Device nodes matching pattern under the container dev root, as container paths. */
static void
glob_nodes(const struct gen *g, const char *pattern, json_t *nodes)
{
    _cleanup_free_ char *full = gdp_path_join(g->dev_ctr, pattern);
    size_t prefix = strlen(full) - strlen(pattern);
    glob_t gl = {0};
    if (glob(full, 0, NULL, &gl) == 0) {
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            json_add(nodes, device_node(g, gl.gl_pathv[i] + prefix));
        }
    }
    globfree(&gl);
}

static void
extra_device(const struct gen *g, const struct extra_kind *x, json_t *devices)
{
    json_t *edits = json_object();
    json_t *nodes = json_array();
    for (size_t i = 0; i < ELEMENTSOF(x->nodes) && x->nodes[i] != NULL; i++) {
        glob_nodes(g, x->nodes[i], nodes);
    }
    set_nodes(g, edits, nodes);
    json_t *mounts = json_array();
    for (size_t i = 0; i < ELEMENTSOF(x->files) && x->files[i] != NULL; i++) {
        if (exists_under(g->drv_ctr, x->files[i], 0)) {
            json_add(mounts, mount(g, x->files[i], MOUNT_RO));
        }
    }
    set_nonempty(edits, "mounts", mounts);
    if (json_object_size(edits) > 0) {
        json_add(devices, json_pack("{s:s, s:o}", "name", "all", "containerEdits", edits));
    } else {
        json_decref(edits);
    }
}

static bool
edits_need_v050(const json_t *edits)
{
    const json_t *n;
    size_t i;
    json_array_foreach(json_object_get(edits, "deviceNodes"), i, n)
    {
        if (json_object_get(n, "hostPath") != NULL) {
            return true;
        }
    }
    return false;
}

static bool
edits_need_v040(const json_t *edits)
{
    const json_t *m;
    size_t i;
    json_array_foreach(json_object_get(edits, "mounts"), i, m)
    {
        if (json_object_get(m, "type") != NULL) {
            return true;
        }
    }
    return false;
}

/*
 * The lowest CDI version that can express spec (the rules of the CDI library's
 * MinimumRequiredVersion for what we emit): 0.7.0 for additionalGids, 0.5.0 for device names
 * not starting with a letter or device nodes with a hostPath, 0.4.0 for mounts with a type,
 * else 0.3.0.
 */
static const char *
min_version(const json_t *spec)
{
    bool v070 = json_object_get(json_object_get(spec, "containerEdits"), "additionalGids") != NULL;
    bool v050 = edits_need_v050(json_object_get(spec, "containerEdits"));
    bool v040 = edits_need_v040(json_object_get(spec, "containerEdits"));
    const json_t *d;
    size_t i;
    json_array_foreach(json_object_get(spec, "devices"), i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        const json_t *edits = json_object_get(d, "containerEdits");
        bool letter = name != NULL &&
                      ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'));
        v070 = v070 || json_object_get(edits, "additionalGids") != NULL;
        v050 = v050 || !letter || edits_need_v050(edits);
        v040 = v040 || edits_need_v040(edits);
    }
    return v070 ? "0.7.0" : v050 ? "0.5.0" : v040 ? "0.4.0" : "0.3.0";
}

static const struct extra_kind *
extra_of(enum gdp_cdi_kind kind)
{
    for (size_t i = 0; i < ELEMENTSOF(extra_kinds); i++) {
        if (extra_kinds[i].kind == kind) {
            return &extra_kinds[i];
        }
    }
    return NULL;
}

/* Fills spec's devices (and common edits) for kind. */
static int
fill_spec(const struct gen *g, const struct gdp_imex *imex, enum gdp_cdi_kind kind, json_t *spec,
          struct gdp_diag *diag)
{
    json_t *devices = json_object_get(spec, "devices");
    if (kind == GDP_CDI_GPU) {
        int r = gpu_devices(g, devices, diag);
        if (r < 0) {
            return r;
        }
        json_set(spec, "containerEdits", gpu_common_edits(g));
    } else if (kind == GDP_CDI_IMEX) {
        imex_devices(g, imex, devices);
    } else {
        extra_device(g, extra_of(kind), devices);
    }
    return 0;
}

int
gdp_cdi_render(const struct gdp_config *cfg, const struct gdp_node *node,
               const struct gdp_cdi_opts *opts, enum gdp_cdi_kind kind, char **ret_json,
               struct gdp_diag *diag)
{
    const struct gdp_imex *imex = opts != NULL ? opts->imex : NULL;
    const char *dev_root_ctr = opts != NULL ? opts->dev_root_ctr : NULL;
    *ret_json = NULL;
    const char *class = gdp_cdi_class(kind);
    if (class == NULL) {
        return gdp_diag_set(diag, -EINVAL, "not a CDI spec kind: %#x", (unsigned)kind);
    }
    if (node->driver_version[0] == '\0') {
        return gdp_diag_set(diag, -ENODATA,
                            "NVML reported no driver version; cannot find the driver's libraries "
                            "for the CDI spec");
    }
    _cleanup_free_ char *own_dev = dev_root_ctr == NULL ? gdp_paths_dev_root_ctr(cfg) : NULL;
    const struct gen g = {
            .cfg = cfg,
            .node = node,
            .drv_ctr = cfg->driver_root_ctr_path,
            .dev_ctr = dev_root_ctr != NULL ? dev_root_ctr : own_dev,
            .drv_host = cfg->driver_root,
            .dev_host = gdp_paths_dev_root_host(cfg),
    };
    json_t *spec = json_pack("{s:s, s:s+, s:[]}", "cdiVersion", "", "kind", GDP_CDI_VENDOR "/",
                             class, "devices");
    int r = fill_spec(&g, imex, kind, spec, diag);
    if (r < 0 || json_array_size(json_object_get(spec, "devices")) == 0) {
        json_decref(spec);
        return r < 0 ? r : 0;
    }
    json_set(spec, "cdiVersion", json_string(min_version(spec)));
    *ret_json = json_dumps(spec, JSON_INDENT(2));
    json_decref(spec);
    if (*ret_json == NULL) {
        gdp_oom();
    }
    return 1;
}

static int
write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Fills the open temporary file and makes it durable; the caller renames or unlinks it. */
static int
fill_tmp(int fd, const char *text)
{
    int r = write_all(fd, text, strlen(text));
    if (r == 0 && fchmod(fd, 0644) < 0) {
        r = -errno;
    }
    if (r == 0 && fsync(fd) < 0) {
        r = -errno;
    }
    return r;
}

static void
fsync_dir(const char *dir)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* the rename is done; a failed directory sync is not worth failing */
    }
}

int
gdp_cdi_write_atomic(const char *path, const char *text, struct gdp_diag *diag)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir = slash == NULL   ? gdp_strdup(".")
                               : slash == path ? gdp_strdup("/")
                                               : gdp_strndup(path, (size_t)(slash - path));
    _cleanup_free_ char *tmp = gdp_asprintf("%s/.%s.XXXXXX", dir, slash != NULL ? slash + 1 : path);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        return gdp_diag_set(diag, -errno, "cannot create a temporary file for %s: %s", path,
                            strerror(errno));
    }
    int r = fill_tmp(fd, text);
    if (r == 0 && close(TAKE_FD(fd)) < 0) {
        r = -errno;
    }
    if (r == 0 && rename(tmp, path) < 0) {
        r = -errno;
    }
    if (r < 0) {
        (void)unlink(tmp);
        return gdp_diag_set(diag, r, "cannot write %s: %s", path, gdp_strerror(r));
    }
    fsync_dir(dir);
    return 0;
}

static int
mkdir_p(const char *dir, struct gdp_diag *diag)
{
    _cleanup_free_ char *p = gdp_strdup(dir);
    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s != NULL) {
            *s = '\0';
        }
        if (p[0] != '\0' && mkdir(p, 0755) < 0 && errno != EEXIST) {
            return gdp_diag_set(diag, -errno, "cannot create CDI spec directory %s: %s", p,
                                strerror(errno));
        }
        if (s == NULL) {
            return 0;
        }
        *s = '/';
    }
}

static bool
kind_wanted(const struct gdp_config *cfg, const struct gdp_imex *imex, enum gdp_cdi_kind kind)
{
    switch (kind) {
    case GDP_CDI_GPU:
        return true;
    case GDP_CDI_IMEX:
        return imex->n > 0;
    case GDP_CDI_GDRCOPY:
        return cfg->gdrcopy_enabled;
    case GDP_CDI_GDS:
        return cfg->gds_enabled;
    case GDP_CDI_MOFED:
        return cfg->mofed_enabled;
    }
    return false;
}

#define N_KINDS 5

/* Renders every wanted kind first, so that a failure writes nothing. */
static int
render_all(const struct gdp_config *cfg, const struct gdp_node *node, char *texts[N_KINDS],
           struct gdp_diag *diag)
{
    struct gdp_imex imex;
    int r = gdp_imex_check(cfg, &imex, diag);
    if (r < 0) {
        return r;
    }
    _cleanup_free_ char *dev_root = gdp_paths_dev_root_ctr(cfg);
    for (unsigned i = 0; i < N_KINDS; i++) {
        enum gdp_cdi_kind kind = 1u << i;
        if (!kind_wanted(cfg, &imex, kind)) {
            continue;
        }
        const struct gdp_cdi_opts opts = {.imex = &imex, .dev_root_ctr = dev_root};
        r = gdp_cdi_render(cfg, node, &opts, kind, &texts[i], diag);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static void
free_texts(char *(*texts)[N_KINDS])
{
    for (size_t i = 0; i < N_KINDS; i++) {
        free((*texts)[i]);
    }
}

/* ".<vendor>-<class>.json.XXXXXX": a temporary file of gdp_cdi_write_atomic() for a spec. */
static bool
is_spec_temp(const char *name)
{
    static const char prefix[] = "." GDP_CDI_VENDOR "-";
    const char *json = strstr(name, ".json.");
    return strncmp(name, prefix, sizeof prefix - 1) == 0 && json != NULL &&
           strlen(json + sizeof ".json." - 1) == 6;
}

/*
 * Removes temporary spec files left by a writer killed between mkstemp and rename. Only
 * files older than STALE_TEMP_S go, so that a `cdi generate` writing right now keeps its own.
 */
#define STALE_TEMP_S 10

static void
remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    time_t now = time(NULL);
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (is_spec_temp(de->d_name) &&
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            now - st.st_mtime >= STALE_TEMP_S) {
            (void)unlinkat(dirfd(d), de->d_name, 0);
        }
    }
    (void)closedir(d);
}

int
gdp_cdi_write_specs(const struct gdp_config *cfg, const struct gdp_node *node, const char *dir,
                    struct gdp_diag *diag)
{
    _Static_assert(GDP_CDI_ALL_KINDS == (1u << N_KINDS) - 1, "N_KINDS");
    _cleanup_(free_texts) char *texts[N_KINDS] = {0};
    int r = render_all(cfg, node, texts, diag);
    if (r < 0) {
        return r;
    }
    r = mkdir_p(dir, diag);
    if (r < 0) {
        return r;
    }
    remove_stale_temps(dir);
    int written = 0;
    for (unsigned i = 0; i < N_KINDS; i++) {
        _cleanup_free_ char *path =
                gdp_asprintf("%s/" GDP_CDI_VENDOR "-%s.json", dir, gdp_cdi_class(1u << i));
        if (texts[i] == NULL) {
            /* A spec of ours that no longer applies would keep naming absent devices. */
            (void)unlink(path);
            continue;
        }
        r = gdp_cdi_write_atomic(path, texts[i], diag);
        if (r < 0) {
            return r;
        }
        written |= 1 << i;
    }
    return written;
}

int
gdp_cdi_check_platform(const struct gdp_config *cfg, bool have_nvml, struct gdp_diag *diag)
{
    unsigned cdi = cfg->device_list_strategy & (GDP_LIST_CDI_ANNOTATIONS | GDP_LIST_CDI_CRI);
    if (cdi == 0 || have_nvml) {
        return 0;
    }
    return gdp_diag_set(diag, GDP_E_CONFIG,
                        "unable to validate flags: device list strategy %s is only supported on "
                        "NVML-based systems, and NVML is not available on this node",
                        (cdi & GDP_LIST_CDI_ANNOTATIONS) != 0 ? "cdi-annotations" : "cdi-cri");
}
