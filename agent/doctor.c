#include "doctor.h"
#include "doctor_packaging.h"
#include "dpkg.h"
#include "boot_view.h"
#include "mounts.h"
#include "bootcfg.h"
#include "cmdline.h"
#include "fileio.h"
#include "flavour.h"
#include "initrd.h"
#include "iscsi_boot.h"
#include "json.h"
#include "led.h"
#include "piinfo.h"
#include "rootpath.h"
#include "session.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define SMALL_FILE_MAX  (1024 * 1024)
#define DPKG_STATUS_MAX (64 * 1024 * 1024)
#define MOUNTS_MAX      256
#define OTP_OK          "3020000a"
#define VCGENCMD_PATH   "/usr/bin/vcgencmd"
#define VCGENCMD_MS     5000
/* open-iscsi's README advises 86400 for a root on iSCSI; below the kernel default 120 s an
 * ordinary NAS reboot already takes the root down. */
#define TMO_FAIL_BELOW 120
#define TMO_WARN_BELOW 600
/* The first initramfs-tools whose mkinitramfs needs /boot/config-VER (FACTS,
 * raspberrypi/linux#5496). */
#define INITRAMFS_TOOLS_NEEDS_CONFIG "0.141"

/* Everything read once and shared by the checks. */
struct doctor_ctx {
        const char *root;
        const struct netroot_config *cfg;
        bool sandbox;
        const char *vcgencmd; /* test override, NULL: VCGENCMD_PATH */

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

        struct json_value *status;
};

/* ---- small helpers ---- */

static int read_rooted(const char *root, const char *abs, size_t max, char **out)
{
        _cleanup_free_ char *p = root_path(root, abs);

        *out = NULL;
        if (!p)
                return -ENOMEM;
        return file_read_all(p, max, out, NULL);
}

static bool rooted_exists(const char *root, const char *abs)
{
        _cleanup_free_ char *p = root_path(root, abs);
        struct stat st;

        return p && lstat(p, &st) == 0;
}

static bool is_regular(const char *path)
{
        struct stat st;

        return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *boot_file(const struct doctor_ctx *c, const char *name)
{
        return boot_view_path(c->v, name);
}

static const char *base_of(const char *p)
{
        const char *s = strrchr(p, '/');

        return s ? s + 1 : p;
}

/* Next line of TEXT at *POS into BUF (without "\n"); false at the end. */
static bool next_line(const char *text, size_t *pos, char *buf, size_t size)
{
        const char *s = text + *pos, *nl;
        size_t n;

        if (!*s)
                return false;
        nl = strchr(s, '\n');
        n = nl ? (size_t)(nl - s) : strlen(s);
        *pos += n + (nl ? 1 : 0);
        snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), s);
        return true;
}

/* Splits LINE in place at white space (and SEPS) into at most MAX words; '#' ends the line. */
static size_t split_words(char *line, char **words, size_t max, const char *seps)
{
        size_t n = 0;
        char *save = NULL, *tok, *hash = strchr(line, '#');
        char delim[16];

        if (hash)
                *hash = '\0';
        snprintf(delim, sizeof(delim), " \t\r%s", seps ? seps : "");
        for (tok = strtok_r(line, delim, &save); tok && n < max; tok = strtok_r(NULL, delim, &save))
                words[n++] = tok;
        return n;
}

_printf_(4, 5) static struct doctor_check *add(struct doctor_report *rep, const char *name,
                                               enum doctor_result r, const char *fmt, ...)
{
        struct doctor_check *ck;
        va_list ap;

        /* The check list is fixed and shorter than the array; if it ever grew past it, the last
         * slot is reused rather than written beyond. */
        if (rep->n < DOCTOR_CHECKS_MAX)
                rep->n++;
        ck = &rep->checks[rep->n - 1];
        memset(ck, 0, sizeof(*ck));
        snprintf(ck->name, sizeof(ck->name), "%s", name);
        ck->result = r;
        va_start(ap, fmt);
        vsnprintf(ck->detail, sizeof(ck->detail), fmt, ap);
        va_end(ap);
        return ck;
}

_printf_(2, 3) static void fix(struct doctor_check *ck, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(ck->fix, sizeof(ck->fix), fmt, ap);
        va_end(ap);
}

/* Appends "; "-separated items to BUF. */
_printf_(3, 4) static void appendf(char *buf, size_t size, const char *fmt, ...)
{
        size_t len = strlen(buf);
        va_list ap;

        if (len && len + 2 < size) {
                memcpy(buf + len, "; ", 3);
                len += 2;
        }
        if (len + 1 >= size)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
}

static const char *serial_or_placeholder(const struct doctor_ctx *c)
{
        return c->v->serial_r == 0 ? c->v->serial : "<serial>";
}

/* ---- mounts ---- */

static bool is_nfs(const char *type)
{
        return streq(type, "nfs") || streq(type, "nfs4");
}

/* "host:/tftpboot/511e57f7" -> "/tftpboot/511e57f7"; IPv6 servers come in brackets. */
static const char *nfs_export_path(const char *src)
{
        struct mount_entry m = {.source = (char *)src};

        return mounts_nfs_export(&m);
}

static bool path_ends_in(const char *path, const char *last)
{
        size_t len = strlen(path), ll = strlen(last);

        while (len > 1 && path[len - 1] == '/')
                len--;
        return len > ll && path[len - ll - 1] == '/' && strncmp(path + len - ll, last, ll) == 0;
}

/* ---- gathering ---- */

static void load_kver(struct doctor_ctx *c)
{
        _cleanup_free_ char *p = root_path(c->root, "/proc/sys/kernel/osrelease");

        if (!p || file_read_value(p, c->kver, sizeof(c->kver)) < 0 || strchr(c->kver, '/'))
                c->kver[0] = '\0';
}

static void load_bootcfg(struct doctor_ctx *c, const struct doctor_options *opt)
{
        struct boot_view_options bo = {
            .root = c->root,
            .cfg = c->cfg,
            .model = opt->model,
            .serial = opt->serial,
        };

        (void)boot_view_load(c->v, &bo);
        c->boot_sys = c->v->boot_sys;
        snprintf(c->cmdline_name, sizeof(c->cmdline_name), "%s",
                 c->v->eval_r == 0 && c->v->res.cmdline[0] ? c->v->res.cmdline : "cmdline.txt");
}

static void load_cmdlines(struct doctor_ctx *c)
{
        _cleanup_free_ char *path = boot_file(c, c->cmdline_name);
        size_t len;

        c->cmdline_r = path ? file_read_all(path, SMALL_FILE_MAX, &c->cmdline_text, &len) : -ENOMEM;
        if (c->cmdline_r == 0)
                c->cl_ok = cmdline_parse(c->cmdline_text, len, &c->cl) == 0;
        if (read_rooted(c->root, "/proc/cmdline", SMALL_FILE_MAX, &c->proc_cmdline) == 0)
                c->pcl_ok = cmdline_parse(c->proc_cmdline, strlen(c->proc_cmdline), &c->pcl) == 0;
}

static void load_session(struct doctor_ctx *c)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        iscsi_boot_init(&b);
        if (iscsi_boot_load(c->root, &b, err, sizeof(err)) < 0)
                b.target_name[0] = '\0';
        session_locator_init(&c->loc, b.target_name);
        iscsi_boot_clear(&b);
        c->snap_r = session_read(c->root, &c->loc, &c->snap);
}

static void load_status(struct doctor_ctx *c)
{
        _cleanup_free_ char *p = NULL, *text = NULL;
        char err[128];
        size_t len;

        if (asprintf(&p, "%s/status.json", c->cfg->agent.run_dir) < 0) {
                p = NULL;
                return;
        }
        {
                _cleanup_free_ char *rp = root_path(c->root, p);

                if (!rp || file_read_all(rp, SMALL_FILE_MAX, &text, &len) < 0)
                        return;
        }
        if (json_parse(text, len, &c->status, err, sizeof(err)) < 0)
                c->status = NULL;
}

static int ctx_load(struct doctor_ctx *c, const struct doctor_options *opt)
{
        const struct mount_entry *m;

        c->root = opt->root;
        c->cfg = opt->cfg;
        c->vcgencmd = opt->vcgencmd;
        c->sandbox = !str_empty(opt->root) && !streq(opt->root, "/");
        c->v = boot_view_new();
        if (!c->v)
                return -ENOMEM;
        load_bootcfg(c, opt);
        if (!c->v->boot_dir)
                return -ENOMEM;
        if (mounts_load(c->root, &c->mounts) == -ENOMEM)
                return -ENOMEM;
        m = mounts_at(&c->mounts, "/");
        snprintf(c->root_fstype, sizeof(c->root_fstype), "%s", m ? m->fstype : "");
        load_kver(c);
        load_cmdlines(c);
        load_session(c);
        c->fstab_r = read_rooted(c->root, "/etc/fstab", SMALL_FILE_MAX, &c->fstab);
        load_status(c);
        return 0;
}

static void ctx_free(struct doctor_ctx *c)
{
        boot_view_free(c->v);
        free(c->v);
        mounts_free(&c->mounts);
        free(c->cmdline_text);
        free(c->proc_cmdline);
        free(c->fstab);
        if (c->cl_ok)
                cmdline_free(&c->cl);
        if (c->pcl_ok)
                cmdline_free(&c->pcl);
        json_free(c->status);
}

/* ---- OTP ---- */

int doctor_parse_otp(const char *output, char *value, size_t size)
{
        char line[256];
        size_t pos = 0;

        while (output && next_line(output, &pos, line, sizeof(line))) {
                char *v;

                str_strip_trailing(line);
                if (strncmp(line, "17:", 3) != 0)
                        continue;
                v = line + 3;
                while (*v == ' ' || *v == '\t')
                        v++;
                for (char *p = v; *p; p++)
                        *p = (char)tolower((unsigned char)*p);
                snprintf(value, size, "%s", v);
                return 1;
        }
        return 0;
}

/* Runs PATH ARG (no shell) and collects its standard output within a time limit. */
static int run_capture(const char *path, const char *arg, char *out, size_t size, int *status)
{
        char *argv[] = {(char *)path, (char *)arg, NULL};
        posix_spawn_file_actions_t fa;
        struct timespec start, now;
        size_t len = 0;
        int p[2], r;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        r = posix_spawn(&pid, path, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return -r;
        }
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                struct pollfd pfd = {.fd = p[0], .events = POLLIN};
                long waited;
                ssize_t k;

                clock_gettime(CLOCK_MONOTONIC, &now);
                waited =
                    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
                if (waited >= VCGENCMD_MS) {
                        kill(pid, SIGKILL);
                        r = -ETIMEDOUT;
                        break;
                }
                if (poll(&pfd, 1, (int)(VCGENCMD_MS - waited)) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        kill(pid, SIGKILL);
                        break;
                }
                if (!pfd.revents)
                        continue;
                k = read(p[0], out + len, size - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0 || (len += (size_t)k) >= size - 1)
                        break;
        }
        out[len] = '\0';
        close(p[0]);
        while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
        return r;
}

static void check_otp(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "otp-boot-bit";
        const char *board = c->v->model_r == 0 ? bootcfg_board_name(c->v->model) : NULL;
        char out[16384], value[64];
        struct doctor_check *ck;
        const char *prog = c->vcgencmd ? c->vcgencmd : VCGENCMD_PATH;
        int status = 0, r;

        if (c->sandbox && !c->vcgencmd) {
                add(rep, name, DOCTOR_SKIP,
                    "skipped (not on the Pi): vcgencmd is never run from a --root tree");
                return;
        }
        if (board && (strncmp(board, "pi4", 3) == 0 || strncmp(board, "pi5", 3) == 0 ||
                      strncmp(board, "cm4", 3) == 0 || strncmp(board, "cm5", 3) == 0)) {
                add(rep, name, DOCTOR_SKIP,
                    "not a Pi 3: %s network boot is set in the bootloader EEPROM, not in OTP",
                    board);
                return;
        }
        if (access(prog, X_OK) < 0) {
                add(rep, name, DOCTOR_SKIP,
                    "cannot read the OTP: %s is not installed (a Pi that netboots has the bit set)",
                    prog);
                return;
        }
        r = run_capture(prog, "otp_dump", out, sizeof(out), &status);
        if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                ck = add(rep, name, DOCTOR_WARN, "vcgencmd otp_dump failed: %s",
                         r < 0 ? strerror(-r) : "non-zero exit");
                fix(ck, "run 'vcgencmd otp_dump | grep 17:' as root and look for 17:%s", OTP_OK);
                return;
        }
        if (!doctor_parse_otp(out, value, sizeof(value))) {
                ck = add(rep, name, DOCTOR_WARN, "vcgencmd otp_dump printed no row 17");
                fix(ck, "update the firmware (rpi-update) and run 'vcgencmd otp_dump | grep 17:'");
                return;
        }
        if (streq(value, OTP_OK)) {
                add(rep, name, DOCTOR_OK, "OTP row 17 is %s: USB/network boot mode is programmed",
                    value);
                return;
        }
        ck =
            add(rep, name, DOCTOR_FAIL,
                "OTP row 17 is %s, not %s: USB/network boot mode is not programmed", value, OTP_OK);
        fix(ck,
            "add program_usb_boot_mode=1 to config.txt, reboot once, check 17:%s, then remove "
            "the line",
            OTP_OK);
}

/* ---- /boot and the serial folder ---- */

static void check_boot_mount(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "boot-mount";
        const struct mount_entry *m = mounts_at(&c->mounts, c->boot_sys);
        const char *auto_note = c->v->boot_dir_auto ? " (boot_dir = auto)" : "";
        struct doctor_check *ck;
        char why[DOCTOR_TEXT_MAX];
        int r;

        if (!m) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "%s%s is not a mount: kernel updates land on the iSCSI disk, not in the "
                         "TFTP folder the Pi boots from",
                         c->boot_sys, auto_note);
                fix(ck,
                    "add '<NAS-IP>:/tftpboot/%s %s nfs nfsvers=3,nolock 0 0' to /etc/fstab, "
                    "then mount %s",
                    serial_or_placeholder(c), c->boot_sys, c->boot_sys);
                return;
        }
        if (!is_nfs(m->fstype)) {
                ck = add(
                    rep, name, DOCTOR_FAIL, "%s%s is %s (%s), not the NFS-mounted TFTP folder%s",
                    c->boot_sys, auto_note, m->source, m->fstype,
                    strncmp(m->source, "/dev/mmcblk", 11) == 0 ? " (an SD card partition)" : "");
                fix(ck,
                    "mount '<NAS-IP>:/tftpboot/%s' on %s: fstab line '<NAS-IP>:/tftpboot/%s "
                    "%s nfs nfsvers=3,nolock 0 0'",
                    serial_or_placeholder(c), c->boot_sys, serial_or_placeholder(c), c->boot_sys);
                return;
        }
        if (c->v->serial_r < 0) {
                ck = add(rep, name, DOCTOR_WARN,
                         "%s is %s (%s), but the Pi serial is unknown (no Serial line in "
                         "/proc/cpuinfo)",
                         c->boot_sys, m->source, m->fstype);
                fix(ck, "pass --serial S: the low 8 hex digits of the Serial line, leading "
                        "zeros kept (grep Serial /proc/cpuinfo | tail -c 9)");
                return;
        }
        /* Two witnesses of the folder: what the bootloader asks the TFTP server for (the serial)
         * and what the NAS exports here (the mount). */
        r = boot_view_serial_check(c->v, why, sizeof(why));
        if (r < 0) {
                ck = add(rep, name, DOCTOR_FAIL, "%s", why);
                fix(ck,
                    "mount the folder the bootloader asks for: '<NAS-IP>:/tftpboot/%s %s nfs "
                    "nfsvers=3,nolock 0 0' in /etc/fstab (rename the folder on the NAS to %s if "
                    "the files are there; a wrong [agent] serial= also causes this)",
                    c->v->serial, c->boot_sys, c->v->serial);
                return;
        }
        add(rep, name, DOCTOR_OK, "%s%s is %s (%s), this Pi's TFTP folder %s", c->boot_sys,
            auto_note, m->source, m->fstype, c->v->serial);
}

static void check_serial_folder(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "serial-folder";
        _cleanup_free_ char *start = boot_file(c, "start.elf");
        _cleanup_free_ char *fixup = boot_file(c, "fixup.dat");
        struct doctor_check *ck;

        if (!is_regular(start)) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "no start.elf in %s: bootcode.bin takes the files from %s/ only when "
                         "%s/start.elf exists, else from the TFTP root",
                         c->boot_sys, serial_or_placeholder(c), serial_or_placeholder(c));
                fix(ck,
                    "copy the Pi's boot files into the folder: scp -r pi@yourPi:/boot/* "
                    "/tftpboot/%s/",
                    serial_or_placeholder(c));
                return;
        }
        if (!is_regular(fixup)) {
                ck = add(rep, name, DOCTOR_WARN,
                         "start.elf is in %s but fixup.dat is not: they must come as a matching "
                         "set",
                         c->boot_sys);
                fix(ck, "copy fixup*.dat from the same firmware release as start*.elf into %s",
                    c->boot_sys);
                return;
        }
        add(rep, name, DOCTOR_OK,
            "start.elf and fixup.dat are in %s: bootcode.bin loads this Pi's "
            "files from its own folder",
            c->boot_sys);
}

/* ---- config.txt: the initramfs this Pi loads ---- */

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

static void check_config_initramfs(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "config-initramfs";
        const char *kv = c->kver[0] ? c->kver : "$(uname -r)";
        struct initrd_check_options io = {.root = c->root};
        _cleanup_free_ struct initrd_report *ir = NULL;
        const struct bootcfg_result *res = &c->v->res;
        char bad[320] = "", missing[200] = "";
        const char *passed = NULL;
        struct doctor_check *ck;
        unsigned line = res->n_deciding ? res->deciding[0] : 0;
        char where[BOOTCFG_NAME_MAX + 64];

        if (c->v->files_r < 0) {
                ck = add(rep, name, DOCTOR_FAIL, "%s",
                         c->v->error[0] ? c->v->error : strerror(-c->v->files_r));
                if (c->v->files_r == -ENOENT)
                        fix(ck, "mount this Pi's TFTP folder on %s (see boot-mount)", c->boot_sys);
                else
                        fix(ck, "correct the file and line named");
                return;
        }
        if (c->v->eval_r < 0) {
                ck =
                    add(rep, name, DOCTOR_WARN,
                        "cannot evaluate config.txt: the Pi model is unknown (%s)",
                        c->v->model_r < 0 ? "no /proc/device-tree/model" : strerror(-c->v->eval_r));
                fix(ck,
                    "pass --model \"Raspberry Pi 3 Model B Rev 1.2\" (or the model of this Pi)");
                return;
        }
        /* An include loop or a chain too deep: what the firmware loads cannot be known. */
        if (bootcfg_diag_error(&c->v->diag)) {
                ck = add(rep, name, DOCTOR_FAIL, "%s", bootcfg_diag_error(&c->v->diag));
                fix(ck, "correct the include lines named ('netrootctl bootcfg show')");
                return;
        }
        if (res->initramfs_from == BOOTCFG_INITRAMFS_NONE || res->n_initramfs == 0) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "config.txt loads no initramfs for this Pi (%s): nothing logs in to the "
                         "iSCSI root",
                         res->board);
                fix(ck, "add 'initramfs initrd.img-%s followkernel' to config.txt", kv);
                return;
        }
        {
                char w[BOOTCFG_NAME_MAX + 32];

                bootcfg_where(&c->v->files, res->n_deciding ? res->deciding_src[0] : 0, line, w,
                              sizeof(w));
                if (res->initramfs_from == BOOTCFG_INITRAMFS_AUTO)
                        snprintf(where, sizeof(where), "(auto_initramfs, %s)", w);
                else
                        snprintf(where, sizeof(where), "%s", w);
        }
        ir = malloc(sizeof(*ir));
        if (!ir) {
                add(rep, name, DOCTOR_WARN, "out of memory");
                return;
        }
        io.kver = c->kver[0] ? c->kver : NULL;
        io.rootfs = c->root_fstype[0] && !streq(c->root_fstype, "rootfs") ? c->root_fstype : NULL;
        for (size_t i = 0; i < res->n_initramfs; i++) {
                _cleanup_free_ char *path = boot_file(c, res->initramfs[i]);
                int r;

                if (!is_regular(path)) {
                        snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
                                 "%s%s", missing[0] ? ", " : "", res->initramfs[i]);
                        continue;
                }
                r = initrd_check(path, &io, ir);
                if (r == -EINVAL) /* a root fs type initrd_check does not know: take its default */
                        io.rootfs = NULL, r = initrd_check(path, &io, ir);
                if (r == 0 && ir->ok) {
                        passed = res->initramfs[i];
                        continue;
                }
                if (r < 0)
                        snprintf(bad, sizeof(bad), "%s is unreadable: %s", res->initramfs[i],
                                 ir->error);
                else {
                        char items[200];

                        first_failures(ir, items, sizeof(items));
                        snprintf(bad, sizeof(bad), "%s lacks %s", res->initramfs[i], items);
                }
        }
        if (missing[0]) {
                ck = add(rep, name, DOCTOR_FAIL, "config.txt %s loads %s, which is not in %s",
                         where, missing, c->boot_sys);
                if (res->initramfs_from == BOOTCFG_INITRAMFS_AUTO)
                        fix(ck, "sudo update-initramfs -c -k %s (the kernel hook copies it to %s)",
                            kv, res->initramfs[0]);
                else
                        fix(ck,
                            "sudo update-initramfs -v -k %s -c, then 'netrootctl bootcfg "
                            "set-initramfs initrd.img-%s'",
                            kv, kv);
                return;
        }
        if (!passed) {
                ck = add(rep, name, DOCTOR_FAIL, "%s (running kernel %s)", bad,
                         c->kver[0] ? c->kver : "unknown");
                fix(ck,
                    "sudo update-initramfs -v -k %s -c (with open-iscsi installed), then "
                    "'netrootctl check-initrd' it and point config.txt at it",
                    kv);
                return;
        }
        add(rep, name, DOCTOR_OK,
            "config.txt %s loads %s: it has what an iSCSI root needs for "
            "kernel %s",
            where, passed, c->kver[0] ? c->kver : ir->kernel);
}

/* COMMAND_LINE_SIZE of the Pi kernels (arm, arm64), with its NUL. */
#define DOCTOR_KERNEL_CMDLINE_MAX 2048

/* ---- cmdline.txt ---- */

static bool cmdline_unreadable(struct doctor_ctx *c, struct doctor_report *rep, const char *name)
{
        struct doctor_check *ck;

        if (c->cmdline_r == 0 && c->cl_ok)
                return false;
        ck = add(rep, name, DOCTOR_FAIL, "cannot read %s/%s: %s", c->boot_sys, c->cmdline_name,
                 c->cmdline_r < 0 ? strerror(-c->cmdline_r) : "out of memory");
        fix(ck, "mount this Pi's TFTP folder on %s (see boot-mount)", c->boot_sys);
        return true;
}

/* A value the image builder was to fill in ($ISCSI_TARGET_IQN, @ROOT@): the initramfs gets the
 * placeholder itself. Adds a FAIL and returns true when one is found. */
static bool cmdline_template_left(struct doctor_ctx *c, struct doctor_report *rep, const char *name)
{
        for (size_t i = 0; i < c->cl.n; i++) {
                const struct cmdline_param *p = &c->cl.params[i];
                struct doctor_check *ck;
                const char *v = p->value;

                if (!v || (!cmdline_is_iscsi_key(p->key) && !streq(p->key, "root")))
                        continue;
                if (!strchr(v, '$') && !(v[0] == '@' && strchr(v + 1, '@')))
                        continue;
                /* The key is shown, never the value: it may be a password. */
                ck = add(rep, name, DOCTOR_FAIL,
                         "%s: %s= holds an unexpanded template variable ('$…' or '@…@'): the "
                         "initramfs would use it as it is",
                         c->cmdline_name, p->key);
                fix(ck,
                    "write the real value into %s (the script that generated it did not "
                    "substitute it)",
                    c->cmdline_name);
                return true;
        }
        return false;
}

/* What open-iscsi's local-top/iscsi does with the values: it exits without a login when the
 * target name or IP is empty (unless ISCSI_AUTO), and passes ISCSI_INITIATOR to iscsistart -i
 * as it is. Adds a FAIL and returns true when the initramfs would not log in. */
static bool cmdline_login_refused(struct doctor_ctx *c, struct doctor_report *rep, const char *name,
                                  const struct iscsi_boot *b, const char *conf)
{
        char autov[64] = "";
        struct doctor_check *ck;
        bool iscsi_auto =
            cmdline_get(&c->cl, "ISCSI_AUTO") || cmdline_get(&c->cl, "iscsi_auto") ||
            (conf && doctor_conf_value(conf, "ISCSI_AUTO", autov, sizeof(autov)) && autov[0]);

        if (!b->target_ip[0] && !iscsi_auto) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "%s names target %s but ISCSI_TARGET_IP is empty: open-iscsi's "
                         "initramfs script exits without logging in, and the root is not found",
                         c->cmdline_name, b->target_name);
                fix(ck, "set ISCSI_TARGET_IP=<the NAS's address> in %s", c->cmdline_name);
                return true;
        }
        if (strncmp(b->initiator, "InitiatorName=", 14) == 0) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "%s: ISCSI_INITIATOR=%s keeps the 'InitiatorName=' of "
                         "/etc/iscsi/initiatorname.iscsi: iscsistart logs in with that whole "
                         "string as its name, which the target refuses",
                         c->cmdline_name, b->initiator);
                fix(ck, "set ISCSI_INITIATOR=%s in %s", b->initiator + 14, c->cmdline_name);
                return true;
        }
        return false;
}

static void check_cmdline_iscsi(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "cmdline-iscsi";
        _cleanup_free_ char *conf = NULL;
        const struct session_snapshot *s = &c->snap;
        struct doctor_check *ck;
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX], diff[DOCTOR_TEXT_MAX] = "";
        unsigned port;
        int r;

        if (cmdline_unreadable(c, rep, name))
                return;
        if (c->cl.lines > 1) {
                ck = add(rep, name, DOCTOR_FAIL, "%s has %u lines: the kernel gets only the first",
                         c->cmdline_name, c->cl.lines);
                fix(ck, "join %s into one line", c->cmdline_name);
                return;
        }
        /* The kernel copies at most COMMAND_LINE_SIZE bytes (2048 on arm and arm64) and drops
         * the rest without a word: an ISCSI_ setting past it is as good as absent. */
        if (strcspn(c->cmdline_text, "\n") >= DOCTOR_KERNEL_CMDLINE_MAX) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "%s is %zu characters long: the kernel keeps only the first %d",
                         c->cmdline_name, strcspn(c->cmdline_text, "\n"),
                         DOCTOR_KERNEL_CMDLINE_MAX - 1);
                fix(ck, "shorten %s", c->cmdline_name);
                return;
        }
        (void)read_rooted(c->root, ISCSI_BOOT_INITRAMFS_PATH, SMALL_FILE_MAX, &conf);
        iscsi_boot_init(&b);
        r = iscsi_boot_parse(conf, ISCSI_BOOT_INITRAMFS_PATH, c->cmdline_text, &b, err,
                             sizeof(err));
        if (r < 0) {
                ck = add(rep, name, DOCTOR_FAIL, "%s", err);
                fix(ck, "correct the line named");
                return;
        }
        if (cmdline_template_left(c, rep, name)) {
                iscsi_boot_clear(&b);
                return;
        }
        if (r == 0 || !b.target_name[0]) {
                bool dracut = cmdline_get(&c->cl, "netroot") != NULL;

                iscsi_boot_clear(&b);
                ck = add(rep, name, DOCTOR_FAIL,
                         "%s names no ISCSI_TARGET_NAME: the initramfs will not log in to the root "
                         "disk%s",
                         c->cmdline_name,
                         dracut ? " (netroot=iscsi:… is dracut's syntax; initramfs-tools' "
                                  "open-iscsi script ignores it)"
                                : "");
                fix(ck,
                    "add ISCSI_INITIATOR=… ISCSI_TARGET_NAME=… ISCSI_TARGET_IP=… "
                    "ISCSI_TARGET_PORT=3260 to %s (one line)",
                    c->cmdline_name);
                return;
        }
        if (cmdline_login_refused(c, rep, name, &b, conf)) {
                iscsi_boot_clear(&b);
                return;
        }
        if (c->snap_r <= 0) {
                ck = add(rep, name, DOCTOR_WARN,
                         "%s names target %s, but no iSCSI session carries / now (root %s): "
                         "nothing to compare",
                         c->cmdline_name, b.target_name,
                         s->root_source[0] ? s->root_source : "unknown");
                iscsi_boot_clear(&b);
                fix(ck, "boot from the network and run the doctor again");
                return;
        }
        port = b.target_port ? b.target_port : 3260;
        if (!streq(b.target_name, s->targetname))
                appendf(diff, sizeof(diff), "target %s, session %s", b.target_name, s->targetname);
        if (b.initiator[0] && s->initiatorname[0] && !streq(b.initiator, s->initiatorname))
                appendf(diff, sizeof(diff), "initiator %s, session %s", b.initiator,
                        s->initiatorname);
        if (b.target_ip[0] && s->persistent_address[0] &&
            !streq(b.target_ip, s->persistent_address))
                appendf(diff, sizeof(diff), "target IP %s, session portal %s", b.target_ip,
                        s->persistent_address);
        if (s->persistent_port && port != s->persistent_port)
                appendf(diff, sizeof(diff), "port %u, session port %u", port, s->persistent_port);
        if (diff[0]) {
                struct in6_addr a;
                bool hostname = b.target_ip[0] && inet_pton(AF_INET, b.target_ip, &a) != 1 &&
                                inet_pton(AF_INET6, b.target_ip, &a) != 1;

                /* A host name cannot be compared with the address the session has. */
                ck = add(rep, name, DOCTOR_FAIL, "%s differs from the running root session%u: %s",
                         c->cmdline_name, s->sid, diff);
                if (hostname && streq(b.target_name, s->targetname) &&
                    (!b.initiator[0] || streq(b.initiator, s->initiatorname)) &&
                    (!s->persistent_port || port == s->persistent_port))
                        ck->result = DOCTOR_WARN;
                fix(ck,
                    "make ISCSI_* in %s name the target this Pi runs from (session%u: %s at "
                    "%s:%u)",
                    c->cmdline_name, s->sid, s->targetname, s->persistent_address,
                    s->persistent_port);
                iscsi_boot_clear(&b);
                return;
        }
        ck = add(rep, name, DOCTOR_OK, "%s logs in as the running session%u does: %s at %s:%u%s%s",
                 c->cmdline_name, s->sid, s->targetname, s->persistent_address, s->persistent_port,
                 b.initiator[0] ? " as " : "", b.initiator);
        if (cmdline_get(&c->cl, "netroot")) {
                ck->result = DOCTOR_WARN;
                snprintf(ck->detail + strlen(ck->detail), sizeof(ck->detail) - strlen(ck->detail),
                         "; its netroot= is dracut's syntax, which initramfs-tools ignores");
                fix(ck, "remove netroot=… from %s to avoid confusion", c->cmdline_name);
        }
        iscsi_boot_clear(&b);
}

static const char *dev_basename_of(const char *source)
{
        return strncmp(source, "/dev/", 5) == 0 ? base_of(source) : "";
}

static void check_cmdline_root(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "cmdline-root";
        const struct session_snapshot *s = &c->snap;
        const char *root_arg, *by = NULL, *key = NULL, *rootdev;
        _cleanup_free_ char *shown = NULL, *link = NULL;
        char target[PATH_MAX];
        struct doctor_check *ck;
        ssize_t n;

        if (cmdline_unreadable(c, rep, name))
                return;
        root_arg = cmdline_get(&c->cl, "root");
        if (!root_arg) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "%s has no root=: the kernel does not know the "
                         "root file system",
                         c->cmdline_name);
                fix(ck, "add root=UUID=<UUID of the iSCSI root fs> (sudo blkid) to %s",
                    c->cmdline_name);
                return;
        }
        shown = cmdline_masked_value("root", root_arg);
        if (!shown) {
                add(rep, name, DOCTOR_WARN, "out of memory");
                return;
        }
        if (strncmp(root_arg, "iscsi:", 6) == 0) {
                struct iscsi_boot b;
                char err[ISCSI_BOOT_ERROR_MAX];

                /* Read as open-iscsi's initramfs reads it (credentials end at the first '@'). */
                iscsi_boot_init(&b);
                if (iscsi_boot_parse(NULL, NULL, c->cmdline_text, &b, err, sizeof(err)) < 0) {
                        ck = add(rep, name, DOCTOR_FAIL, "root=%s: %s", shown, err);
                        fix(ck, "correct root= in %s", c->cmdline_name);
                        return;
                }
                iscsi_boot_clear(&b);
                add(rep, name, DOCTOR_OK,
                    "root=%s: the initramfs logs in and finds the disk itself", shown);
                return;
        }
        rootdev = s->root_dev[0] ? s->root_dev : dev_basename_of(s->root_source);
        if (c->snap_r < 0 || !rootdev[0]) {
                ck =
                    add(rep, name, DOCTOR_WARN,
                        "root=%s: cannot verify, the device of / is unknown (no mountinfo)", shown);
                fix(ck, "compare with 'findmnt /' and 'blkid' on the Pi");
                return;
        }
        if (strncmp(root_arg, "UUID=", 5) == 0)
                by = "/dev/disk/by-uuid/", key = root_arg + 5;
        else if (strncmp(root_arg, "PARTUUID=", 9) == 0)
                by = "/dev/disk/by-partuuid/", key = root_arg + 9;
        else if (strncmp(root_arg, "LABEL=", 6) == 0)
                by = "/dev/disk/by-label/", key = root_arg + 6;
        if (by) {
                if (!*key || strchr(key, '/')) {
                        ck = add(rep, name, DOCTOR_FAIL, "root=%s is malformed", shown);
                        fix(ck, "set root=UUID=<UUID of the iSCSI root fs> (sudo blkid)");
                        return;
                }
                link = root_pathf(c->root, "%s%s", by, key);
                n = link ? readlink(link, target, sizeof(target) - 1) : -1;
                if (n < 0) {
                        ck = add(rep, name, DOCTOR_WARN,
                                 "root=%s: cannot verify, no %s%s (/ is on %s)", shown, by, key,
                                 rootdev);
                        fix(ck, "check that 'sudo blkid /dev/%s' shows %s", rootdev, root_arg);
                        return;
                }
                target[n] = '\0';
        } else
                snprintf(target, sizeof(target), "%s", root_arg);
        if (!streq(base_of(target), rootdev)) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "root=%s is %s, but / is mounted from %s: the next boot mounts another "
                         "file system",
                         shown, base_of(target), rootdev);
                fix(ck, "set root=UUID=<UUID from 'sudo blkid /dev/%s'> in %s", rootdev,
                    c->cmdline_name);
                return;
        }
        add(rep, name, DOCTOR_OK, "root=%s is %s, the device / is mounted from", shown, rootdev);
}

/* ---- fstab ---- */

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

        while (c->fstab && next_line(c->fstab, &pos, line, sizeof(line))) {
                l.no++;
                l.n = split_words(line, l.w, ARRAY_SIZE(l.w), NULL);
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
            (l->n >= 3 && (is_nfs(l->w[2]) || streq(l->w[2], "swap"))))
                return true;
        if (strncmp(spec, "UUID=", 5) == 0)
                by = "/dev/disk/by-uuid/", key = spec + 5;
        else if (strncmp(spec, "PARTUUID=", 9) == 0)
                by = "/dev/disk/by-partuuid/", key = spec + 9;
        else if (strncmp(spec, "LABEL=", 6) == 0)
                by = "/dev/disk/by-label/", key = spec + 6;
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

static void check_fstab_sd(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "fstab-sd-card";
        struct sd_scan s = {.c = c};
        struct doctor_check *ck;

        if (c->fstab_r < 0) {
                ck = add(rep, name, DOCTOR_WARN, "cannot read /etc/fstab: %s",
                         strerror(-c->fstab_r));
                fix(ck, "restore /etc/fstab (at least the %s NFS line)", c->boot_sys);
                return;
        }
        s.can_resolve = rooted_exists(c->root, "/dev/disk");
        fstab_each(c, sd_entry, &s);
        if (s.sd_line) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "/etc/fstab line %u mounts the SD card (%s): without the card the boot "
                         "waits for it and drops to emergency mode",
                         s.sd_line, s.sd);
                fix(ck, "remove every /dev/mmcblk0p* line from /etc/fstab");
                return;
        }
        if (s.missing_line) {
                ck = add(rep, name, DOCTOR_WARN,
                         "/etc/fstab line %u (%s) names a device this Pi does not have (left from "
                         "the SD card?)",
                         s.missing_line, s.missing);
                fix(ck, "remove the line, or add nofail to its options");
                return;
        }
        add(rep, name, DOCTOR_OK, "/etc/fstab has no SD card entries%s",
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

static void check_fstab_root(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "fstab-root";
        const char *root_arg = c->cl_ok ? cmdline_get(&c->cl, "root") : NULL;
        const char *fstype = c->root_fstype[0] ? c->root_fstype : "ext4";
        struct root_scan s = {0};
        struct doctor_check *ck;

        if (c->fstab_r < 0) {
                add(rep, name, DOCTOR_SKIP, "no /etc/fstab to read (see fstab-sd-card)");
                return;
        }
        fstab_each(c, root_entry, &s);
        if (!s.line) {
                ck = add(rep, name, DOCTOR_WARN,
                         "/etc/fstab has no / line: not mandatory, but update-initramfs reads it "
                         "to add fsck.%s",
                         fstype);
                fix(ck, "add '%s / %s defaults 1 1' at the top of /etc/fstab",
                    root_arg && strncmp(root_arg, "UUID=", 5) == 0 ? root_arg
                                                                   : "UUID=<root fs UUID>",
                    fstype);
                return;
        }
        if (strncmp(s.spec, "/dev/mmcblk", 11) == 0) {
                ck = add(rep, name, DOCTOR_FAIL, "/etc/fstab line %u puts / on the SD card (%s)",
                         s.line, s.spec);
                fix(ck, "replace it with '%s / %s defaults 1 1'",
                    root_arg && strncmp(root_arg, "UUID=", 5) == 0 ? root_arg
                                                                   : "UUID=<root fs UUID>",
                    fstype);
                return;
        }
        if (root_arg && strncmp(root_arg, "UUID=", 5) == 0 && strncmp(s.spec, "UUID=", 5) == 0 &&
            strcasecmp(root_arg, s.spec) != 0) {
                ck = add(rep, name, DOCTOR_WARN, "/etc/fstab line %u says / is %s, %s says root=%s",
                         s.line, s.spec, c->cmdline_name, root_arg);
                fix(ck, "make both name the iSCSI root file system (sudo blkid)");
                return;
        }
        add(rep, name, DOCTOR_OK, "/etc/fstab line %u: / is %s (%s)", s.line, s.spec,
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

static void check_fstab_boot(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "fstab-boot";
        struct boot_scan s = {.dir = c->boot_sys};
        struct doctor_check *ck;
        const char *path;

        if (c->fstab_r < 0) {
                add(rep, name, DOCTOR_SKIP, "no /etc/fstab to read (see fstab-sd-card)");
                return;
        }
        fstab_each(c, boot_entry, &s);
        if (!s.line) {
                ck = add(rep, name, DOCTOR_WARN,
                         "/etc/fstab has no %s line: the TFTP folder is not mounted after a "
                         "reboot",
                         c->boot_sys);
                fix(ck, "add '<NAS-IP>:/tftpboot/%s %s nfs nfsvers=3,nolock 0 0' to /etc/fstab",
                    serial_or_placeholder(c), c->boot_sys);
                return;
        }
        path = nfs_export_path(s.spec);
        if (!is_nfs(s.type) || !path ||
            (c->v->serial_r == 0 && !path_ends_in(path, c->v->serial))) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "/etc/fstab line %u mounts %s (%s) on %s, not this Pi's TFTP folder %s "
                         "over NFS",
                         s.line, s.spec, s.type, c->boot_sys, serial_or_placeholder(c));
                fix(ck, "make it '<NAS-IP>:/tftpboot/%s %s nfs nfsvers=3,nolock 0 0'",
                    serial_or_placeholder(c), c->boot_sys);
                return;
        }
        add(rep, name, DOCTOR_OK, "/etc/fstab line %u mounts %s (%s) on %s", s.line, s.spec, s.type,
            c->boot_sys);
}

/* ---- the DHCP client ---- */

void doctor_ip_iface(const char *ip_value, char *iface, size_t size)
{
        const char *p = ip_value;

        snprintf(iface, size, "eth0");
        if (!p || !strchr(p, ':'))
                return;
        for (int field = 0; field < 5; field++) {
                p = strchr(p, ':');
                if (!p)
                        return;
                p++;
        }
        if (*p && *p != ':') {
                size_t n = strcspn(p, ":");

                snprintf(iface, size, "%.*s", (int)n, p);
        }
}

static bool pattern_list_matches(char **w, size_t n, const char *iface)
{
        for (size_t i = 1; i < n; i++)
                if (fnmatch(w[i], iface, 0) == 0)
                        return true;
        return false;
}

bool doctor_dhcpcd_denies(const char *text, const char *iface)
{
        char line[1024], *w[64];
        size_t pos = 0, n;
        bool allow_seen = false, allowed = false;

        while (text && next_line(text, &pos, line, sizeof(line))) {
                n = split_words(line, w, ARRAY_SIZE(w), ",");
                if (n < 2)
                        continue;
                if (streq(w[0], "denyinterfaces") && pattern_list_matches(w, n, iface))
                        return true;
                if (streq(w[0], "allowinterfaces")) {
                        allow_seen = true;
                        allowed = allowed || pattern_list_matches(w, n, iface);
                }
        }
        return allow_seen && !allowed;
}

unsigned doctor_ifupdown_dhcp_line(const char *text, const char *iface)
{
        char line[1024], *w[8];
        size_t pos = 0, n;
        unsigned no = 0;

        while (text && next_line(text, &pos, line, sizeof(line))) {
                no++;
                n = split_words(line, w, ARRAY_SIZE(w), NULL);
                if (n >= 4 && streq(w[0], "iface") && streq(w[1], iface) && streq(w[2], "inet") &&
                    streq(w[3], "dhcp"))
                        return no;
        }
        return 0;
}

static void iscsi_iface(const struct doctor_ctx *c, char *iface, size_t size, bool *from_ip)
{
        const char *ip = c->pcl_ok ? cmdline_get(&c->pcl, "ip") : NULL;

        *from_ip = ip != NULL;
        doctor_ip_iface(ip, iface, size);
}

static void check_dhcpcd(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "dhcpcd";
        _cleanup_free_ char *conf = NULL;
        struct doctor_check *ck;
        char iface[64];
        bool from_ip;
        int r;

        iscsi_iface(c, iface, sizeof(iface), &from_ip);
        r = read_rooted(c->root, "/etc/dhcpcd.conf", SMALL_FILE_MAX, &conf);
        if (r == -ENOENT) {
                add(rep, name, DOCTOR_SKIP, "no /etc/dhcpcd.conf: dhcpcd does not configure %s",
                    iface);
                return;
        }
        if (r < 0) {
                ck = add(rep, name, DOCTOR_WARN, "cannot read /etc/dhcpcd.conf: %s", strerror(-r));
                fix(ck, "make /etc/dhcpcd.conf readable and re-run");
                return;
        }
        if (!doctor_dhcpcd_denies(conf, iface)) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "/etc/dhcpcd.conf lets dhcpcd configure %s, which the kernel's ip= "
                         "already configured%s: two addresses, and a lease change can cut the root",
                         iface, from_ip ? "" : " (no ip= on the command line: assumed eth0)");
                fix(ck,
                    "add 'denyinterfaces %s' to /etc/dhcpcd.conf (then set DNS in "
                    "/etc/resolvconf.conf)",
                    iface);
                return;
        }
        add(rep, name, DOCTOR_OK, "/etc/dhcpcd.conf keeps dhcpcd away from %s", iface);
}

static void check_ifupdown(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "ifupdown";
        _cleanup_free_ char *dpath = root_path(c->root, "/etc/network/interfaces.d");
        _cleanup_free_ char *text = NULL;
        struct doctor_check *ck;
        char iface[64], file[300] = "";
        unsigned line = 0;
        bool from_ip;
        DIR *d;

        iscsi_iface(c, iface, sizeof(iface), &from_ip);
        if (read_rooted(c->root, "/etc/network/interfaces", SMALL_FILE_MAX, &text) == 0 &&
            (line = doctor_ifupdown_dhcp_line(text, iface)))
                snprintf(file, sizeof(file), "/etc/network/interfaces");
        d = !line && dpath ? opendir(dpath) : NULL;
        for (struct dirent *de; d && !line && (de = readdir(d));) {
                _cleanup_free_ char *p = NULL, *t = NULL;

                if (de->d_name[0] == '.' || asprintf(&p, "%s/%s", dpath, de->d_name) < 0)
                        continue;
                if (file_read_all(p, SMALL_FILE_MAX, &t, NULL) == 0 &&
                    (line = doctor_ifupdown_dhcp_line(t, iface)))
                        snprintf(file, sizeof(file), "/etc/network/interfaces.d/%s", de->d_name);
        }
        if (d)
                closedir(d);
        if (line) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "%s line %u: 'iface %s inet dhcp' makes ifupdown run DHCP again on the "
                         "root's link",
                         file, line, iface);
                fix(ck, "change it to 'iface %s inet manual' (the initramfs configured %s)", iface,
                    iface);
                return;
        }
        add(rep, name, DOCTOR_OK, "no ifupdown DHCP stanza for %s", iface);
}

/* ---- iscsid and the recovery timeout ---- */

static bool unit_file_present(const struct doctor_ctx *c, const char *unit)
{
        static const char *const dirs[] = {"/lib/systemd/system", "/usr/lib/systemd/system",
                                           "/etc/systemd/system"};

        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                _cleanup_free_ char *p = root_pathf(c->root, "%s/%s", dirs[i], unit);

                if (is_regular(p))
                        return true;
        }
        return false;
}

static void check_iscsid(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "iscsid";
        int running = session_iscsid_running(c->root);
        bool socket = unit_file_present(c, "iscsid.socket");
        bool service = unit_file_present(c, "iscsid.service");
        bool enabled =
            rooted_exists(c->root, "/etc/systemd/system/sockets.target.wants/iscsid.socket") ||
            rooted_exists(c->root, "/etc/systemd/system/multi-user.target.wants/iscsid.service");
        struct doctor_check *ck;

        if (running == 1) {
                add(rep, name, DOCTOR_OK, "iscsid is running: it recovers a dropped root session");
                return;
        }
        if (!socket && !service) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "iscsid is not installed: a dropped connection is never recovered, the "
                         "root goes offline after recovery_tmo");
                fix(ck, "sudo apt-get install open-iscsi && sudo systemctl enable --now "
                        "iscsid.socket");
                return;
        }
        if (!enabled) {
                ck = add(rep, name, DOCTOR_FAIL,
                         "iscsid is not running and %s is not enabled: nothing recovers a dropped "
                         "root session",
                         socket ? "iscsid.socket" : "iscsid.service");
                fix(ck, "sudo systemctl enable --now %s",
                    socket ? "iscsid.socket iscsid.service" : "iscsid.service");
                return;
        }
        ck = add(rep, name, DOCTOR_WARN,
                 "iscsid is enabled but not running now: until it runs and adopts the session, "
                 "a dropped connection is not recovered");
        fix(ck, "sudo systemctl start iscsid");
}

int doctor_conf_value(const char *text, const char *name, char *value, size_t size)
{
        char line[1024];
        size_t pos = 0, nl = strlen(name);
        int found = 0;

        while (text && next_line(text, &pos, line, sizeof(line))) {
                char *p = line, *v, *end;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (strncmp(p, "export ", 7) == 0)
                        p += 7;
                if (strncmp(p, name, nl) != 0)
                        continue;
                p += nl;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p != '=')
                        continue;
                v = p + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                if (*v == '"' || *v == '\'') {
                        end = strchr(v + 1, *v);
                        v++;
                        if (end)
                                *end = '\0';
                } else {
                        end = strchr(v, '#');
                        if (end)
                                *end = '\0';
                        str_strip_trailing(v);
                }
                snprintf(value, size, "%s", v);
                found = 1;
        }
        return found;
}

static enum doctor_result judge_tmo(long tmo)
{
        return tmo < TMO_FAIL_BELOW ? DOCTOR_FAIL : tmo < TMO_WARN_BELOW ? DOCTOR_WARN : DOCTOR_OK;
}

static void check_recovery_tmo(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "recovery-timeout";
        _cleanup_free_ char *conf = NULL;
        enum doctor_result worst = DOCTOR_OK, r;
        struct doctor_check *ck;
        char v[64], live[128] = "", file[160] = "";
        unsigned long conf_tmo = 0;
        bool have_live = c->snap_r > 0 && c->snap.recovery_tmo >= 0, have_conf = false;

        if (read_rooted(c->root, "/etc/iscsi/iscsid.conf", SMALL_FILE_MAX, &conf) == 0 &&
            doctor_conf_value(conf, "node.session.timeo.replacement_timeout", v, sizeof(v)) &&
            parse_uint(v, &conf_tmo) == 0)
                have_conf = true;
        if (have_live) {
                snprintf(live, sizeof(live), "session%u recovery_tmo %d s", c->snap.sid,
                         c->snap.recovery_tmo);
                worst = judge_tmo(c->snap.recovery_tmo);
        }
        if (have_conf) {
                snprintf(file, sizeof(file), "iscsid.conf replacement_timeout %lu s", conf_tmo);
                r = judge_tmo(conf_tmo > 86400UL * 365 ? 86400L * 365 : (long)conf_tmo);
                worst = r > worst ? r : worst;
        }
        if (!have_live && !have_conf) {
                ck = add(rep, name, DOCTOR_WARN,
                         "cannot tell: no root session and no "
                         "node.session.timeo.replacement_timeout in /etc/iscsi/iscsid.conf");
                fix(ck, "set node.session.timeo.replacement_timeout = 86400 in "
                        "/etc/iscsi/iscsid.conf");
                return;
        }
        ck = add(rep, name, worst, "%s%s%s%s", live, live[0] && file[0] ? ", " : "", file,
                 worst == DOCTOR_FAIL   ? ": a short NAS outage takes the root offline"
                 : worst == DOCTOR_WARN ? ": a NAS reboot can outlast it (open-iscsi advises 86400)"
                                        : "");
        if (worst != DOCTOR_OK && !have_live)
                fix(ck, "set node.session.timeo.replacement_timeout = 86400 in "
                        "/etc/iscsi/iscsid.conf");
        else if (worst != DOCTOR_OK)
                fix(ck,
                    "set node.session.timeo.replacement_timeout = 86400 in "
                    "/etc/iscsi/iscsid.conf; for now: echo 86400 > "
                    "/sys/class/iscsi_session/session%u/recovery_tmo",
                    c->snap.sid);
}

/* ---- kernel packaging ---- */

static bool raspberrypi_kernel_installed(const struct doctor_ctx *c)
{
        return rooted_exists(c->root, "/var/lib/dpkg/info/raspberrypi-kernel.list");
}

static void check_initrd_setting(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "initrd-setting";
        _cleanup_free_ char *text = NULL;
        struct doctor_check *ck;
        char v[64] = "";

        if (!raspberrypi_kernel_installed(c)) {
                add(rep, name, DOCTOR_SKIP,
                    "not applicable: Raspbian's raspberrypi-kernel is not installed");
                return;
        }
        if (read_rooted(c->root, "/etc/default/raspberrypi-kernel", SMALL_FILE_MAX, &text) == 0 &&
            doctor_conf_value(text, "INITRD", v, sizeof(v)) && strcasecmp(v, "yes") == 0) {
                add(rep, name, DOCTOR_OK,
                    "/etc/default/raspberrypi-kernel has INITRD=Yes: kernel updates rebuild the "
                    "initramfs");
                return;
        }
        ck = add(rep, name, DOCTOR_FAIL,
                 "/etc/default/raspberrypi-kernel %s%s: kernel updates build no initramfs, the Pi "
                 "keeps a stale one",
                 v[0] ? "has INITRD=" : "does not set INITRD=Yes", v);
        fix(ck, "echo INITRD=Yes | sudo tee -a /etc/default/raspberrypi-kernel");
}

static void check_kernel_config(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "kernel-config";
        _cleanup_free_ char *p = NULL;
        struct doctor_check *ck;
        char ver[64], *colon;

        if (!c->kver[0]) {
                add(rep, name, DOCTOR_SKIP,
                    "the running kernel is unknown (no "
                    "/proc/sys/kernel/osrelease)");
                return;
        }
        p = root_pathf(c->root, "/boot/config-%s", c->kver);
        if (is_regular(p)) {
                add(rep, name, DOCTOR_OK,
                    "/boot/config-%s is there: mkinitramfs can choose its "
                    "compression",
                    c->kver);
                return;
        }
        (void)dpkg_installed(c->root, "initramfs-tools", ver, sizeof(ver));
        colon = strchr(ver, ':'); /* an epoch does not matter here */
        if (ver[0] && strverscmp(colon ? colon + 1 : ver, INITRAMFS_TOOLS_NEEDS_CONFIG) < 0) {
                add(rep, name, DOCTOR_OK,
                    "no /boot/config-%s, which initramfs-tools %s does not need", c->kver, ver);
                return;
        }
        ck = add(rep, name, ver[0] ? DOCTOR_FAIL : DOCTOR_WARN,
                 "no /boot/config-%s: mkinitramfs%s%s%s fails with 'CONFIG_RD_GZIP not supported "
                 "by kernel'",
                 c->kver, ver[0] ? " (initramfs-tools " : " of initramfs-tools 0.141+",
                 ver[0] ? ver : "", ver[0] ? ")" : "");
        fix(ck, "sudo sh -c 'zcat /proc/config.gz > /boot/config-$(uname -r)' (modprobe configs "
                "if /proc/config.gz is missing)");
}

static void check_raspi_firmware(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "raspi-firmware";
        struct doctor_check *ck;
        struct flavour f;
        char why[256];
        const char *evidence = NULL;

        if (c->v->eval_r == 0 && flavour_detect(c->root, &c->v->res, &f, why, sizeof(why)) == 0) {
                if (c->v->res.initramfs_from == BOOTCFG_INITRAMFS_AUTO) {
                        add(rep, name, DOCTOR_OK,
                            "Raspberry Pi OS packaging (auto_initramfs): config.txt is not "
                            "regenerated on kernel installs");
                        return;
                }
                if (f.raspi_firmware_evidence[0])
                        evidence = f.raspi_firmware_evidence;
        } else if (rooted_exists(c->root, "/etc/kernel/postinst.d/z50-raspi-firmware"))
                evidence = "/etc/kernel/postinst.d/z50-raspi-firmware";
        else if (rooted_exists(c->root, "/etc/default/raspi-firmware"))
                evidence = "/etc/default/raspi-firmware";
        if (!evidence) {
                add(rep, name, DOCTOR_OK,
                    "no Debian raspi-firmware hook: config.txt and "
                    "cmdline.txt are left as written");
                return;
        }
        ck = add(rep, name, DOCTOR_WARN,
                 "Debian's raspi-firmware is installed (%s): it rewrites config.txt and "
                 "cmdline.txt on every kernel install",
                 evidence);
        fix(ck, "keep ISCSI_* and root= in /etc/default/raspi-extra-cmdline and ROOTPART in "
                "/etc/default/raspi-firmware, or remove raspi-firmware");
}

/* ---- LED and IPv6 (netrootd's status.json, else sysfs/procfs) ---- */

static bool is_mmc_trigger(const char *t)
{
        return strncmp(t, "mmc", 3) == 0;
}

static void check_led(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "led";
        const struct json_value *led = c->status ? json_get(c->status, "led") : NULL;
        char trigger[LED_NAME_MAX] = "", dev[LED_NAME_MAX] = "";
        struct doctor_check *ck;
        bool managed = false;

        if (led) {
                if (!json_get_bool(led, "present", false)) {
                        add(rep, name, DOCTOR_SKIP,
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
                        add(rep, name, DOCTOR_SKIP, "no activity LED (ACT or led0) on this Pi");
                        return;
                }
        }
        if (managed) {
                add(rep, name, DOCTOR_OK, "netrootd shows the root's health on %s (trigger %s)",
                    dev, trigger[0] ? trigger : "?");
                return;
        }
        if (is_mmc_trigger(trigger)) {
                ck = add(rep, name, DOCTOR_WARN,
                         "%s still follows SD card activity (trigger %s), but there is no SD card",
                         dev, trigger);
                fix(ck, "add dtparam=act_led_trigger=none (or heartbeat) to config.txt, or "
                        "enable [led] in agent.conf");
                return;
        }
        add(rep, name, DOCTOR_OK, "%s trigger is %s", dev, trigger[0] ? trigger : "unknown");
}

static void check_ipv6(struct doctor_ctx *c, struct doctor_report *rep)
{
        const char *name = "ipv6";
        const struct json_value *v6 = c->status ? json_get(c->status, "ipv6") : NULL;
        enum ipv6_mode mode = c->cfg->ipv6.mode;
        _cleanup_free_ char *p = NULL;
        struct doctor_check *ck;
        char val[16];

        if (v6) {
                const char *m = json_get_string(v6, "mode", ipv6_mode_to_string(mode));
                const char *err = json_get_string(v6, "error", "");

                if (!json_get_bool(v6, "available", true)) {
                        add(rep, name, DOCTOR_OK, "no IPv6 in this kernel (netrootd status)");
                        return;
                }
                if (streq(m, "keep")) {
                        add(rep, name, DOCTOR_OK,
                            "mode keep: netrootd leaves IPv6 as the system "
                            "sets it");
                        return;
                }
                if (json_get_bool(v6, "applied", false)) {
                        add(rep, name, DOCTOR_OK, "mode %s applied by netrootd", m);
                        return;
                }
                ck = add(rep, name, DOCTOR_WARN, "mode %s not applied%s%s", m, err[0] ? ": " : "",
                         err);
                fix(ck, "journalctl -u netrootd; check [ipv6] in agent.conf");
                return;
        }
        p = root_path(c->root, "/proc/sys/net/ipv6/conf/all/disable_ipv6");
        if (!p || file_read_value(p, val, sizeof(val)) < 0) {
                add(rep, name, DOCTOR_OK,
                    "no IPv6 in this kernel (no "
                    "/proc/sys/net/ipv6/conf/all/disable_ipv6)");
                return;
        }
        if (mode == IPV6_MODE_KEEP) {
                add(rep, name, DOCTOR_OK, "mode keep: IPv6 is %s",
                    streq(val, "1") ? "disabled" : "enabled");
                return;
        }
        if (streq(val, mode == IPV6_MODE_DISABLE ? "1" : "0")) {
                add(rep, name, DOCTOR_OK,
                    "IPv6 is %s as agent.conf asks (netrootd status not "
                    "found)",
                    mode == IPV6_MODE_DISABLE ? "disabled" : "enabled");
                return;
        }
        ck = add(rep, name, DOCTOR_WARN,
                 "agent.conf asks for IPv6 %s but it is %s (netrootd is "
                 "not running?)",
                 ipv6_mode_to_string(mode), streq(val, "1") ? "disabled" : "enabled");
        fix(ck, "sudo systemctl start netrootd (or sysctl -w net.ipv6.conf.all.disable_ipv6=%s)",
            mode == IPV6_MODE_DISABLE ? "1" : "0");
}

/* ---- running ---- */

const char *doctor_result_to_string(enum doctor_result r)
{
        switch (r) {
        case DOCTOR_OK:
                return "ok";
        case DOCTOR_WARN:
                return "warn";
        case DOCTOR_FAIL:
                return "fail";
        default:
                return "skip";
        }
}

bool doctor_report_ok(const struct doctor_report *rep)
{
        for (size_t i = 0; i < rep->n; i++)
                if (rep->checks[i].result == DOCTOR_FAIL)
                        return false;
        return true;
}

int doctor_run(const struct doctor_options *opt, struct doctor_report *rep)
{
        static void (*const checks[])(struct doctor_ctx *, struct doctor_report *) = {
            check_otp,           check_boot_mount,     check_serial_folder, check_config_initramfs,
            check_cmdline_iscsi, check_cmdline_root,   check_fstab_sd,      check_fstab_root,
            check_fstab_boot,    check_dhcpcd,         check_ifupdown,      check_iscsid,
            check_recovery_tmo,  check_initrd_setting, check_kernel_config, check_raspi_firmware,
            check_led,           check_ipv6,
        };
        struct doctor_ctx *c = calloc(1, sizeof(*c));
        int r;

        memset(rep, 0, sizeof(*rep));
        if (!c)
                return -ENOMEM;
        r = ctx_load(c, opt);
        if (r == 0)
                for (size_t i = 0; i < ARRAY_SIZE(checks); i++)
                        checks[i](c, rep);
        doctor_packaging_checks(opt, rep); /* doctor_packaging.c */
        ctx_free(c);
        free(c);
        return r;
}
