/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: throw-away directory trees standing in for a driver root or a dev root
 * (files, symlinks), removed again at the end of a test.
 */
#pragma once

/* Creates a fresh directory under $TMPDIR (or /tmp). Caller frees with fake_root_remove(). */
char *fake_root_new(void);

/* Creates root/rel (parent directories included) with content text (NULL: empty). */
void fake_root_file(const char *root, const char *rel, const char *text);

/* Creates root/rel (parent directories included) as a symlink to target. */
void fake_root_symlink(const char *root, const char *rel, const char *target);

/* Creates the directory root/rel with its parents. */
void fake_root_dir(const char *root, const char *rel);

/* Removes the tree at root and frees root. Accepts NULL. */
void fake_root_remove(char *root);
