/* The generation store: before each upgrade the boot state of a Pi is saved as generation N in
 * <boot_dir>/.netroot/gen-N/, inside the Pi's own TFTP folder, so the NAS (or any machine that
 * mounts the folder) can put a Pi back that no longer boots.
 *
 *   gen-N/record      key=value: gen, created, kernel_from, kernel_to, initramfs_from,
 *                     initramfs_to, status=pending|good|bad|rolled-back|unconfirmed, reason,
 *                     trial ("tryboot" or empty), and what a rollback needs (packaging,
 *                     model, serial, final, final_existed, …)
 *   gen-N/SHA256SUMS  sha256 of every file the Pi booted, in sha256sum(1) format
 *   gen-N/config.txt, cmdline.txt, tryboot.txt   copies as they were
 *   gen-N/final.saved the initramfs file the upgrade replaced (when it replaced one)
 *
 * A generation is filled in gen-N.tmp/ and renamed into place, so gen-N/ is always complete. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define GEN_STORE          ".netroot"
#define GEN_RECORD         "record"
#define GEN_MANIFEST       "SHA256SUMS"
#define GEN_SAVED_FINAL    "final.saved"
#define GEN_VALUE_MAX      512
#define GEN_MANIFEST_FILES 64

/* GEN_UNCONFIRMED: a tryboot trial whose boot mode the firmware did not reveal (no
 * /proc/device-tree/chosen/bootloader/tryboot): neither promoted nor rejected. */
enum gen_status { GEN_PENDING, GEN_GOOD, GEN_BAD, GEN_ROLLED_BACK, GEN_UNCONFIRMED };

struct gen_record {
        unsigned gen;
        char created[32]; /* UTC, ISO 8601 */
        char kernel_from[128];
        char kernel_to[128];
        char initramfs_from[256]; /* as config.txt named it */
        char initramfs_to[256];
        enum gen_status status;
        char reason[GEN_VALUE_MAX];
        /* What a rollback needs, also offline on another machine. */
        char packaging[32];
        char model[128];
        char serial[32];
        char cmdline_name[256]; /* the cmdline file config.txt names */
        char final[256];        /* the boot-folder file the switch wrote */
        bool final_existed;     /* FINAL was there before: its old content is GEN_SAVED_FINAL */
        bool tryboot;           /* tryboot.txt existed and was saved */
        char trial[16];         /* "tryboot": the new boot is in tryboot.txt; "": in config.txt */
        char shared_backup[GEN_VALUE_MAX]; /* shared firmware backup, relative to shared_dir */
};

const char *gen_status_to_string(enum gen_status s);
int gen_status_from_string(const char *s, enum gen_status *out);

/* Parses a record. FILE names it in errors ("FILE:LINE: …" in ERR). Unknown keys are ignored
 * (a newer agent may add some); a line without '=', a duplicate key, a bad number or status,
 * control characters, or a missing gen/status are errors (-EBADMSG). */
int gen_record_parse(const char *text, size_t len, const char *file, struct gen_record *r,
                     char *err, size_t err_size);

/* Formats R (values with control characters are refused: -EINVAL). *OUT is malloc'ed. */
int gen_record_format(const struct gen_record *r, char **out, size_t *out_len);

/* <boot_dir>/.netroot, <boot_dir>/.netroot/gen-N: newly allocated. */
char *gen_store_path(const char *boot_dir);
char *gen_dir_path(const char *boot_dir, unsigned gen);

int gen_record_load(const char *boot_dir, unsigned gen, struct gen_record *r, char *err,
                    size_t err_size);
/* Atomically replaces gen-N/record (or writes it into DIR when DIR is not NULL). */
int gen_record_save(const char *boot_dir, const char *dir, const struct gen_record *r);

/* Numbers of the complete generations, ascending. *GENS is malloc'ed (NULL when none). */
int gen_list(const char *boot_dir, unsigned **gens, size_t *n);

/* One above every generation number in use, complete or not. */
int gen_next_number(const char *boot_dir, unsigned *next);

/* Copies SRC to DST (temp file, fsync, rename). With LINK, tries a hard link first: keeping
 * the old initramfs costs no space and cannot be half-copied. */
int gen_copy_file(const char *src, const char *dst, bool link_first);

/* Writes DIR/SHA256SUMS with the hash of every existing BOOT_DIR/NAMES[i]. Returns the count. */
int gen_manifest_write(const char *dir, const char *boot_dir, const char *const *names, size_t n);

/* Compares the boot folder against DIR/SHA256SUMS. Returns the number of differing or missing
 * files (named in REPORT, one per line), or a negative errno (ERR names file:line for a bad
 * manifest). */
int gen_manifest_check(const char *dir, const char *boot_dir, char *report, size_t report_size,
                       char *err, size_t err_size);

/* Removes gen-N (or any folder DIR inside the store) and everything in it; one level deep,
 * no symlink followed. */
int gen_remove_dir(const char *dir);
