#include "doctor_packaging.h"

#include "boot_view.h"
#include "bootcheck.h"
#include "cmdline_repair.h"
#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <stdarg.h>
#include <sys/stat.h>

#define RASPI_FIRMWARE_HOOK   "/etc/kernel/postinst.d/z50-raspi-firmware"
#define RASPI_FIRMWARE_FOLDER "/boot/firmware"

static bool raspi_firmware_installed(const char *root)
{
        _cleanup_free_ char *p = root_path(root, RASPI_FIRMWARE_HOOK);
        struct stat st;

        return p && stat(p, &st) == 0;
}

static _printf_(4, 5) struct doctor_check *add(struct doctor_report *rep, const char *name,
                                               enum doctor_result result, const char *fmt, ...)
{
        struct doctor_check *ck;
        va_list ap;

        if (rep->n >= DOCTOR_CHECKS_MAX)
                return NULL;
        ck = &rep->checks[rep->n++];
        memset(ck, 0, sizeof(*ck));
        snprintf(ck->name, sizeof(ck->name), "%s", name);
        ck->result = result;
        va_start(ap, fmt);
        vsnprintf(ck->detail, sizeof(ck->detail), fmt, ap);
        va_end(ap);
        return ck;
}

static void fix(struct doctor_check *ck, const char *text)
{
        if (ck)
                snprintf(ck->fix, sizeof(ck->fix), "%s", text);
}

static void check_folder(const struct doctor_options *opt, const struct boot_view *v,
                         struct doctor_report *rep)
{
        const char *name = "raspi-fw-folder";
        struct doctor_check *ck;

        (void)opt;
        if (!v->boot_sys[0]) {
                add(rep, name, DOCTOR_WARN, "raspi-firmware installed; the boot folder is unknown");
                return;
        }
        if (streq(v->boot_sys, RASPI_FIRMWARE_FOLDER)) {
                add(rep, name, DOCTOR_OK,
                    "raspi-firmware installed and the boot folder is " RASPI_FIRMWARE_FOLDER);
                return;
        }
        ck = add(rep, name, DOCTOR_FAIL,
                 "raspi-firmware installed but the boot folder is not " RASPI_FIRMWARE_FOLDER
                 " (it is %s): its kernel hook exits 1 (\"missing /boot/firmware\"), so every "
                 "kernel install fails and the kernel stays unconfigured",
                 v->boot_sys);
        fix(ck, "mount the Pi's TFTP folder at /boot/firmware (fstab) and set boot_dir = "
                "/boot/firmware in agent.conf, or remove raspi-firmware");
}

static void check_cmdline(const struct doctor_options *opt, struct doctor_report *rep)
{
        const char *name = "raspi-fw-cmdline";
        _cleanup_free_ char *would = cmdline_raspi_firmware_would_write(opt->root);
        struct doctor_check *ck;
        char why[1024];
        int r;

        if (!would) {
                add(rep, name, DOCTOR_WARN, "out of memory");
                return;
        }
        r = boot_check_cmdline(opt->root, would, "the cmdline.txt raspi-firmware's hook writes",
                               why, sizeof(why));
        if (r == 1) {
                add(rep, name, DOCTOR_OK,
                    "%s and ROOTPART keep the iSCSI root through raspi-firmware's hook: %s",
                    RASPI_EXTRA_CMDLINE, why);
                return;
        }
        ck = add(rep, name, DOCTOR_FAIL,
                 "%s: every kernel install and initramfs rebuild drops the iSCSI login (the "
                 "agent repairs it from a generation, this makes it last)",
                 why);
        fix(ck, "netrootctl doctor --fix (writes the live cmdline.txt's ISCSI_* and ip= into "
                "/etc/default/raspi-extra-cmdline and its root= as ROOTPART into "
                "/etc/default/raspi-firmware)");
}

void doctor_packaging_checks(const struct doctor_options *opt, struct doctor_report *rep)
{
        struct boot_view_options bo = {.root = opt->root, .cfg = opt->cfg};
        struct boot_view *v;

        if (!raspi_firmware_installed(opt->root))
                return;
        v = boot_view_new();
        if (!v) {
                add(rep, "raspi-fw-folder", DOCTOR_WARN, "out of memory");
                return;
        }
        (void)boot_view_load(v, &bo);
        check_folder(opt, v, rep);
        check_cmdline(opt, rep);
        boot_view_free(v);
        free(v);
}

int doctor_packaging_fix(const char *root, const struct netroot_config *cfg, char *what,
                         size_t size)
{
        struct boot_view_options bo = {.root = root, .cfg = cfg};
        _cleanup_free_ char *path = NULL, *text = NULL;
        struct boot_view *v;
        char why[1024];
        int r;

        if (!raspi_firmware_installed(root)) {
                snprintf(what, size, "Debian's raspi-firmware is not installed: nothing to fix");
                return 0;
        }
        v = boot_view_new();
        if (!v)
                return -ENOMEM;
        r = boot_view_load(v, &bo);
        if (r < 0 && !(r == -EINVAL && v->eval_r == 0)) {
                snprintf(what, size, "%s", v->error[0] ? v->error : strerror(-r));
                goto out;
        }
        path = boot_view_path(v, v->res.cmdline);
        r = path ? file_read_regular(path, 64 * 1024, &text, NULL) : -ENOMEM;
        if (r < 0) {
                snprintf(what, size, "%s: %s", path ? path : "cmdline", file_strerror(r));
                goto out;
        }
        /* Only a cmdline that logs into this root is worth making permanent. */
        r = boot_check_cmdline(root, text, v->res.cmdline, why, sizeof(why));
        if (r != 1) {
                snprintf(what, size,
                         "%s does not log into the running root (%s): fix it first "
                         "(netrootctl hook check)",
                         v->res.cmdline, why);
                r = r < 0 ? r : -EINVAL;
                goto out;
        }
        r = cmdline_lasting_fix_write(root, text, what, size);
        if (r == 0)
                r = 1;
out:
        boot_view_free(v);
        free(v);
        return r;
}
