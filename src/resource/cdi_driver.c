/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Driver library discovery for CDI specs (see cdi_driver.h). Symlinks inside the driver root
 * are followed by hand, because an absolute link target names a path inside the root, not
 * one of this process.
 */
#include "resource/cdi_driver.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"
#include "resource/ldcache.h"

#define MAX_LINK_HOPS 16

/* Where the driver's libraries may be when the root has no usable ld.so.cache. */
static const char *const fallback_dirs[] = {
        "/usr/lib64",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib64",
        "/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib",
        "/lib",
};

/* nvcdi's explicit driver libraries (enable-explicit-driver-libraries), by SONAME stem. */
static const char *const explicit_libs[] = {
        "libEGL.so",
        "libGL.so",
        "libGLESv1_CM.so",
        "libGLESv2.so",
        "libGLX.so",
        "libGLdispatch.so",
        "libOpenCL.so",
        "libOpenGL.so",
        "libnvidia-api.so",
        "libnvidia-egl-xcb.so",
        "libnvidia-egl-xlib.so",
};

/* Links nvcdi adds for some libraries: name prefix, target (NULL: the library), link name. */
static const char *const special_links[][3] = {
        {"libcuda.so", "libcuda.so.1", "libcuda.so"},
        {"libGLX_nvidia.so", NULL, "libGLX_indirect.so.0"},
        {"libnvidia-opticalflow.so", "libnvidia-opticalflow.so.1", "libnvidia-opticalflow.so"},
};

/* Graphics files nvcdi mounts, each the first found under /etc, then /usr/share. */
static const char *const graphics_files[] = {
        "glvnd/egl_vendor.d/10_nvidia.json",
        "vulkan/icd.d/nvidia_icd.json",
        "vulkan/icd.d/nvidia_layers.json",
        "vulkan/implicit_layer.d/nvidia_layers.json",
        "egl/egl_external_platform.d/15_nvidia_gbm.json",
        "egl/egl_external_platform.d/10_nvidia_wayland.json",
        "nvidia/nvoptix.bin",
};
static const char *const graphics_dirs[] = {"/etc", "/usr/share"};

static void
strv_push(struct gdp_strv *sv, char *owned)
{
    sv->v = gdp_reallocarray(sv->v, sv->n + 1, sizeof(char *));
    sv->v[sv->n++] = owned;
}

static bool
strv_has(const struct gdp_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++) {
        if (streq(sv->v[i], s)) {
            return true;
        }
    }
    return false;
}

static void
strv_free(struct gdp_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        free(sv->v[i]);
    }
    free(sv->v);
    *sv = (struct gdp_strv){0};
}

static const char *
base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static char *
dir_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == NULL || slash == path ? gdp_strdup("/")
                                          : gdp_strndup(path, (size_t)(slash - path));
}

/* Follows symlinks of path inside root; returns the final path inside root, or NULL. */
static char *
resolve(const char *root, const char *path)
{
    _cleanup_free_ char *cur = gdp_strdup(path);
    for (int hop = 0; hop < MAX_LINK_HOPS; hop++) {
        _cleanup_free_ char *full = gdp_path_join(root, cur);
        struct stat st;
        if (lstat(full, &st) != 0) {
            return NULL;
        }
        if (!S_ISLNK(st.st_mode)) {
            return S_ISREG(st.st_mode) ? TAKE_PTR(cur) : NULL;
        }
        char target[PATH_MAX];
        ssize_t n = readlink(full, target, sizeof target - 1);
        if (n <= 0) {
            return NULL;
        }
        target[n] = '\0';
        _cleanup_free_ char *dir = dir_name(cur);
        char *next = target[0] == '/' ? gdp_strdup(target)
                                      : gdp_asprintf("%s/%s", streq(dir, "/") ? "" : dir, target);
        free(cur);
        cur = next;
    }
    return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the regular files in dir (under root) named *suffix to d->libs, sorted; dir to d->dirs. */
static void
add_versioned(const char *root, const char *dir, const char *suffix, struct gdp_cdi_driver *d)
{
    _cleanup_free_ char *full = gdp_path_join(root, dir);
    DIR *dh = opendir(full);
    if (dh == NULL) {
        return;
    }
    size_t first = d->libs.n;
    size_t slen = strlen(suffix);
    for (struct dirent *e = readdir(dh); e != NULL; e = readdir(dh)) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= slen || !streq(e->d_name + len - slen, suffix)) {
            continue;
        }
        _cleanup_free_ char *p = gdp_asprintf("%s/%s", streq(dir, "/") ? "" : dir, e->d_name);
        _cleanup_free_ char *real = resolve(root, p);
        if (real != NULL && streq(real, p) && !strv_has(&d->libs, p)) {
            strv_push(&d->libs, TAKE_PTR(p));
        }
    }
    (void)closedir(dh);
    if (d->libs.n > first) {
        qsort(d->libs.v + first, d->libs.n - first, sizeof(char *), cmp_str);
        if (!strv_has(&d->dirs, dir)) {
            strv_push(&d->dirs, gdp_strdup(dir));
        }
    }
}

/* The directories of libcuda.so.1 according to the cache. */
static void
cache_driver_dirs(const char *root, const struct gdp_ldcache *c, struct gdp_strv *dirs)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct gdp_ldcache_entry *e = &c->entries[i];
        if (!gdp_ldcache_entry_64bit(e) || !streq(e->soname, "libcuda.so.1")) {
            continue;
        }
        _cleanup_free_ char *real = resolve(root, e->path);
        _cleanup_free_ char *dir = real != NULL ? dir_name(real) : NULL;
        if (dir != NULL && !strv_has(dirs, dir)) {
            strv_push(dirs, TAKE_PTR(dir));
        }
    }
}

/* Without a cache: the fixed directories holding libcuda.so.<version>, else any library. */
static void
search_driver_dirs(const char *root, const char *version, struct gdp_strv *dirs)
{
    _cleanup_free_ char *cuda = gdp_asprintf("libcuda.so.%s", version);
    for (int pass = 0; pass < 2 && dirs->n == 0; pass++) {
        struct gdp_cdi_driver probe = {0};
        _cleanup_free_ char *suffix = gdp_asprintf(".so.%s", version);
        for (size_t i = 0; i < ELEMENTSOF(fallback_dirs); i++) {
            add_versioned(root, fallback_dirs[i], pass == 0 ? cuda : suffix, &probe);
        }
        /* a directory reached twice through symlinks (lib64 -> usr/lib64) counts once */
        struct stat seen[ELEMENTSOF(fallback_dirs)];
        size_t n_seen = 0;
        for (size_t i = 0; i < probe.dirs.n; i++) {
            _cleanup_free_ char *full = gdp_path_join(root, probe.dirs.v[i]);
            struct stat st;
            bool dup = stat(full, &st) != 0;
            for (size_t j = 0; !dup && j < n_seen; j++) {
                dup = seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino;
            }
            if (!dup) {
                seen[n_seen++] = st;
                strv_push(dirs, gdp_strdup(probe.dirs.v[i]));
            }
        }
        gdp_cdi_driver_done(&probe);
    }
}

/* Cached libraries whose SONAME is stem.<n> (or starts with prefix when stem ends in '.'). */
static void
add_cached(const char *root, const struct gdp_ldcache *c, const char *prefix,
           struct gdp_cdi_driver *d)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct gdp_ldcache_entry *e = &c->entries[i];
        if (!gdp_ldcache_entry_64bit(e) || !startswith(e->soname, prefix)) {
            continue;
        }
        char *real = resolve(root, e->path);
        if (real == NULL || strv_has(&d->libs, real)) {
            free(real);
            continue;
        }
        _cleanup_free_ char *dir = dir_name(real);
        if (!strv_has(&d->dirs, dir)) {
            strv_push(&d->dirs, TAKE_PTR(dir));
        }
        strv_push(&d->libs, real);
    }
}

static void
add_link(struct gdp_cdi_driver *d, const char *target, const char *dir, const char *name)
{
    _cleanup_free_ char *link = gdp_asprintf("%s/%s", streq(dir, "/") ? "" : dir, name);
    for (size_t i = 0; i < d->links.n; i++) {
        const char *sep = strstr(d->links.v[i], "::");
        if (sep != NULL && streq(sep + 2, link)) {
            return; /* one link per path */
        }
    }
    strv_push(&d->links, gdp_asprintf("%s::%s", target, link));
}

/* The SONAME links the cache knows for lib, and nvcdi's special links. */
static void
links_for(const char *root, const struct gdp_ldcache *c, const char *lib, struct gdp_cdi_driver *d)
{
    _cleanup_free_ char *dir = dir_name(lib);
    const char *base = base_name(lib);
    for (size_t i = 0; i < c->n; i++) {
        const struct gdp_ldcache_entry *e = &c->entries[i];
        if (!gdp_ldcache_entry_64bit(e) || streq(e->soname, base)) {
            continue;
        }
        _cleanup_free_ char *real = resolve(root, e->path);
        if (real != NULL && streq(real, lib)) {
            add_link(d, base, dir, e->soname);
        }
    }
    for (size_t i = 0; i < ELEMENTSOF(special_links); i++) {
        if (startswith(base, special_links[i][0])) {
            const char *target = special_links[i][1] != NULL ? special_links[i][1] : base;
            add_link(d, target, dir, special_links[i][2]);
        }
    }
}

/* The regular file at path inside root, or false. */
static bool
is_file(const char *root, const char *path)
{
    _cleanup_free_ char *full = gdp_path_join(root, path);
    struct stat st;
    return stat(full, &st) == 0 && S_ISREG(st.st_mode);
}

/* The Xorg modules from the first driver directory (else Debian's) that has them. */
static void
add_xorg(const char *root, const char *version, const struct gdp_strv *dirs,
         struct gdp_cdi_driver *d)
{
    _cleanup_free_ char *glx = gdp_asprintf("libglxserver_nvidia.so.%s", version);
    const char *const names[] = {"nvidia_drv.so", glx};
    for (size_t n = 0; n < ELEMENTSOF(names); n++) {
        for (size_t i = 0; i <= dirs->n; i++) {
            const char *dir = i < dirs->n ? dirs->v[i] : "/usr/lib/x86_64-linux-gnu";
            _cleanup_free_ char *p = gdp_asprintf("%s/nvidia/xorg/%s", dir, names[n]);
            if (!is_file(root, p)) {
                continue;
            }
            _cleanup_free_ char *xdir = dir_name(p);
            if (n == 1) {
                add_link(d, glx, xdir, "libglxserver_nvidia.so");
            }
            strv_push(&d->files, TAKE_PTR(p));
            break;
        }
    }
    if (is_file(root, "/usr/share/X11/xorg.conf.d/10-nvidia.conf")) {
        strv_push(&d->files, gdp_strdup("/usr/share/X11/xorg.conf.d/10-nvidia.conf"));
    }
}

/* Adds the first of /etc/<rel>, /usr/share/<rel> that is a file to d->files. */
static void
add_first(const char *root, const char *rel, struct gdp_cdi_driver *d)
{
    for (size_t j = 0; j < ELEMENTSOF(graphics_dirs); j++) {
        _cleanup_free_ char *p = gdp_asprintf("%s/%s", graphics_dirs[j], rel);
        if (is_file(root, p)) {
            strv_push(&d->files, TAKE_PTR(p));
            return;
        }
    }
}

/* nvcdi's graphics mounts: the GBM library, the configuration files, the Xorg modules. */
static void
add_graphics(const char *root, const char *version, const struct gdp_ldcache *c,
             const struct gdp_strv *dirs, struct gdp_cdi_driver *d)
{
    struct gdp_cdi_driver gbm = {0};
    add_cached(root, c, "libnvidia-egl-gbm.so.", &gbm);
    for (size_t i = 0; i < gbm.libs.n; i++) {
        if (!strv_has(&d->libs, gbm.libs.v[i])) {
            strv_push(&d->files, gdp_strdup(gbm.libs.v[i]));
        }
    }
    gdp_cdi_driver_done(&gbm);
    for (size_t i = 0; i < ELEMENTSOF(graphics_files); i++) {
        add_first(root, graphics_files[i], d);
    }
    add_xorg(root, version, dirs, d);
}

void
gdp_cdi_driver_find(const char *root, const char *version, unsigned flags,
                    struct gdp_cdi_driver *ret)
{
    *ret = (struct gdp_cdi_driver){0};
    struct gdp_ldcache cache = {0};
    struct gdp_diag ignored = {0};
    _cleanup_(strv_free) struct gdp_strv dirs = {0};
    /* a root without a usable cache falls back to the directory search, as nvcdi */
    if (gdp_ldcache_load(root, &cache, &ignored) == 0) {
        cache_driver_dirs(root, &cache, &dirs);
    }
    ret->from_ldcache = dirs.n > 0;
    if (dirs.n == 0) {
        search_driver_dirs(root, version, &dirs);
    }
    _cleanup_free_ char *suffix = gdp_asprintf(".so.%s", version);
    for (size_t i = 0; i < dirs.n; i++) {
        _cleanup_free_ char *vdpau = gdp_asprintf("%s/vdpau", dirs.v[i]);
        add_versioned(root, dirs.v[i], suffix, ret);
        add_versioned(root, vdpau, suffix, ret);
    }
    add_cached(root, &cache, "libnvidia-nvvm70.so.", ret);
    for (size_t i = 0; (flags & GDP_CDI_DRIVER_EXPLICIT_LIBS) && i < ELEMENTSOF(explicit_libs);
         i++) {
        _cleanup_free_ char *stem = gdp_asprintf("%s.", explicit_libs[i]);
        add_cached(root, &cache, stem, ret);
    }
    for (size_t i = 0; i < ret->libs.n; i++) {
        links_for(root, &cache, ret->libs.v[i], ret);
    }
    if (flags & GDP_CDI_DRIVER_GRAPHICS) {
        add_graphics(root, version, &cache, &dirs, ret);
    }
    gdp_ldcache_done(&cache);
}

void
gdp_cdi_driver_done(struct gdp_cdi_driver *d)
{
    strv_free(&d->libs);
    strv_free(&d->dirs);
    strv_free(&d->links);
    strv_free(&d->files);
    d->from_ldcache = false;
}
