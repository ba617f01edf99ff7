/* The doctor's boot checks: the OTP boot bit, /boot on this Pi's TFTP folder, the files
 * bootcode.bin needs, the initramfs config.txt loads, /etc/fstab and the activity LED. */
#include "doctor_check.h"

#include "bootcfg.h"
#include "child.h"
#include "fileio.h"
#include "initrd.h"
#include "led.h"
#include "rootpath.h"

#include <fcntl.h>
#include <sys/stat.h>

#define OTP_OK        "3020000a"
#define VCGENCMD_PATH "/usr/bin/vcgencmd"
#define VCGENCMD_MS   5000

/* Runs PATH otp_dump (no shell, the fixed environment of child.h) and keeps its standard output.
 * Returns 0 with the output in OUT, or a negative errno (-ETIMEDOUT, -EIO for a failed run). */
static int run_otp_dump(const char *path, char *out, size_t size)
{
        char *argv[] = {(char *)path, "otp_dump", NULL};
        struct spawn_options so = {
            .argv = argv, .err_fd = SPAWN_NULL, .capture_max = size - 1, .timeout_ms = VCGENCMD_MS};
        struct spawn_result res;
        int r = spawn_run(&so, &res);

        if (r < 0)
                return r;
        snprintf(out, size, "%s", res.out ? res.out : "");
        r = res.timed_out ? -ETIMEDOUT : spawn_ok(&res) ? 0 : -EIO;
        spawn_result_free(&res);
        return r;
}

void doctor_check_otp(struct doctor_ctx *c, struct doctor_check *ck)
{
        const char *board = c->v->model_r == 0 ? bootcfg_board_name(c->v->model) : NULL;
        char out[16384], value[64];
        const char *prog = c->vcgencmd ? c->vcgencmd : VCGENCMD_PATH;
        int r;

        if (c->sandbox && !c->vcgencmd) {
                doctor_say(ck, DOCTOR_SKIP,
                           "skipped (not on the Pi): vcgencmd is never run from a --root tree");
                return;
        }
        if (board && (strncmp(board, "pi4", 3) == 0 || strncmp(board, "pi5", 3) == 0 ||
                      strncmp(board, "cm4", 3) == 0 || strncmp(board, "cm5", 3) == 0)) {
                doctor_say(
                    ck, DOCTOR_SKIP,
                    "not a Pi 3: %s network boot is set in the bootloader EEPROM, not in OTP",
                    board);
                return;
        }
        if (access(prog, X_OK) < 0) {
                doctor_say(
                    ck, DOCTOR_SKIP,
                    "cannot read the OTP: %s is not installed (a Pi that netboots has the bit set)",
                    prog);
                return;
        }
        r = run_otp_dump(prog, out, sizeof(out));
        if (r < 0) {
                doctor_say(ck, DOCTOR_WARN, "vcgencmd otp_dump failed: %s",
                           r == -EIO ? "non-zero exit" : strerror(-r));
                doctor_fix(ck, "run 'vcgencmd otp_dump | grep 17:' as root and look for 17:%s",
                           OTP_OK);
                return;
        }
        if (!doctor_parse_otp(out, value, sizeof(value))) {
                doctor_say(ck, DOCTOR_WARN, "vcgencmd otp_dump printed no row 17");
                doctor_fix(
                    ck, "update the firmware (rpi-update) and run 'vcgencmd otp_dump | grep 17:'");
                return;
        }
        if (streq(value, OTP_OK)) {
                doctor_say(ck, DOCTOR_OK, "OTP row 17 is %s: USB/network boot mode is programmed",
                           value);
                return;
        }
        doctor_say(ck, DOCTOR_FAIL,
                   "OTP row 17 is %s, not %s: USB/network boot mode is not programmed", value,
                   OTP_OK);
        doctor_fix(
            ck,
            "add program_usb_boot_mode=1 to config.txt, reboot once, check 17:%s, then remove "
            "the line",
            OTP_OK);
}

void doctor_check_boot_mount(struct doctor_ctx *c, struct doctor_check *ck)
{
        const struct mount_entry *m = mounts_at(&c->mounts, c->boot_sys);
        const char *auto_note = c->v->boot_dir_auto ? " (boot_dir = auto)" : "";
        char why[DOCTOR_TEXT_MAX];
        int r;

        if (!m) {
                doctor_say(ck, DOCTOR_FAIL,
                           "%s%s is not a mount: kernel updates land on the iSCSI disk, not in the "
                           "TFTP folder the Pi boots from",
                           c->boot_sys, auto_note);
                doctor_fix(ck,
                           "add '<NAS-IP>:/tftpboot/%s %s nfs nfsvers=3,nolock 0 0' to /etc/fstab, "
                           "then mount %s",
                           doctor_serial_or_placeholder(c), c->boot_sys, c->boot_sys);
                return;
        }
        if (!doctor_is_nfs(m->fstype)) {
                doctor_say(ck, DOCTOR_FAIL, "%s%s is %s (%s), not the NFS-mounted TFTP folder%s",
                           c->boot_sys, auto_note, m->source, m->fstype,
                           strncmp(m->source, "/dev/mmcblk", 11) == 0 ? " (an SD card partition)"
                                                                      : "");
                doctor_fix(ck,
                           "mount '<NAS-IP>:/tftpboot/%s' on %s: fstab line '<NAS-IP>:/tftpboot/%s "
                           "%s nfs nfsvers=3,nolock 0 0'",
                           doctor_serial_or_placeholder(c), c->boot_sys,
                           doctor_serial_or_placeholder(c), c->boot_sys);
                return;
        }
        if (c->v->serial_r < 0) {
                doctor_say(ck, DOCTOR_WARN,
                           "%s is %s (%s), but the Pi serial is unknown (no Serial line in "
                           "/proc/cpuinfo)",
                           c->boot_sys, m->source, m->fstype);
                doctor_fix(ck, "pass --serial S: the low 8 hex digits of the Serial line, leading "
                               "zeros kept (grep Serial /proc/cpuinfo | tail -c 9)");
                return;
        }
        /* Two witnesses of the folder: what the bootloader asks the TFTP server for (the serial)
         * and what the NAS exports here (the mount). */
        r = boot_view_serial_check(c->v, why, sizeof(why));
        if (r < 0) {
                doctor_say(ck, DOCTOR_FAIL, "%s", why);
                doctor_fix(
                    ck,
                    "mount the folder the bootloader asks for: '<NAS-IP>:/tftpboot/%s %s nfs "
                    "nfsvers=3,nolock 0 0' in /etc/fstab (rename the folder on the NAS to %s if "
                    "the files are there; a wrong [agent] serial= also causes this)",
                    c->v->serial, c->boot_sys, c->v->serial);
                return;
        }
        doctor_say(ck, DOCTOR_OK, "%s%s is %s (%s), this Pi's TFTP folder %s", c->boot_sys,
                   auto_note, m->source, m->fstype, c->v->serial);
}

void doctor_check_serial_folder(struct doctor_ctx *c, struct doctor_check *ck)
{
        _cleanup_free_ char *start = doctor_boot_file(c, "start.elf");
        _cleanup_free_ char *fixup = doctor_boot_file(c, "fixup.dat");

        if (!doctor_is_regular(start)) {
                doctor_say(ck, DOCTOR_FAIL,
                           "no start.elf in %s: bootcode.bin takes the files from %s/ only when "
                           "%s/start.elf exists, else from the TFTP root",
                           c->boot_sys, doctor_serial_or_placeholder(c),
                           doctor_serial_or_placeholder(c));
                doctor_fix(ck,
                           "copy the Pi's boot files into the folder: scp -r pi@yourPi:/boot/* "
                           "/tftpboot/%s/",
                           doctor_serial_or_placeholder(c));
                return;
        }
        if (!doctor_is_regular(fixup)) {
                doctor_say(ck, DOCTOR_WARN,
                           "start.elf is in %s but fixup.dat is not: they must come as a matching "
                           "set",
                           c->boot_sys);
                doctor_fix(ck,
                           "copy fixup*.dat from the same firmware release as start*.elf into %s",
                           c->boot_sys);
                return;
        }
        doctor_say(ck, DOCTOR_OK,
                   "start.elf and fixup.dat are in %s: bootcode.bin loads this Pi's "
                   "files from its own folder",
                   c->boot_sys);
}

static void first_failures(const struct initrd_report *ir, char *buf, size_t size)
{
        size_t len = 0;
        unsigned shown = 0;

        buf[0] = '\0';
        for (unsigned i = 0; i < ir->n_items && shown < 3 && len < size; i++) {
                if (ir->items[i].ok)
                        continue;
                len += (size_t)snprintf(buf + len, size - len, "%s%s", shown ? ", " : "",
                                        ir->items[i].name);
                shown++;
        }
}

/* config.txt cannot say which initramfs the Pi loads: unreadable, unevaluable, an include loop,
 * or no initramfs at all. Says so and returns true. */
static bool config_unusable(struct doctor_ctx *c, struct doctor_check *ck, const char *kv)
{
        const struct bootcfg_result *res = &c->v->res;

        if (c->v->files_r < 0) {
                doctor_say(ck, DOCTOR_FAIL, "%s",
                           c->v->error[0] ? c->v->error : strerror(-c->v->files_r));
                if (c->v->files_r == -ENOENT)
                        doctor_fix(ck, "mount this Pi's TFTP folder on %s (see boot-mount)",
                                   c->boot_sys);
                else
                        doctor_fix(ck, "correct the file and line named");
                return true;
        }
        if (c->v->eval_r < 0) {
                doctor_say(
                    ck, DOCTOR_WARN, "cannot evaluate config.txt: the Pi model is unknown (%s)",
                    c->v->model_r < 0 ? "no /proc/device-tree/model" : strerror(-c->v->eval_r));
                doctor_fix(
                    ck,
                    "pass --model \"Raspberry Pi 3 Model B Rev 1.2\" (or the model of this Pi)");
                return true;
        }
        /* An include loop or a chain too deep: what the firmware loads cannot be known. */
        if (bootcfg_diag_error(&c->v->diag)) {
                doctor_say(ck, DOCTOR_FAIL, "%s", bootcfg_diag_error(&c->v->diag));
                doctor_fix(ck, "correct the include lines named ('netrootctl bootcfg show')");
                return true;
        }
        if (res->initramfs_from == BOOTCFG_INITRAMFS_NONE || res->n_initramfs == 0) {
                doctor_say(ck, DOCTOR_FAIL,
                           "config.txt loads no initramfs for this Pi (%s): nothing logs in to the "
                           "iSCSI root",
                           res->board);
                doctor_fix(ck, "add 'initramfs initrd.img-%s followkernel' to config.txt", kv);
                return true;
        }
        return false;
}

/* "config.txt:12" or "(auto_initramfs, config.txt:3)": the line that decides the initramfs. */
static void deciding_where(const struct doctor_ctx *c, char *where, size_t size)
{
        const struct bootcfg_result *res = &c->v->res;
        unsigned line = res->n_deciding ? res->deciding[0] : 0;
        char w[BOOTCFG_NAME_MAX + 32];

        bootcfg_where(&c->v->files, res->n_deciding ? res->deciding_src[0] : 0, line, w, sizeof(w));
        if (res->initramfs_from == BOOTCFG_INITRAMFS_AUTO)
                snprintf(where, size, "(auto_initramfs, %s)", w);
        else
                snprintf(where, size, "%s", w);
}

/* What the initrd check found in the initramfs files config.txt names. */
struct initramfs_scan {
        char bad[320];     /* why the last one that failed failed */
        char missing[200]; /* the ones not in the boot folder */
        const char *passed;
        struct initrd_report ir;
};

static void scan_initramfs(struct doctor_ctx *c, struct initramfs_scan *s)
{
        const struct bootcfg_result *res = &c->v->res;
        struct initrd_check_options io = {.root = c->root};

        io.kver = c->kver[0] ? c->kver : NULL;
        io.rootfs = c->root_fstype[0] && !streq(c->root_fstype, "rootfs") ? c->root_fstype : NULL;
        for (size_t i = 0; i < res->n_initramfs; i++) {
                _cleanup_free_ char *path = doctor_boot_file(c, res->initramfs[i]);
                int r;

                if (!doctor_is_regular(path)) {
                        size_t ml = strlen(s->missing);

                        snprintf(s->missing + ml, sizeof(s->missing) - ml, "%s%s", ml ? ", " : "",
                                 res->initramfs[i]);
                        continue;
                }
                r = initrd_check(path, &io, &s->ir);
                if (r == -EINVAL) /* a root fs type initrd_check does not know: take its default */
                        io.rootfs = NULL, r = initrd_check(path, &io, &s->ir);
                if (r == 0 && s->ir.ok) {
                        s->passed = res->initramfs[i];
                        continue;
                }
                if (r < 0)
                        snprintf(s->bad, sizeof(s->bad), "%s is unreadable: %s", res->initramfs[i],
                                 s->ir.error);
                else {
                        char items[200];

                        first_failures(&s->ir, items, sizeof(items));
                        snprintf(s->bad, sizeof(s->bad), "%s lacks %s", res->initramfs[i], items);
                }
        }
}

void doctor_check_config_initramfs(struct doctor_ctx *c, struct doctor_check *ck)
{
        const char *kv = c->kver[0] ? c->kver : "$(uname -r)";
        const struct bootcfg_result *res = &c->v->res;
        _cleanup_free_ struct initramfs_scan *s = NULL;
        char where[BOOTCFG_NAME_MAX + 64];

        if (config_unusable(c, ck, kv))
                return;
        deciding_where(c, where, sizeof(where));
        s = calloc(1, sizeof(*s));
        if (!s) {
                doctor_say(ck, DOCTOR_WARN, "out of memory");
                return;
        }
        scan_initramfs(c, s);
        if (s->missing[0]) {
                doctor_say(ck, DOCTOR_FAIL, "config.txt %s loads %s, which is not in %s", where,
                           s->missing, c->boot_sys);
                if (res->initramfs_from == BOOTCFG_INITRAMFS_AUTO)
                        doctor_fix(
                            ck, "sudo update-initramfs -c -k %s (the kernel hook copies it to %s)",
                            kv, res->initramfs[0]);
                else
                        doctor_fix(ck,
                                   "sudo update-initramfs -v -k %s -c, then 'netrootctl bootcfg "
                                   "set-initramfs initrd.img-%s'",
                                   kv, kv);
                return;
        }
        if (!s->passed) {
                doctor_say(ck, DOCTOR_FAIL, "%s (running kernel %s)", s->bad,
                           c->kver[0] ? c->kver : "unknown");
                doctor_fix(ck,
                           "sudo update-initramfs -v -k %s -c (with open-iscsi installed), then "
                           "'netrootctl check-initrd' it and point config.txt at it",
                           kv);
                return;
        }
        doctor_say(ck, DOCTOR_OK,
                   "config.txt %s loads %s: it has what an iSCSI root needs for "
                   "kernel %s",
                   where, s->passed, c->kver[0] ? c->kver : s->ir.kernel);
}

struct fstab_line {
        unsigned no;
        char *w[6];
        size_t n;
};

/* Calls FN for every entry of /etc/fstab; FN returns false to stop. */
static void fstab_each(const struct doctor_ctx *c,
                       bool (*fn)(const struct fstab_line *l, void *userdata), void *userdata)
{
        char line[1024];
        size_t pos = 0;
        struct fstab_line l = {0};

        while (c->fstab && doctor_next_line(c->fstab, &pos, line, sizeof(line))) {
                l.no++;
                l.n = doctor_split_words(line, l.w, ARRAY_SIZE(l.w), NULL);
                if (l.n >= 2 && !fn(&l, userdata))
                        return;
        }
}

static bool has_option(const char *opts, const char *opt)
{
        size_t ol = strlen(opt);

        for (const char *p = opts; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (strncmp(p, opt, ol) == 0 && (p[ol] == ',' || p[ol] == '\0'))
                        return true;
        return false;
}

struct sd_scan {
        const struct doctor_ctx *c;
        bool can_resolve;
        unsigned sd_line, missing_line;
        char sd[256], missing[256];
};

static bool sd_entry(const struct fstab_line *l, void *userdata)
{
        struct sd_scan *s = userdata;
        const char *spec = l->w[0], *by = NULL, *key = NULL;
        const char *opts = l->n >= 4 ? l->w[3] : "";

        if (strncmp(spec, "/dev/mmcblk", 11) == 0) {
                if (!s->sd_line) {
                        s->sd_line = l->no;
                        snprintf(s->sd, sizeof(s->sd), "%s %s", spec, l->w[1]);
                }
                return true;
        }
        if (!s->can_resolve || s->missing_line || has_option(opts, "noauto") ||
            has_option(opts, "nofail") ||
            (l->n >= 3 && (doctor_is_nfs(l->w[2]) || streq(l->w[2], "swap"))))
                return true;
        by = doctor_disk_link(spec, &key);
        if (by && *key && !strchr(key, '/')) {
                _cleanup_free_ char *p = root_pathf(s->c->root, "%s%s", by, key);
                struct stat st;

                if (p && lstat(p, &st) < 0) {
                        s->missing_line = l->no;
                        snprintf(s->missing, sizeof(s->missing), "%s %s", spec, l->w[1]);
                }
        }
        return true;
}

void doctor_check_fstab_sd(struct doctor_ctx *c, struct doctor_check *ck)
{
        struct sd_scan s = {.c = c};

        if (c->fstab_r < 0) {
                doctor_say(ck, DOCTOR_WARN, "cannot read /etc/fstab: %s", strerror(-c->fstab_r));
                doctor_fix(ck, "restore /etc/fstab (at least the %s NFS line)", c->boot_sys);
                return;
        }
        s.can_resolve = doctor_rooted_exists(c->root, "/dev/disk");
        fstab_each(c, sd_entry, &s);
        if (s.sd_line) {
                doctor_say(ck, DOCTOR_FAIL,
                           "/etc/fstab line %u mounts the SD card (%s): without the card the boot "
                           "waits for it and drops to emergency mode",
                           s.sd_line, s.sd);
                doctor_fix(ck, "remove every /dev/mmcblk0p* line from /etc/fstab");
                return;
        }
        if (s.missing_line) {
                doctor_say(
                    ck, DOCTOR_WARN,
                    "/etc/fstab line %u (%s) names a device this Pi does not have (left from "
                    "the SD card?)",
                    s.missing_line, s.missing);
                doctor_fix(ck, "remove the line, or add nofail to its options");
                return;
        }
        doctor_say(ck, DOCTOR_OK, "/etc/fstab has no SD card entries%s",
                   s.can_resolve ? " and every local device in it exists" : "");
}

struct root_scan {
        unsigned line;
        char spec[256];
        char type[32];
};

static bool root_entry(const struct fstab_line *l, void *userdata)
{
        struct root_scan *s = userdata;

        if (streq(l->w[1], "/")) {
                s->line = l->no;
                snprintf(s->spec, sizeof(s->spec), "%s", l->w[0]);
                snprintf(s->type, sizeof(s->type), "%s", l->n >= 3 ? l->w[2] : "");
        }
        return true;
}

void doctor_check_fstab_root(struct doctor_ctx *c, struct doctor_check *ck)
{
        const char *root_arg = c->cl_ok ? cmdline_get(&c->cl, "root") : NULL;
        const char *fstype = c->root_fstype[0] ? c->root_fstype : "ext4";
        struct root_scan s = {0};

        if (c->fstab_r < 0) {
                doctor_say(ck, DOCTOR_SKIP, "no /etc/fstab to read (see fstab-sd-card)");
                return;
        }
        fstab_each(c, root_entry, &s);
        if (!s.line) {
                doctor_say(ck, DOCTOR_WARN,
                           "/etc/fstab has no / line: not mandatory, but update-initramfs reads it "
                           "to add fsck.%s",
                           fstype);
                doctor_fix(ck, "add '%s / %s defaults 1 1' at the top of /etc/fstab",
                           root_arg && strncmp(root_arg, "UUID=", 5) == 0 ? root_arg
                                                                          : "UUID=<root fs UUID>",
                           fstype);
                return;
        }
        if (strncmp(s.spec, "/dev/mmcblk", 11) == 0) {
                doctor_say(ck, DOCTOR_FAIL, "/etc/fstab line %u puts / on the SD card (%s)", s.line,
                           s.spec);
                doctor_fix(ck, "replace it with '%s / %s defaults 1 1'",
                           root_arg && strncmp(root_arg, "UUID=", 5) == 0 ? root_arg
                                                                          : "UUID=<root fs UUID>",
                           fstype);
                return;
        }
        if (root_arg && strncmp(root_arg, "UUID=", 5) == 0 && strncmp(s.spec, "UUID=", 5) == 0 &&
            strcasecmp(root_arg, s.spec) != 0) {
                doctor_say(ck, DOCTOR_WARN, "/etc/fstab line %u says / is %s, %s says root=%s",
                           s.line, s.spec, c->cmdline_name, root_arg);
                doctor_fix(ck, "make both name the iSCSI root file system (sudo blkid)");
                return;
        }
        doctor_say(ck, DOCTOR_OK, "/etc/fstab line %u: / is %s (%s)", s.line, s.spec,
                   s.type[0] ? s.type : "?");
}

struct boot_scan {
        const char *dir;
        unsigned line;
        char spec[256];
        char type[32];
};

static bool boot_entry(const struct fstab_line *l, void *userdata)
{
        struct boot_scan *s = userdata;
        char dir[256];
        size_t n;

        snprintf(dir, sizeof(dir), "%s", l->w[1]);
        n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
                dir[--n] = '\0';
        if (streq(dir, s->dir)) {
                s->line = l->no;
                snprintf(s->spec, sizeof(s->spec), "%s", l->w[0]);
                snprintf(s->type, sizeof(s->type), "%s", l->n >= 3 ? l->w[2] : "");
        }
        return true;
}

void doctor_check_fstab_boot(struct doctor_ctx *c, struct doctor_check *ck)
{
        struct boot_scan s = {.dir = c->boot_sys};
        const char *path;

        if (c->fstab_r < 0) {
                doctor_say(ck, DOCTOR_SKIP, "no /etc/fstab to read (see fstab-sd-card)");
                return;
        }
        fstab_each(c, boot_entry, &s);
        if (!s.line) {
                doctor_say(ck, DOCTOR_WARN,
                           "/etc/fstab has no %s line: the TFTP folder is not mounted after a "
                           "reboot",
                           c->boot_sys);
                doctor_fix(ck,
                           "add '<NAS-IP>:/tftpboot/%s %s nfs nfsvers=3,nolock 0 0' to /etc/fstab",
                           doctor_serial_or_placeholder(c), c->boot_sys);
                return;
        }
        path = doctor_nfs_export_path(s.spec);
        if (!doctor_is_nfs(s.type) || !path ||
            (c->v->serial_r == 0 && !doctor_path_ends_in(path, c->v->serial))) {
                doctor_say(ck, DOCTOR_FAIL,
                           "/etc/fstab line %u mounts %s (%s) on %s, not this Pi's TFTP folder %s "
                           "over NFS",
                           s.line, s.spec, s.type, c->boot_sys, doctor_serial_or_placeholder(c));
                doctor_fix(ck, "make it '<NAS-IP>:/tftpboot/%s %s nfs nfsvers=3,nolock 0 0'",
                           doctor_serial_or_placeholder(c), c->boot_sys);
                return;
        }
        doctor_say(ck, DOCTOR_OK, "/etc/fstab line %u mounts %s (%s) on %s", s.line, s.spec, s.type,
                   c->boot_sys);
}

static bool is_mmc_trigger(const char *t)
{
        return strncmp(t, "mmc", 3) == 0;
}

void doctor_check_led(struct doctor_ctx *c, struct doctor_check *ck)
{
        const struct json_value *led = c->status ? json_get(c->status, "led") : NULL;
        char trigger[LED_NAME_MAX] = "", dev[LED_NAME_MAX] = "";
        bool managed = false;

        if (led) {
                if (!json_get_bool(led, "present", false)) {
                        doctor_say(ck, DOCTOR_SKIP,
                                   "no activity LED (ACT or led0) on this Pi "
                                   "(netrootd status)");
                        return;
                }
                managed = json_get_bool(led, "enabled", false);
                snprintf(trigger, sizeof(trigger), "%s", json_get_string(led, "trigger", ""));
                snprintf(dev, sizeof(dev), "%s", json_get_string(led, "device", "ACT"));
        } else {
                static const char *const names[] = {"ACT", "led0"};

                for (size_t i = 0; i < ARRAY_SIZE(names) && !dev[0]; i++) {
                        _cleanup_free_ char *p =
                            root_pathf(c->root, "/sys/class/leds/%s/trigger", names[i]);
                        _cleanup_free_ char *list = NULL;
                        char offered[LED_TRIGGERS_MAX];

                        if (!p || file_read_all(p, LED_TRIGGERS_MAX, &list, NULL) < 0)
                                continue;
                        snprintf(dev, sizeof(dev), "%s", names[i]);
                        if (led_parse_triggers(list, trigger, sizeof(trigger), offered,
                                               sizeof(offered)) < 0)
                                trigger[0] = '\0';
                }
                if (!dev[0]) {
                        doctor_say(ck, DOCTOR_SKIP, "no activity LED (ACT or led0) on this Pi");
                        return;
                }
        }
        if (managed) {
                doctor_say(ck, DOCTOR_OK, "netrootd shows the root's health on %s (trigger %s)",
                           dev, trigger[0] ? trigger : "?");
                return;
        }
        if (is_mmc_trigger(trigger)) {
                doctor_say(
                    ck, DOCTOR_WARN,
                    "%s still follows SD card activity (trigger %s), but there is no SD card", dev,
                    trigger);
                doctor_fix(ck, "add dtparam=act_led_trigger=none (or heartbeat) to config.txt, or "
                               "enable [led] in agent.conf");
                return;
        }
        doctor_say(ck, DOCTOR_OK, "%s trigger is %s", dev, trigger[0] ? trigger : "unknown");
}
