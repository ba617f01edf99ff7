#include "packaging.h"

#include "beneath.h"

#include "boot_view.h"
#include "upgrade_plan.h"
#include "util.h"

#include <dirent.h>
#include <fnmatch.h>

static bool raspi_firmware_present(const struct boot_view *v)
{
        return v->fl.raspi_firmware_evidence[0] != '\0';
}

/* ---- detection ---- */

/* Ubuntu's pi-gadget config.txt: kernel=vmlinuz (22.04+), kernel=vmlinux (20.04 arm64 images,
 * in usercfg.txt), or u-boot (uboot_rpi_*.bin, 20.04) loading whatever flash-kernel put there. */
static bool detect_ubuntu(const struct boot_view *v)
{
        const char *b = path_base(v->res.kernel);

        return streq(b, "vmlinuz") || streq(b, "vmlinux") || strncmp(b, "uboot_", 6) == 0;
}

static bool detect_rpios(const struct boot_view *v)
{
        return v->res.initramfs_from == BOOTCFG_INITRAMFS_AUTO;
}

static bool detect_raspi_firmware(const struct boot_view *v)
{
        return raspi_firmware_present(v);
}

static bool detect_any(const struct boot_view *v)
{
        (void)v;
        return true;
}

/* ---- refusals ---- */

static int refuse_none(const struct upgrade_plan *p, char *why, size_t size)
{
        (void)p;
        (void)why;
        (void)size;
        return 0;
}

static int refuse_raspi_firmware(const struct upgrade_plan *p, char *why, size_t size)
{
        char choice[FLAVOUR_VER_MAX];
        int r = flavour_raspi_firmware_choice(p->o->root, choice, sizeof(choice));

        if (r >= 0 && streq(choice, p->kver))
                return 0;
        snprintf(why, size,
                 "Debian's raspi-firmware is installed (%s): its kernel hook rewrites config.txt "
                 "on every kernel install for the newest /boot/vmlinuz-* (%s), so an initramfs "
                 "switch to %s would be undone. Fix: upgrade to %s (--kernel %s), or remove the "
                 "newer kernel package; settings belong in /etc/default/raspi-firmware",
                 p->view->fl.raspi_firmware_evidence, r < 0 ? "none" : choice, p->kver,
                 r < 0 ? "it" : choice, r < 0 ? "VER" : choice);
        return -EPERM;
}

#define UBUNTU_UNGUARDED                                                                           \
        "Ubuntu's layout: config.txt boots the unversioned %s, which Ubuntu's flash-kernel "       \
        "overwrites on every kernel install; kernel installs on this layout are not guarded by "   \
        "netroot-agent (no generation, no switch, no verdict: flash-kernel's files are left to "   \
        "it)"

static int refuse_ubuntu(const struct upgrade_plan *p, char *why, size_t size)
{
        snprintf(why, size, UBUNTU_UNGUARDED, path_base(p->view->res.kernel));
        return -EOPNOTSUPP;
}

/* ---- the switch ---- */

static int switch_rename(struct upgrade_plan *p, char *why, size_t size)
{
        (void)why;
        (void)size;
        snprintf(p->final, sizeof(p->final), "%s", path_relative(p->view->fl.initramfs_current));
        p->config_name[0] = '\0';
        return 0;
}

static int switch_edit(struct upgrade_plan *p, char *why, size_t size)
{
        char final[FLAVOUR_NAME_MAX + 8];

        (void)why;
        (void)size;
        snprintf(final, sizeof(final), "%sinitrd.img-%s", p->view->res.os_prefix, p->kver);
        snprintf(p->final, sizeof(p->final), "%s", path_relative(final));
        if (!streq(p->final, path_relative(p->view->fl.initramfs_current)) ||
            p->view->res.n_initramfs != 1)
                snprintf(p->config_name, sizeof(p->config_name), "initrd.img-%s", p->kver);
        return 0;
}

/* ---- kernel package hooks ---- */

static bool applies_by_flavour(const struct boot_view *v, const char *ver, char *why, size_t size)
{
        if (!flavour_version_matches(&v->fl, ver)) {
                snprintf(why, size, "kernel %s is not for this Pi's kernel file %s", ver,
                         v->fl.kernel_file);
                return false;
        }
        if (v->fl.version_from_image && !streq(ver, v->fl.explicit_version)) {
                snprintf(why, size,
                         "kernel %s installed; %s holds kernel %s (read from the image), so the "
                         "Pi stays on it (to move: copy the %s kernel over %s, then netrootctl "
                         "upgrade)",
                         ver, v->fl.kernel_file, v->fl.explicit_version, ver, v->fl.kernel_file);
                return false;
        }
        if (!v->fl.kind && !streq(ver, v->fl.explicit_version)) {
                snprintf(why, size,
                         "kernel %s installed; config.txt boots %s explicitly, so the Pi stays on "
                         "it (to move: point kernel= at vmlinuz-%s, then netrootctl upgrade)",
                         ver, v->fl.kernel_file, ver);
                return false;
        }
        return true;
}

static bool applies_never(const struct boot_view *v, const char *ver, char *why, size_t size)
{
        (void)ver;
        return packaging_unguarded(v, why, size), false;
}

static bool applies_raspi_firmware(const struct boot_view *v, const char *ver, char *why,
                                   size_t size)
{
        /* The hook moves config.txt to the newest kernel itself: the one to guard is that. */
        return flavour_version_matches(&v->fl, ver) ||
               (snprintf(why, size, "kernel %s is not for this Pi's kernel file %s", ver,
                         v->fl.kernel_file),
                false);
}

bool packaging_in_place(const struct boot_view *v)
{
        const char *k = v->res.kernel;

        if (!k || !k[0])
                return false;
        return !flavour_explicit_version(path_relative(k)) &&
               strncmp(path_relative(k), "vmlinuz", 7) != 0;
}

static size_t add_save(char names[][256], size_t max, size_t n, const char *name)
{
        if (n < max && name_inside(name))
                snprintf(names[n++], 256, "%s", name);
        return n;
}

/* The kernel file, every DTB and overlays/: what an in-place kernel package overwrites. */
static size_t save_in_place(const struct boot_view *v, char names[][256], size_t max)
{
        _cleanup_free_ char *ov = NULL;
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        if (!packaging_in_place(v))
                return 0;
        n = add_save(names, max, n, path_relative(v->res.kernel));
        d = opendir(v->boot_dir);
        if (d) {
                while ((de = readdir(d)))
                        if (de->d_type == DT_REG && fnmatch("*.dtb", de->d_name, 0) == 0)
                                n = add_save(names, max, n, de->d_name);
                closedir(d);
        }
        if (asprintf(&ov, "%s/overlays", v->boot_dir) < 0)
                return n;
        d = opendir(ov);
        if (d) {
                while ((de = readdir(d))) {
                        char name[256];

                        if (de->d_type != DT_REG)
                                continue;
                        snprintf(name, sizeof(name), "overlays/%s", de->d_name);
                        n = add_save(names, max, n, name);
                }
                closedir(d);
        }
        return n;
}

static size_t save_nothing(const struct boot_view *v, char names[][256], size_t max)
{
        (void)v;
        (void)names;
        (void)max;
        return 0;
}

/* Detected in this order: the first row whose detect() holds. */
static const struct packaging rows[] = {
    {
        .name = "ubuntu",
        .switch_note = "not guarded (flash-kernel)",
        .detect = detect_ubuntu,
        .refuse = refuse_ubuntu,
        .plan_switch = switch_rename,
        .postinst_applies = applies_never,
        .files_to_save = save_nothing,
        .unguarded = UBUNTU_UNGUARDED,
    },
    {
        .name = "rpios",
        .switch_note = "auto_initramfs: the switch renames onto the initramfs file",
        .detect = detect_rpios,
        .refuse = refuse_none,
        .plan_switch = switch_rename,
        .postinst_applies = applies_by_flavour,
        .files_to_save = save_in_place,
    },
    {
        .name = "raspi-firmware",
        .switch_note = "Debian raspi-firmware: only the edit its hook makes itself",
        .detect = detect_raspi_firmware,
        .refuse = refuse_raspi_firmware,
        .plan_switch = switch_edit,
        .postinst_applies = applies_raspi_firmware,
        .files_to_save = save_nothing,
    },
    {
        .name = "raspbian",
        .switch_note = "initramfs line in config.txt",
        .detect = detect_any,
        .refuse = refuse_none,
        .plan_switch = switch_edit,
        .postinst_applies = applies_by_flavour,
        .files_to_save = save_in_place,
    },
};

const struct packaging *packaging_detect(const struct boot_view *v)
{
        for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
                if (rows[i].detect(v))
                        return &rows[i];
        return &rows[ARRAY_SIZE(rows) - 1];
}

bool packaging_unguarded(const struct boot_view *v, char *why, size_t size)
{
        const struct packaging *p = packaging_detect(v);

        if (!p->unguarded)
                return false;
        if (why && size)
                snprintf(why, size, p->unguarded, path_base(v->res.kernel));
        return true;
}

const struct packaging *packaging_by_name(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
                if (streq(rows[i].name, name))
                        return &rows[i];
        return NULL;
}
