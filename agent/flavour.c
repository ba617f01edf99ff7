/* Kernel flavour detection for the upgrade; see flavour.h. */
#include "flavour.h"

#include "beneath.h"
#include "kimage.h"
#include "rootpath.h"
#include "util.h"

#include <dirent.h>
#include <sys/stat.h>

/* Suffixes as the packages name their kernels: raspberrypi-kernel builds "4.4.27-v7+",
 * bookworm's linux-image-rpi-v7 builds "6.1.0-rpi7-rpi-v7" / "6.6.51+rpt-rpi-v7". The longest
 * matching suffix decides, so "-v7+" wins over "+" (kernel.img, ARMv6). */
static const struct kernel_image_kind kinds[] = {
    {"kernel.img", "+", "-rpi-v6", "ARMv6 (Pi 1, Zero)"},
    {"kernel7.img", "-v7+", "-rpi-v7", "32-bit ARMv7 (Pi 2, Pi 3)"},
    {"kernel7l.img", "-v7l+", "-rpi-v7l", "32-bit ARMv7 LPAE (Pi 4)"},
    {"kernel8.img", "-v8+", "-rpi-v8", "64-bit (Pi 3, Pi 4 with arm_64bit=1)"},
    {"kernel_2712.img", "-v8-16k+", "-rpi-2712", "64-bit Pi 5"},
};

const struct kernel_image_kind *flavour_kind_for_image(const char *kernel_file)
{
        const char *b = path_base(kernel_file);

        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
                if (streq(b, kinds[i].image))
                        return &kinds[i];
        return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);

        return a > b && streq(s + a - b, suffix);
}

const struct kernel_image_kind *flavour_kind_for_version(const char *ver)
{
        const struct kernel_image_kind *best = NULL;
        size_t best_len = 0;

        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
                const char *sfx[] = {kinds[i].suffix_raspbian, kinds[i].suffix_rpios};

                for (size_t j = 0; j < ARRAY_SIZE(sfx); j++)
                        if (ends_with(ver, sfx[j]) && strlen(sfx[j]) > best_len) {
                                best = &kinds[i];
                                best_len = strlen(sfx[j]);
                        }
        }
        return best;
}

const char *flavour_explicit_version(const char *kernel_file)
{
        static const char *const prefixes[] = {"vmlinuz-", "vmlinux-", "Image-", "zImage-"};
        const char *b = path_base(kernel_file);

        for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
                size_t n = strlen(prefixes[i]);

                if (strncmp(b, prefixes[i], n) == 0 && b[n] >= '0' && b[n] <= '9')
                        return b + n;
        }
        return NULL;
}

/* UPSTREAM-ABI-FLAVOUR: the flavour is what follows the ABI; with only one '-' (backports'
 * "6.12.12+bpo-amd64") it is what follows that. */
const char *flavour_debian_suffix(const char *ver)
{
        const char *d1 = strchr(ver, '-'), *d2;

        if (!d1)
                return NULL;
        d2 = strchr(d1 + 1, '-');
        return d2 ? d2 + 1 : d1 + 1;
}

bool flavour_version_matches(const struct flavour *f, const char *ver)
{
        const char *a, *b;

        if (f->kind)
                return flavour_kind_for_version(ver) == f->kind;
        if (f->version_from_image && streq(ver, f->explicit_version))
                return true;
        a = flavour_debian_suffix(f->explicit_version);
        b = flavour_debian_suffix(ver);
        return a && b && streq(a, b);
}

static bool is_file(const char *path)
{
        struct stat st;

        return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Debian's package ships both; either is proof. Raspberry Pi's own fork (bookworm) uses
 * auto_initramfs and never rewrites config.txt, so that case is decided before this. */
static bool raspi_firmware_present(const char *root, char *evidence, size_t size)
{
        static const char *const files[] = {"/etc/default/raspi-firmware",
                                            "/etc/kernel/postinst.d/z50-raspi-firmware"};

        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                _cleanup_free_ char *p = root_path(root, files[i]);

                if (is_file(p)) {
                        snprintf(evidence, size, "%s", files[i]);
                        return true;
                }
        }
        return false;
}

/* A kernel file of its own name holds whatever was copied over it last: the image says which. */
static int detect_from_image(const char *boot_dir, const struct bootcfg_result *res,
                             struct flavour *f, char *why, size_t why_size)
{
        _cleanup_close_ int bfd = -1;
        char image_why[256];
        const char *name = path_relative(res->kernel);
        int r;

        bfd = beneath_open_dir(boot_dir);
        if (bfd < 0)
                r = bfd;
        else
                r = kimage_release(bfd, name, f->explicit_version, sizeof(f->explicit_version),
                                   image_why, sizeof(image_why));
        if (r == 0) {
                f->version_from_image = true;
                snprintf(f->description, sizeof(f->description),
                         "in-place kernel file, kernel %s read from the image",
                         f->explicit_version);
                return 0;
        }
        f->explicit_version[0] = '\0';
        snprintf(why, why_size,
                 "config.txt boots kernel file '%s', which is neither a Raspberry Pi kernel image "
                 "(kernel*.img) nor a versioned vmlinuz-VER, and its kernel version cannot be "
                 "read from it (%s): name it vmlinuz-VER, or build it uncompressed (arm64 Image)",
                 res->kernel, r == -ENODATA ? image_why : strerror(-r));
        return -EINVAL;
}

int flavour_detect(const char *root, const char *boot_dir, const struct bootcfg_result *res,
                   struct flavour *f, char *why, size_t why_size)
{
        const char *ver;

        memset(f, 0, sizeof(*f));
        if (why_size)
                why[0] = '\0';
        snprintf(f->kernel_file, sizeof(f->kernel_file), "%s", res->kernel);
        if (res->n_initramfs > 0)
                snprintf(f->initramfs_current, sizeof(f->initramfs_current), "%s",
                         res->initramfs[0]);

        f->kind = flavour_kind_for_image(res->kernel);
        ver = f->kind ? NULL : flavour_explicit_version(res->kernel);
        if (ver) {
                snprintf(f->explicit_version, sizeof(f->explicit_version), "%s", ver);
                snprintf(f->description, sizeof(f->description),
                         "Debian-style explicit kernel file");
        } else if (f->kind) {
                snprintf(f->description, sizeof(f->description), "%s, %s", f->kind->image,
                         f->kind->description);
        } else if (detect_from_image(boot_dir, res, f, why, why_size) < 0) {
                return -EINVAL;
        }

        (void)raspi_firmware_present(root, f->raspi_firmware_evidence,
                                     sizeof(f->raspi_firmware_evidence));
        return 0;
}

static int newest_in(const char *dir, const char *prefix, const struct flavour *f, char *ver,
                     size_t size)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t plen = strlen(prefix);
        bool found = false;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                const char *v = de->d_name;

                if (de->d_name[0] == '.' || strncmp(v, prefix, plen) != 0)
                        continue;
                v += plen;
                if (!*v || strlen(v) >= size || (f && !flavour_version_matches(f, v)))
                        continue;
                /* dpkg leaves these behind; they are no kernel. */
                if (ends_with(v, ".dpkg-bak") || ends_with(v, ".dpkg-new") ||
                    ends_with(v, ".dpkg-tmp"))
                        continue;
                if (!found || strverscmp(v, ver) > 0) {
                        snprintf(ver, size, "%s", v);
                        found = true;
                }
        }
        closedir(d);
        return found ? 0 : -ENOENT;
}

int flavour_newest_version(const char *root, const struct flavour *f, char *ver, size_t size)
{
        _cleanup_free_ char *dir = root_path(root, "/lib/modules");

        if (!dir)
                return -ENOMEM;
        return newest_in(dir, "", f, ver, size);
}

int flavour_raspi_firmware_choice(const char *root, char *ver, size_t size)
{
        _cleanup_free_ char *dir = root_path(root, "/boot");

        if (!dir)
                return -ENOMEM;
        return newest_in(dir, "vmlinuz-", NULL, ver, size);
}
