/* The upgrade's transaction journal, <boot_dir>/.netroot/transaction: rewritten (atomically)
 * before each step that changes the boot folder, removed when the transaction is over. A journal
 * found by the next run that holds the boot lock (bootlock.h) means the process died in between;
 * it holds what a rollback needs to put the old boot back without trusting anything else the
 * dead process may have left, and whose it was (pid, boot, command). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "strbuf.h"

#define TXN_FILE "transaction"

struct txn {
        unsigned gen;
        char step[32];       /* the step about to run (or running) */
        char kernel[128];    /* target version */
        char new_file[256];  /* boot-folder file being built; removed by a rollback */
        char final[256];     /* boot-folder file the switch renames the new initrd onto */
        bool final_existed;  /* FINAL existed before: the generation keeps a copy */
        bool final_touched;  /* FINAL may have been replaced */
        char edited[256];    /* the config file the switch rewrites (config.txt or an include) */
        bool config_touched; /* EDITED may differ from the generation's copy */
        /* tryboot.txt may differ from the generation's copy (or exist when it had none): a
         * trial_boot=tryboot switch writes it instead of config.txt. */
        bool tryboot_touched;
        char shared_backup[512];
        long pid;         /* the process that wrote it */
        char boot_id[40]; /* /proc/sys/kernel/random/boot_id of its boot */
        char started[32]; /* UTC */
        char command[64]; /* "netrootctl upgrade", "netrootctl hook kernel-postinst" */
};

char *txn_path(const char *boot_dir);

int txn_parse(const char *text, size_t len, const char *file, struct txn *t, struct error *err);
int txn_format(const struct txn *t, char **out, size_t *out_len, struct error *err);

/* Writes the journal atomically (fsync of file and folder). */
int txn_write(const char *boot_dir, const struct txn *t, struct error *err);

/* Reads it: 0, -ENOENT when there is no transaction, -EBADMSG (ERR names file and line). */
int txn_read(const char *boot_dir, struct txn *t, struct error *err);

int txn_remove(const char *boot_dir);

/* Undoes what journal T says may have been done, step by step so that config.txt always names an
 * initramfs that exists and passes: the old initramfs back first, then the edited config file,
 * then the files config.txt no longer names. Every copy is checked against its sha256 before it
 * is put back. Idempotent: a crash inside it is rolled back again. DONE gets a human list of
 * what was restored. On success the journal is gone. */
int txn_rollback(const char *boot_dir, const struct txn *t, const char *reason, struct strbuf *done,
                 struct error *err);

/* The caller holds the boot lock: a journal found now was left by a run that died. Rolls it
 * back. Returns 1 when one was rolled back (T and DONE say what), 0 when there was none, <0 when
 * the rollback failed (the journal stays for the next try). Also removes the temp files and
 * gen-N.tmp folders such runs leave. */
/* 0 when BOOT_DIR's generation store is a real folder or absent; -ELOOP (a symlink) or -ENOTDIR
 * with ERR naming it. */
int txn_store_usable(const char *boot_dir, struct error *err);

int txn_recover(const char *boot_dir, struct txn *t, struct strbuf *done, struct error *err);
