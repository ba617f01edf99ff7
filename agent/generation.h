/* The generation store: before a kernel is switched, the boot state of a Pi is saved as
 * generation N in <boot_dir>/.netroot/gen-N/, inside the Pi's own TFTP folder, so the NAS (or
 * any machine that mounts the folder) can put back a Pi that no longer boots.
 *
 *   gen-N/record      KEY=VALUE (kvfile.h): gen, created, kernel_from, kernel_to,
 *                     initramfs_from, initramfs_to, status=pending|good|bad|rolled-back|
 *                     unconfirmed, reason, trial, and what a rollback needs (packaging, model,
 *                     serial, cmdline_name, final, final_existed, tryboot, shared_backup)
 *   gen-N/SHA256SUMS  sha256 of every file the Pi booted (config.txt, what it includes, the
 *                     kernel, initramfs, cmdline, device trees, firmware)
 *   gen-N/COPIES      sha256 of every file kept as a copy, which a rollback checks before it
 *                     puts any of them back
 *   gen-N/boot/NAME   the copies, under their names in the boot folder (config.txt and every
 *                     file it includes, cmdline, tryboot.txt, the initramfs the switch replaces)
 *   gen-N/mkinitramfs.log
 *
 * Generations written before COPIES existed (layout 1) kept gen-N/config.txt, cmdline.txt,
 * tryboot.txt and final.saved; they are read as if listed in COPIES, checked against SHA256SUMS
 * where it has the file.
 *
 * A generation is filled in gen-N.tmp/ and renamed into place, so gen-N/ is always complete.
 * Every name read from a record, a manifest or a journal is a path inside its folder (checked
 * when written and when read), and every file is opened beneath the boot folder's fd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "manifest.h"

#define GEN_STORE        ".netroot"
#define GEN_RECORD       "record"
#define GEN_MANIFEST     "SHA256SUMS"
#define GEN_COPIES       "COPIES"
#define GEN_COPY_DIR     "boot"
#define GEN_PENDING_FILE "pending"
#define GEN_VALUE_MAX    512
#define GEN_LAYOUT       2
#define GEN_SAVED_FINAL  "final.saved" /* layout 1 */

/* GEN_UNCONFIRMED: a tryboot trial whose boot mode the firmware did not reveal. */
enum gen_status { GEN_PENDING, GEN_GOOD, GEN_BAD, GEN_ROLLED_BACK, GEN_UNCONFIRMED };

struct gen_record {
        unsigned gen;
        unsigned layout;  /* 0 or 1: the layout before COPIES */
        char created[32]; /* UTC, ISO 8601 */
        char kernel_from[128];
        char kernel_to[128];
        char initramfs_from[256]; /* as config.txt named it */
        char initramfs_to[256];
        int status; /* enum gen_status */
        char reason[GEN_VALUE_MAX];
        char packaging[32];
        char model[128];
        char serial[32];
        char cmdline_name[256]; /* the cmdline file config.txt names */
        char final[256];        /* the boot-folder file the switch wrote */
        bool final_existed;     /* FINAL was there before: a copy of its old content is kept */
        bool tryboot;           /* tryboot.txt existed and was saved */
        char trial[16];         /* "tryboot": the new boot is in tryboot.txt; "": config.txt */
        char shared_backup[GEN_VALUE_MAX]; /* shared firmware backup, relative to shared_dir */
        char host[64];                     /* the Pi's hostname when the generation was made */
};

struct gen_pending {
        unsigned gen;
        char kernel[128];
        char created[32];
};

const char *gen_status_to_string(enum gen_status s);
int gen_status_from_string(const char *s, enum gen_status *out);

int gen_record_parse(const char *text, size_t len, const char *file, struct gen_record *r,
                     struct error *err);
int gen_record_format(const struct gen_record *r, char **out, size_t *out_len, struct error *err);

/* <boot_dir>/.netroot, <boot_dir>/.netroot/gen-N: newly allocated. */
char *gen_store_path(const char *boot_dir);
char *gen_dir_path(const char *boot_dir, unsigned gen);

int gen_record_load(const char *boot_dir, unsigned gen, struct gen_record *r, struct error *err);
/* Atomically replaces gen-N/record. */
int gen_record_save(const char *boot_dir, const struct gen_record *r, struct error *err);

/* Numbers of the complete generations, ascending. *GENS is malloc'ed (NULL when none). */
int gen_list(const char *boot_dir, unsigned **gens, size_t *n);

/* ---- making a generation ---- */

/* Reserves the next number by creating .netroot/gen-N.tmp/ (the store too, never through a
 * symlink). Two writers cannot get the same N. */
int gen_begin(const char *boot_dir, unsigned *gen, struct error *err);

/* Fills gen-N.tmp: copies of COPY_NAMES (absent ones skipped), COPIES and SHA256SUMS (of
 * HASH_NAMES and the copies), then the record, then renames it to gen-N. REC->gen is set. */
int gen_commit(const char *boot_dir, unsigned gen, const char *const *copy_names, size_t n_copy,
               const char *const *hash_names, size_t n_hash, struct gen_record *rec,
               struct error *err);

/* Removes gen-N.tmp (a generation that was begun and never committed). */
int gen_abort(const char *boot_dir, unsigned gen);

/* Removes gen-N.tmp folders left by runs that died (no journal names them). */
int gen_clean_partial(const char *boot_dir, unsigned keep_gen);

/* ---- what a generation holds ---- */

struct gen_copies {
        struct manifest m; /* names as in the boot folder, sha256 expected of the copy */
        char **paths;      /* the copy of m.e[i], relative to the generation's folder */
        bool *unverified;  /* layout 1: no hash known for this copy */
};

void gen_copies_free(struct gen_copies *c);

/* The copies of generation GEN (TMP: of gen-N.tmp, for a journal's rollback). */
int gen_copies_load(const char *boot_dir, unsigned gen, bool tmp, const struct gen_record *rec,
                    struct gen_copies *c, struct error *err);

/* Every copy is there and has the sha256 it had when saved; ERR names the first that is not. */
int gen_copies_verify(const char *boot_dir, unsigned gen, bool tmp, const struct gen_copies *c,
                      struct error *err);

/* The index of NAME in C, or -1. */
int gen_copies_find(const struct gen_copies *c, const char *name);

/* Puts copy I back as its name in the boot folder (after checking its sha256 again), atomically,
 * keeping the mode of the file it replaces. Returns 1 restored, 0 when the boot folder's file
 * already has that content. */
int gen_copy_restore(const char *boot_dir, unsigned gen, bool tmp, const struct gen_copies *c,
                     size_t i, struct error *err);

/* The boot folder's files that differ from generation GEN's SHA256SUMS, named in REPORT.
 * Returns their number. */
int gen_compare_boot(const char *boot_dir, unsigned gen, struct strbuf *report, struct error *err);

/* ---- pending, status, pruning ---- */

int gen_pending_read(const char *boot_dir, struct gen_pending *p, struct error *err);
int gen_pending_write(const char *boot_dir, unsigned gen, const char *kernel, struct error *err);
/* Removes the pending file when it names GEN (or is damaged). */
int gen_pending_clear(const char *boot_dir, unsigned gen);

/* Sets GEN's status and reason. Anything but pending ends the pending state of GEN. */
int gen_mark(const char *boot_dir, unsigned gen, enum gen_status status, const char *reason,
             struct error *err);

/* Removes good generations beyond the newest KEEP good ones; never the newest generation, never
 * a pending one. Returns the number removed. */
int gen_prune(const char *boot_dir, unsigned keep);

/* Removes generation folder GEN (gen-N or, with TMP, gen-N.tmp) and everything in it. */
int gen_remove(const char *boot_dir, unsigned gen, bool tmp);
