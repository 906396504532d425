/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registration watchdog (watchdog.c): compares the kubelet's allocatable devices
 * (PodResources GetAllocatableResources) with what each registered resource advertises and
 * registers again after drift that outlasts a grace period. Loop thread only.
 */
#pragma once

struct gdp_diag;
struct gdp_manager;
struct gdp_watchdog;

/*
 * Starts the watchdog for m: every GDP_WATCHDOG_INTERVAL_MS (default 30 s) while
 * <kubelet root>/pod-resources/kubelet.sock exists, with drift tolerated for
 * GDP_WATCHDOG_GRACE_MS (default 60 s); both read from m's environment. Returns 0 and *ret
 * (NULL when m does not register with a kubelet; caller frees with gdp_watchdog_free()), or
 * -errno from the timer with diag filled.
 */
int gdp_watchdog_new(struct gdp_manager *m, struct gdp_watchdog **ret, struct gdp_diag *diag);

/* The PodResources socket it watches (borrowed), or NULL when w is NULL. */
const char *gdp_watchdog_socket(const struct gdp_watchdog *w);

/* Cancels a call in flight and frees the watchdog. Accepts NULL. */
void gdp_watchdog_free(struct gdp_watchdog *w);
