/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subcommands. Each takes the parsed configuration and returns the process exit status
 * (0 success, 1 failure, 2 usage error). They are the edge: they log and print.
 */
#pragma once

struct gdp_config;

#define GDP_EXIT_OK      0
#define GDP_EXIT_FAILURE 1
#define GDP_EXIT_USAGE   2

int gdp_cmd_list(const struct gdp_config *cfg);

/*
 * `config print [flags]` and `config check [--strict-config] FILE...`: argv starts after
 * "config"; envp is the environment ("K=V", NULL-terminated). Returns the exit status.
 */
int gdp_cmd_config(int argc, char **argv, char **envp);
int gdp_cmd_serve(const struct gdp_config *cfg);
int gdp_cmd_version(void);

/*
 * `cdi generate [--output FILE] [flags]`: parses its own arguments (argv[0..argc) after "cdi")
 * with environment envp, then writes the CDI specs. Returns the exit status.
 */
int gdp_cmd_cdi(int argc, char **argv, char **envp);
