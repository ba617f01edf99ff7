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

struct doctor_ctx;
struct doctor_check;

/* Rows of the doctor's table (doctor.c); both skip when raspi-firmware is not installed. */
void doctor_check_raspi_fw_folder(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_raspi_fw_cmdline(struct doctor_ctx *c, struct doctor_check *ck);

/* The lasting fix for raspi-firmware, from the live cmdline.txt (the one config.txt names, which
 * must log into the running root): cmdline_lasting_fix_write(). Returns 1 written (WHAT says
 * what), 0 nothing to do (WHAT says why), <0 failed (WHAT says why). */
int doctor_packaging_fix(const char *root, const struct netroot_config *cfg, char *what,
                         size_t size);
