/* The doctor's checks of how the kernel is packaged (issue 14), and `netrootctl doctor --fix`.
 *
 *   raspi-fw-folder     Debian's raspi-firmware is installed: its hook writes to /boot/firmware
 *                       and exits 1 ("missing /boot/firmware") unless that is a mountpoint, so
 *                       the TFTP folder must be mounted there (not at /boot, the tutorial's
 *                       layout)
 *   raspi-fw-cmdline    the cmdline.txt that hook would write (root=$ROOTPART +
 *                       /etc/default/raspi-extra-cmdline) logs into the running root */
#pragma once

#include <stddef.h>

#include "doctor.h"

/* Adds the checks above to REP (doctor_run calls it). */
void doctor_packaging_checks(const struct doctor_options *opt, struct doctor_report *rep);

/* The lasting fix for raspi-firmware, from the live cmdline.txt (the one config.txt names, which
 * must log into the running root): cmdline_lasting_fix_write(). Returns 1 written (WHAT says
 * what), 0 nothing to do (WHAT says why), <0 failed (WHAT says why). */
int doctor_packaging_fix(const char *root, const struct netroot_config *cfg, char *what,
                         size_t size);
