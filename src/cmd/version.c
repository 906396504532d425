/* SPDX-License-Identifier: Apache-2.0 */
/* `gpu-device-plugin version`: the release and the commit it was built from. */
#include <stdio.h>

#include "cmd/cmd.h"

int
gdp_cmd_version(void)
{
    printf("gpu-device-plugin version %s\ncommit: %s\n", GDP_VERSION, GDP_GIT_VERSION);
    return fflush(stdout) == 0 ? GDP_EXIT_OK : GDP_EXIT_FAILURE;
}
