/* The doctor's kernel checks: kernel updates rebuild the initramfs (INITRD=Yes), mkinitramfs
 * finds the kernel config, and no raspi-firmware hook rewrites config.txt behind the agent. */
#include "doctor_check.h"

#include "dpkg.h"
#include "flavour.h"
#include "rootpath.h"

/* The first initramfs-tools whose mkinitramfs needs /boot/config-VER (FACTS,
 * raspberrypi/linux#5496). */
#define INITRAMFS_TOOLS_NEEDS_CONFIG "0.141"

static bool raspberrypi_kernel_installed(const struct doctor_ctx *c)
{
        return doctor_rooted_exists(c->root, "/var/lib/dpkg/info/raspberrypi-kernel.list");
}

void doctor_check_initrd_setting(struct doctor_ctx *c, struct doctor_check *ck)
{
        _cleanup_free_ char *text = NULL;
        char v[64] = "";

        if (!raspberrypi_kernel_installed(c)) {
                doctor_say(ck, DOCTOR_SKIP,
                           "not applicable: Raspbian's raspberrypi-kernel is not installed");
                return;
        }
        if (doctor_read_rooted(c->root, "/etc/default/raspberrypi-kernel", DOCTOR_SMALL_FILE_MAX,
                               &text) == 0 &&
            doctor_conf_value(text, "INITRD", v, sizeof(v)) && strcasecmp(v, "yes") == 0) {
                doctor_say(
                    ck, DOCTOR_OK,
                    "/etc/default/raspberrypi-kernel has INITRD=Yes: kernel updates rebuild the "
                    "initramfs");
                return;
        }
        doctor_say(
            ck, DOCTOR_FAIL,
            "/etc/default/raspberrypi-kernel %s%s: kernel updates build no initramfs, the Pi "
            "keeps a stale one",
            v[0] ? "has INITRD=" : "does not set INITRD=Yes", v);
        doctor_fix(ck, "echo INITRD=Yes | sudo tee -a /etc/default/raspberrypi-kernel");
}

void doctor_check_kernel_config(struct doctor_ctx *c, struct doctor_check *ck)
{
        _cleanup_free_ char *p = NULL;
        char ver[64], *colon;

        if (!c->kver[0]) {
                doctor_say(ck, DOCTOR_SKIP,
                           "the running kernel is unknown (no "
                           "/proc/sys/kernel/osrelease)");
                return;
        }
        p = root_pathf(c->root, "/boot/config-%s", c->kver);
        if (doctor_is_regular(p)) {
                doctor_say(ck, DOCTOR_OK,
                           "/boot/config-%s is there: mkinitramfs can choose its "
                           "compression",
                           c->kver);
                return;
        }
        (void)dpkg_installed(c->root, "initramfs-tools", ver, sizeof(ver));
        colon = strchr(ver, ':'); /* an epoch does not matter here */
        if (ver[0] && strverscmp(colon ? colon + 1 : ver, INITRAMFS_TOOLS_NEEDS_CONFIG) < 0) {
                doctor_say(ck, DOCTOR_OK,
                           "no /boot/config-%s, which initramfs-tools %s does not need", c->kver,
                           ver);
                return;
        }
        doctor_say(ck, ver[0] ? DOCTOR_FAIL : DOCTOR_WARN,
                   "no /boot/config-%s: mkinitramfs%s%s%s fails with 'CONFIG_RD_GZIP not supported "
                   "by kernel'",
                   c->kver, ver[0] ? " (initramfs-tools " : " of initramfs-tools 0.141+",
                   ver[0] ? ver : "", ver[0] ? ")" : "");
        doctor_fix(ck,
                   "sudo sh -c 'zcat /proc/config.gz > /boot/config-$(uname -r)' (modprobe configs "
                   "if /proc/config.gz is missing)");
}

void doctor_check_raspi_firmware(struct doctor_ctx *c, struct doctor_check *ck)
{
        struct flavour f;
        char why[256];
        const char *evidence = NULL;

        if (c->v->eval_r == 0 &&
            flavour_detect(c->root, c->v->boot_dir, &c->v->res, &f, why, sizeof(why)) == 0) {
                if (c->v->res.initramfs_from == BOOTCFG_INITRAMFS_AUTO) {
                        doctor_say(ck, DOCTOR_OK,
                                   "Raspberry Pi OS packaging (auto_initramfs): config.txt is not "
                                   "regenerated on kernel installs");
                        return;
                }
                if (f.raspi_firmware_evidence[0])
                        evidence = f.raspi_firmware_evidence;
        } else if (doctor_rooted_exists(c->root, "/etc/kernel/postinst.d/z50-raspi-firmware"))
                evidence = "/etc/kernel/postinst.d/z50-raspi-firmware";
        else if (doctor_rooted_exists(c->root, "/etc/default/raspi-firmware"))
                evidence = "/etc/default/raspi-firmware";
        if (!evidence) {
                doctor_say(ck, DOCTOR_OK,
                           "no Debian raspi-firmware hook: config.txt and "
                           "cmdline.txt are left as written");
                return;
        }
        doctor_say(ck, DOCTOR_WARN,
                   "Debian's raspi-firmware is installed (%s): it rewrites config.txt and "
                   "cmdline.txt on every kernel install",
                   evidence);
        doctor_fix(ck, "keep ISCSI_* and root= in /etc/default/raspi-extra-cmdline and ROOTPART in "
                       "/etc/default/raspi-firmware, or remove raspi-firmware");
}
