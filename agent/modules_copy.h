/* /lib/modules/<ver> kept in a generation as real copies (never hard links: dpkg replaces and
 * deletes these files), for the in-place kernel packagings (packaging_in_place()): Raspbian's
 * raspberrypi-kernel deletes the old modules directory at unpack time, so the kernel image a
 * rollback puts back needs its modules back too (FACTS, "Kernel packages and hooks").
 *
 * Layout: <boot_dir>/.netroot/gen-N/modules/<ver>/... (plain files and folders; symlinks such as
 * build/ and source/ are not needed to boot and are not kept). */
#pragma once

#include <stdbool.h>

#include "error.h"

#define MODULES_COPY_DIR "modules"

/* Copies ROOT's /lib/modules/VER into generation GEN (gen-N.tmp with TMP). Returns the number
 * of files copied, or a negative errno (ERR says which file). */
int modules_save(const char *root, const char *ver, const char *boot_dir, unsigned gen, bool tmp,
                 struct error *err);

/* Puts generation GEN's saved modules directory back as ROOT's /lib/modules/VER (built next to
 * it, then renamed into place). Returns 1 restored, 0 when the generation kept none, <0 on
 * errors. VER (VER_SIZE bytes) gets the version. */
int modules_restore(const char *root, const char *boot_dir, unsigned gen, char *ver,
                    size_t ver_size, struct error *err);
