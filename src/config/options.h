/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to src/config/: the option descriptor table and the value setter shared by
 * config.c (defaults, values, validation, notices) and flags.c (argv, environment, --help).
 * One entry describes one setting everywhere it can come from: its flag name and aliases,
 * its environment variables, its config-file key, its type, default and allowed values.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct gdp_diag;

enum gdp_opt_type {
    GDP_OPT_BOOL,      /* bool; Go strconv.ParseBool spellings */
    GDP_OPT_STRING,    /* char *, owned */
    GDP_OPT_ENUM,      /* enum stored as unsigned: the index of the value in .values */
    GDP_OPT_SET,       /* comma list over .values, stored as an unsigned bit mask (bit i) */
    GDP_OPT_STRV,      /* free-form comma list, struct gdp_strv */
    GDP_OPT_UINT_LIST, /* comma list of unsigned, .off array + .off_n count, .max_n, .max_value */
    GDP_OPT_DURATION,  /* int64_t ns: Go duration ("60s", "1m30s") or "infinite" */
    GDP_OPT_OPTBOOL,   /* int: -1 (not given; default text ""), 0, 1 */
    GDP_OPT_UINT,      /* unsigned from .min_value to .max_value */
};

struct gdp_opt {
    const char *name;           /* long flag name, without dashes */
    const char *const *aliases; /* NULL-terminated, or NULL */
    const char *const *env;     /* NULL-terminated, or NULL; the first one present wins */
    const char *const *gfd_env; /* gpu-feature-discovery reads these instead of env, or NULL */
    enum gdp_opt_type type;
    size_t off;                /* offsetof(struct gdp_config, field) */
    size_t off_n;              /* UINT_LIST: offset of the size_t element count */
    size_t max_n;              /* UINT_LIST: capacity of the array */
    unsigned min_value;        /* UINT: smallest accepted value */
    unsigned max_value;        /* UINT, UINT_LIST: largest accepted value or element */
    int64_t min_ns, max_ns;    /* DURATION: accepted range when max_ns > 0 (no "infinite") */
    bool zero_off;             /* DURATION: 0 is accepted besides the range (means off) */
    bool bare_seconds;         /* DURATION: a bare number is seconds ("30" = 30s) */
    bool onoff;                /* BOOL: on/off and yes/no too, in any case */
    const char *const *values; /* ENUM, SET: allowed values, NULL-terminated */
    const char *allowed;       /* UINT_LIST, DURATION: the "allowed values" part of errors */
    const char *def;           /* default, as text parsed like a flag value */
    const char *arg;           /* value placeholder for --help (STRING, STRV, UINT_LIST) */
    const char *help;          /* one-line meaning for --help */
    const char *key;           /* config-file key path ("flags.migStrategy"), or NULL */
    unsigned scope;            /* GDP_CMD_* bits */
    bool implemented;          /* false: accepted and ignored by this build */
    bool env_only; /* set from .env only: no flag, no file key (--help lists it apart) */
};

/* The table, in --help order. gdp_n_opts <= 64 (one bit each in gdp_config.set_mask). */
extern const struct gdp_opt gdp_opts[];
extern const size_t gdp_n_opts;

static inline uint64_t
gdp_opt_bit(size_t idx)
{
    return (uint64_t)1 << idx;
}

/*
 * Parses value for option o into c. List types replace the current list unless append is
 * true, in which case the items are added (a repeated flag accumulates). origin names the
 * source for messages ("flag --x", "environment variable X (flag --x)").
 * Returns 0, or GDP_E_CONFIG with diag reading
 * `invalid value "<v>" for <origin>: <allowed values>`, or `invalid value "<v>": <allowed>`
 * when origin is NULL (the config file adds its own position and key). Does not touch
 * c->set_mask.
 */
int gdp_opt_set(struct gdp_config *c, const struct gdp_opt *o, const char *value, bool append,
                const char *origin, struct gdp_diag *diag);

/*
 * Writes the "allowed values are ..." text for o into buf (always NUL-terminated).
 * Empty for types whose every value is valid (STRING, STRV).
 */
void gdp_opt_describe_allowed(const struct gdp_opt *o, char *buf, size_t size);

/*
 * config_file.c: Go's time.ParseDuration (no negative values) or "infinite"
 * (GDP_DURATION_INFINITE). Returns 0, -EINVAL or -ERANGE.
 */
int gdp_duration_parse(const char *s, int64_t *ret);

/* config_file.c: defaults of the settings that only the config file sets (gfd). */
void gdp_file_defaults(struct gdp_config *c);

/* config_file.c: frees what the config file added to c (sections, warnings). */
void gdp_file_done(struct gdp_config *c);
