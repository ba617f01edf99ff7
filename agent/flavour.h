/* Which kernel a Pi boots, judged only from files under the --root tree and the evaluated
 * config.txt: the kernel image kind (kernel7.img & co.) or an explicit vmlinuz-VER, the version
 * suffixes that fit it, and whether Debian's raspi-firmware hook is installed. How the kernel is
 * packaged (and so how an upgrade switches it) is packaging.h's table. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bootcfg.h"

/* One row of the kernel image table: the file the firmware loads and the version suffixes of
 * the kernels built for it (raspberrypi-kernel style and bookworm linux-image-rpi-* style). */
struct kernel_image_kind {
        const char *image;
        const char *suffix_raspbian;
        const char *suffix_rpios;
        const char *description;
};

#define FLAVOUR_NAME_MAX 256
#define FLAVOUR_VER_MAX  128

struct flavour {
        char kernel_file[FLAVOUR_NAME_MAX]; /* as config.txt makes the firmware load it */
        /* The kernel table row, or NULL when config.txt names a Debian-style versioned kernel
         * file (kernel=vmlinuz-6.1.0-50-amd64): then the version is that file's. */
        const struct kernel_image_kind *kind;
        char explicit_version[FLAVOUR_VER_MAX];
        /* kind is NULL and explicit_version is the release the kernel file itself declares
         * (kimage.h): a file of another name that is overwritten in place (a self-built kernel
         * copied to kernel-custom.img). Its version is what the file holds now. */
        bool version_from_image;
        char description[128];
        /* The initramfs the firmware loads today (first of the list), "" when none. */
        char initramfs_current[FLAVOUR_NAME_MAX];
        /* Debian's raspi-firmware kernel hook is installed: the file that revealed it, "" when
         * not. */
        char raspi_firmware_evidence[FLAVOUR_NAME_MAX];
};

/* The table row for a kernel file name (basename compared), NULL when not a Pi kernel image. */
const struct kernel_image_kind *flavour_kind_for_image(const char *kernel_file);

/* The table row whose suffix is the longest one VER ends with, NULL when none. */
const struct kernel_image_kind *flavour_kind_for_version(const char *ver);

/* The version of a Debian-style versioned kernel file ("vmlinuz-6.1.0-50-amd64" ->
 * "6.1.0-50-amd64"), NULL when the name carries none. Points into NAME. */
const char *flavour_explicit_version(const char *kernel_file);

/* Debian kernel flavour of VER: "6.1.0-50-amd64" -> "amd64", "6.1.0-rpi7-rpi-v8" -> "rpi-v8",
 * "6.12.12+bpo-amd64" -> "amd64"; NULL when VER has no '-'. Points into VER. */
const char *flavour_debian_suffix(const char *ver);

/* Whether kernel version VER is one this Pi can boot with its current kernel file. */
bool flavour_version_matches(const struct flavour *f, const char *ver);

/* Detects the kernel file's kind from RES (config.txt evaluated for this Pi), the kernel file
 * in BOOT_DIR (read only when its name is neither a table row nor vmlinuz-VER) and files under
 * ROOT. Returns 0, or -EINVAL when config.txt names no kernel file the agent understands (WHY
 * says). */
int flavour_detect(const char *root, const char *boot_dir, const struct bootcfg_result *res,
                   struct flavour *f, char *why, size_t why_size);

/* The newest version under ROOT/lib/modules that F matches (strverscmp order).
 * Returns 0, -ENOENT when none. */
int flavour_newest_version(const char *root, const struct flavour *f, char *ver, size_t size);

/* The newest ROOT/boot/vmlinuz-* version: the one Debian's raspi-firmware hook writes into
 * config.txt. Returns 0 or -ENOENT. */
int flavour_raspi_firmware_choice(const char *root, char *ver, size_t size);
