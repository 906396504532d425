/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The driver's libraries for the CDI gpu spec, found by nvcdi's rules (docs/cdi.md): the
 * directories of libcuda.so.1 from the driver root's ld.so.cache (else a fixed directory
 * search), every *.so.<driver version> in them and in their vdpau/ subdirectory, the legacy
 * libnvidia-nvvm70 library, optionally the explicit GL/EGL/OpenCL list, and the symlinks the
 * create-symlinks hook makes in the container (each library's SONAME, libcuda.so,
 * libGLX_indirect.so.0, libnvidia-opticalflow.so), and on request the graphics files (EGL,
 * Vulkan and GBM configuration, OptiX data, the Xorg driver modules). Paths are those inside
 * the driver root.
 */
#pragma once

#include <stdbool.h>

#include "config/config.h"

/* Options of gdp_cdi_driver_find(). */
enum gdp_cdi_driver_flags {
    /* --cdi-feature-flags enable-explicit-driver-libraries */
    GDP_CDI_DRIVER_EXPLICIT_LIBS = 1u << 0,
    /* graphics files, when NVIDIA_DRIVER_CAPABILITIES asks for them */
    GDP_CDI_DRIVER_GRAPHICS = 1u << 1,
};

struct gdp_cdi_driver {
    struct gdp_strv libs;  /* library paths, by directory, sorted within one */
    struct gdp_strv dirs;  /* the directories holding libs, in first-seen order */
    struct gdp_strv links; /* create-symlinks arguments "<target>::<link path>" */
    struct gdp_strv files; /* GDP_CDI_DRIVER_GRAPHICS: ICD/EGL/Vulkan files, Xorg modules */
    bool from_ldcache;     /* the directories came from <root>/etc/ld.so.cache */
};

/*
 * Finds the libraries of driver version (e.g. "550.54.15") under root (the driver root as
 * this process sees it). Never fails: a root without the driver gives empty lists. Caller
 * releases *ret with gdp_cdi_driver_done().
 */
void gdp_cdi_driver_find(const char *root, const char *version, unsigned flags,
                         struct gdp_cdi_driver *ret);

/* Frees what d owns and empties it. Accepts an empty one. */
void gdp_cdi_driver_done(struct gdp_cdi_driver *d);
