/* The build identity a Raspberry Pi start*.elf carries: NUL-terminated strings
 * "VC_BUILD_ID_<KEY>: <value>" (read from Debian's raspi-firmware 1.20220830: VERSION is the
 * firmware git commit plus "(clean)", VARIANT the file's flavour, TIME once the clock time and
 * once the date). Every start*.elf of one release shares the VERSION; bootcode.bin and fixup*.dat
 * carry none and are known by their sha256 and the set they came with. */
#pragma once

#include <stdbool.h>

#include "sha256.h"

struct firmware_version {
        char build[48];   /* VC_BUILD_ID_VERSION without " (clean)": "102f1e84…" */
        char variant[32]; /* VC_BUILD_ID_VARIANT: "start", "start_x", "start_cd", … */
        char date[32];    /* the VC_BUILD_ID_TIME that is a date: "Aug 26 2022" */
        bool clean;       /* built from a clean tree */
};

/* Reads what is left of FD once: hashes it into SHA (may be NULL) and picks up the build strings.
 * Returns 1 when a VC_BUILD_ID_VERSION was found, 0 when not (V zeroed), <0 on read errors. */
int firmware_version_scan_fd(int fd, struct firmware_version *v, char sha[SHA256_HEX_SIZE]);

/* The same for a path (never through a symlink). */
int firmware_version_read(const char *path, struct firmware_version *v, char sha[SHA256_HEX_SIZE]);
