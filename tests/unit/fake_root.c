/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: temporary directory trees (see fake_root.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fake_root.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

char *
fake_root_new(void)
{
    const char *tmp = getenv("TMPDIR");
    char *root = gdp_asprintf("%s/gdp-test-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        abort();
    }
    return root;
}

static void
mkdirs(char *path)
{
    for (char *s = strchr(path + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            perror(path);
            abort();
        }
        *s = '/';
    }
}

void
fake_root_dir(const char *root, const char *rel)
{
    _cleanup_free_ char *p = gdp_asprintf("%s/%s/", root, rel);
    mkdirs(p);
}

void
fake_root_file(const char *root, const char *rel, const char *text)
{
    _cleanup_free_ char *p = gdp_asprintf("%s/%s", root, rel);
    mkdirs(p);
    FILE *f = fopen(p, "w");
    if (f == NULL) {
        perror(p);
        abort();
    }
    (void)fputs(text != NULL ? text : "", f);
    if (fclose(f) != 0) {
        abort();
    }
}

void
fake_root_symlink(const char *root, const char *rel, const char *target)
{
    _cleanup_free_ char *p = gdp_asprintf("%s/%s", root, rel);
    mkdirs(p);
    if (symlink(target, p) < 0) {
        perror(p);
        abort();
    }
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path);
    return 0;
}

void
fake_root_remove(char *root)
{
    if (root != NULL) {
        (void)nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    free(root);
}
