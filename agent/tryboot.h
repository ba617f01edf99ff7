/* trial_boot=tryboot: the new initramfs is named in tryboot.txt, which the firmware reads instead
 * of config.txt only for the one boot after `reboot '0 tryboot'` (FACTS: config.txt, tryboot).
 * config.txt is never edited by the upgrade; netrootd promotes tryboot.txt into config.txt once
 * the trial boot is confirmed, so a failed trial falls back with a plain reset. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bootcfg.h"

#define TRYBOOT_TXT   "tryboot.txt"
#define TRYBOOT_TRIAL "tryboot" /* gen_record.trial */
/* 4-byte big-endian cell the firmware sets to 1 when it booted with the tryboot flag. */
#define TRYBOOT_FLAG_PATH "/proc/device-tree/chosen/bootloader/tryboot"

/* The trial initramfs of kernel KVER in generation GEN: "initrd.img-KVER.netroot-gGEN", a name
 * no earlier config.txt can hold. Returns 0 or -ENAMETOOLONG. */
int tryboot_initrd_name(const char *kver, unsigned gen, char *out, size_t size);

/* The kernel version an initramfs file name says it was built for: initrd.img-VER and the
 * trial name initrd.img-VER.netroot-gN both give VER. "" when the name says nothing. */
void tryboot_kver_from_initrd_name(const char *name, char *out, size_t size);

/* tryboot.txt's text: config.txt (files[0] of FS, with the files it includes) with the initramfs
 * switched to FILE (the deciding line changed when config.txt holds it, else a line appended:
 * included files are shared with config.txt and stay as they are), judged as the firmware reads
 * it with the tryboot flag. FINAL is FILE as a boot-folder name (os_prefix applied). Refused
 * (-EINVAL, the reason in WHY) when the text, read with or without the flag (the latter is
 * config.txt after the promotion), would not load exactly FINAL with config.txt's kernel and
 * command line: a [tryboot] section that changes them. */
int tryboot_make_text(const struct bootcfg_files *fs, const struct bootcfg_target *pi,
                      const char *file, const char *final, char **out, size_t *out_len, char *why,
                      size_t why_size);

/* Reads ROOT/proc/device-tree/chosen/bootloader/tryboot: 1 when this boot used the tryboot
 * flag, 0 when not, -ENOENT when the firmware does not say (older firmware), -EBADMSG when the
 * property is not one cell. */
int tryboot_flag_read(const char *root);

/* config.txt := tryboot.txt (atomic with fsync, config.txt's mode kept), then tryboot.txt is
 * removed. 0 done; 1 config.txt promoted but tryboot.txt could not be removed; a negative errno
 * when config.txt was not changed (-ENOENT: BOOT_DIR has no tryboot.txt). ERR says what failed. */
int tryboot_promote(const char *boot_dir, char *err, size_t err_size);

/* Removes BOOT_DIR/tryboot.txt; a missing one is not an error. Returns 1 when one was removed. */
int tryboot_remove(const char *boot_dir);
