#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs a test program, under valgrind (memory errors and leaks fail it) when GDP_VALGRIND=1.
if [ "${GDP_VALGRIND:-0}" = 1 ]; then
    dir=$(cd "$(dirname "$0")" && pwd)
    exec valgrind --quiet --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --suppressions="$dir/valgrind.supp" "$@"
fi
exec "$@"
