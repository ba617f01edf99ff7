/* Inside the doctor: the context every check reads (loaded once by the runner, doctor.c), the
 * helpers the check files share, and the checks themselves. A check is a function that fills the
 * one result its runner gave it (doctor_say(), then doctor_fix() for warn and fail); its name and
 * group live in the table in doctor.c, never in the check.
 *
 * Adding a check: write `void doctor_check_X(struct doctor_ctx *c, struct doctor_check *ck)` in
 * the file of its group (doctor_<group>.c), declare it below and add its row to the table in
 * doctor.c. */
#pragma once

#include "boot_view.h"
#include "cmdline.h"
#include "doctor.h"
#include "json.h"
#include "mounts.h"
#include "session.h"
#include "status_doc.h"
#include "util.h"

#define DOCTOR_SMALL_FILE_MAX (1024 * 1024)

/* Everything read once and shared by the checks. */
struct doctor_ctx {
        const char *root;
        const struct netroot_config *cfg;
        bool sandbox;
        const char *vcgencmd; /* test override, NULL: /usr/bin/vcgencmd */

        /* What this Pi boots (identity, boot folder, config.txt with its includes). */
        struct boot_view *v;
        const char *boot_sys; /* v->boot_sys: the boot folder as the Pi names it */

        struct mount_table mounts;

        char kver[128]; /* running kernel, "" unknown */
        char root_fstype[32];

        struct session_locator loc;
        struct session_snapshot snap;
        int snap_r;

        char cmdline_name[BOOTCFG_NAME_MAX];
        char *cmdline_text;
        int cmdline_r;
        struct cmdline cl;
        bool cl_ok;

        char *proc_cmdline;
        struct cmdline pcl;
        bool pcl_ok;

        char *fstab;
        int fstab_r;

        struct status_doc sdoc;
        const struct json_value *status; /* sdoc's document, NULL when there is none */
};

/* ---- results (doctor.c) ---- */

/* Sets CK's result and detail (and clears its fix). */
void doctor_say(struct doctor_check *ck, enum doctor_result r, const char *fmt, ...) _printf_(3, 4);
/* The line that tells the admin what to do (warn and fail). */
void doctor_fix(struct doctor_check *ck, const char *fmt, ...) _printf_(2, 3);
/* Appends "; "-separated items to BUF. */
void doctor_appendf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);

/* ---- reading under --root (doctor.c) ---- */

int doctor_read_rooted(const char *root, const char *abs, size_t max, char **out);
bool doctor_rooted_exists(const char *root, const char *abs);
bool doctor_is_regular(const char *path);
char *doctor_boot_file(const struct doctor_ctx *c, const char *name);
const char *doctor_serial_or_placeholder(const struct doctor_ctx *c);
bool doctor_is_nfs(const char *type);
/* "host:/tftpboot/511e57f7" -> "/tftpboot/511e57f7"; IPv6 servers come in brackets. */
const char *doctor_nfs_export_path(const char *src);
bool doctor_path_ends_in(const char *path, const char *last);
/* UUID=, PARTUUID= or LABEL= in SPEC: the /dev/disk/by-… folder udev links it in ("…/"), with
 * *KEY at the value; NULL for any other SPEC. */
const char *doctor_disk_link(const char *spec, const char **key);

/* ---- text (doctor_parse.c) ---- */

/* Next line of TEXT at *POS into BUF (without "\n"); false at the end. */
bool doctor_next_line(const char *text, size_t *pos, char *buf, size_t size);
/* Splits LINE in place at white space (and SEPS) into at most MAX words; '#' ends the line. */
size_t doctor_split_words(char *line, char **words, size_t max, const char *seps);

/* ---- the checks, by group ---- */

/* boot (doctor_boot.c) */
void doctor_check_otp(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_boot_mount(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_serial_folder(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_config_initramfs(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_fstab_sd(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_fstab_root(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_fstab_boot(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_led(struct doctor_ctx *c, struct doctor_check *ck);

/* iscsi (doctor_iscsi.c) */
void doctor_check_cmdline_iscsi(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_cmdline_root(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_iscsid(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_recovery_tmo(struct doctor_ctx *c, struct doctor_check *ck);

/* net (doctor_net.c) */
void doctor_check_dhcpcd(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_ifupdown(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_ipv6(struct doctor_ctx *c, struct doctor_check *ck);

/* kernel (doctor_kernel.c) */
void doctor_check_initrd_setting(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_kernel_config(struct doctor_ctx *c, struct doctor_check *ck);
void doctor_check_raspi_firmware(struct doctor_ctx *c, struct doctor_check *ck);
