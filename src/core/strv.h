/* SPDX-License-Identifier: Apache-2.0 */
/* A growing array of owned strings, kept NULL-terminated. Zero-initialized is empty. */
#pragma once

#include <stddef.h>

struct gdp_strv {
    char **v; /* v[n] is NULL once anything was added */
    size_t n;
};

/* Appends a copy of s. */
void gdp_strv_push(struct gdp_strv *sv, const char *s);

/* Appends owned (taken: freed with the array). */
void gdp_strv_take(struct gdp_strv *sv, char *owned);

/* Frees the strings and the array; sv is empty afterwards. */
void gdp_strv_clear(struct gdp_strv *sv);
