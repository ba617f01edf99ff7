#include "doctor_packaging.h"

#include "doctor_check.h"

#include "boot_view.h"
#include "bootcheck.h"
#include "cmdline_repair.h"
#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <sys/stat.h>

#define RASPI_FIRMWARE_HOOK   "/etc/kernel/postinst.d/z50-raspi-firmware"
#define RASPI_FIRMWARE_FOLDER "/boot/firmware"

static bool raspi_firmware_installed(const char *root)
{
        return doctor_rooted_exists(root, RASPI_FIRMWARE_HOOK);
}

/* Raspberry Pi OS ships a raspi-firmware of its own under the same hook name; it copies the
 * kernel and initramfs into /boot/firmware and leaves config.txt (auto_initramfs) and
 * cmdline.txt alone, so these rows are about Debian's package only. */
static bool applies(const struct doctor_ctx *c, struct doctor_check *ck)
{
        if (!raspi_firmware_installed(c->root)) {
                doctor_say(ck, DOCTOR_SKIP, "raspi-firmware is not installed");
                return false;
        }
        if (c->v->eval_r == 0 && c->v->res.initramfs_from == BOOTCFG_INITRAMFS_AUTO) {
                doctor_say(ck, DOCTOR_SKIP,
                           "Raspberry Pi OS's raspi-firmware (auto_initramfs): its hook writes "
                           "neither config.txt nor cmdline.txt");
                return false;
        }
        return true;
}

void doctor_check_raspi_fw_folder(struct doctor_ctx *c, struct doctor_check *ck)
{
        const struct boot_view *v = c->v;

        if (!applies(c, ck))
                return;
        if (!v->boot_sys[0]) {
                doctor_say(ck, DOCTOR_WARN, "raspi-firmware installed; the boot folder is unknown");
                doctor_fix(ck, "set boot_dir in agent.conf");
                return;
        }
        if (streq(v->boot_sys, RASPI_FIRMWARE_FOLDER)) {
                doctor_say(
                    ck, DOCTOR_OK,
                    "raspi-firmware installed and the boot folder is " RASPI_FIRMWARE_FOLDER);
                return;
        }
        doctor_say(ck, DOCTOR_FAIL,
                   "raspi-firmware installed but the boot folder is not " RASPI_FIRMWARE_FOLDER
                   " (it is %s): its kernel hook exits 1 (\"missing /boot/firmware\"), so every "
                   "kernel install fails and the kernel stays unconfigured",
                   v->boot_sys);
        doctor_fix(ck, "mount the Pi's TFTP folder at /boot/firmware (fstab) and set boot_dir = "
                       "/boot/firmware in agent.conf, or remove raspi-firmware");
}

void doctor_check_raspi_fw_cmdline(struct doctor_ctx *c, struct doctor_check *ck)
{
        _cleanup_free_ char *would = NULL;
        char why[1024];
        int r;

        if (!applies(c, ck))
                return;
        would = cmdline_raspi_firmware_would_write(c->root);
        if (!would) {
                doctor_say(ck, DOCTOR_WARN, "out of memory");
                return;
        }
        r = boot_check_cmdline(c->root, would, "the cmdline.txt raspi-firmware's hook writes", why,
                               sizeof(why));
        if (r == 1) {
                doctor_say(ck, DOCTOR_OK,
                           "%s and ROOTPART keep the iSCSI root through raspi-firmware's hook: %s",
                           RASPI_EXTRA_CMDLINE, why);
                return;
        }
        doctor_say(ck, DOCTOR_FAIL,
                   "%s: every kernel install and initramfs rebuild drops the iSCSI login (the "
                   "agent repairs it from a generation, this makes it last)",
                   why);
        doctor_fix(ck, "netrootctl doctor --fix (writes the live cmdline.txt's ISCSI_* and ip= "
                       "into /etc/default/raspi-extra-cmdline and its root= as ROOTPART into "
                       "/etc/default/raspi-firmware)");
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
