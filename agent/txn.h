/* The upgrade's transaction journal, <boot_dir>/.netroot/transaction: rewritten (atomically)
 * before each step that changes the boot folder, removed when the transaction is over. A journal
 * found by the next run means the process died in between; it holds what a rollback needs to put
 * the old boot back without trusting anything else the dead process may have left. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define TXN_FILE "transaction"

struct txn {
        unsigned gen;
        char step[32];       /* the step about to run (or running) */
        char kernel[128];    /* target version */
        char new_file[256];  /* boot-folder file being built; removed by a rollback */
        char final[256];     /* boot-folder file the switch renames the new initrd onto */
        bool final_existed;  /* FINAL existed before: the generation keeps its old content */
        bool config_touched; /* config.txt may differ from the generation's copy */
        bool final_touched;  /* FINAL may have been replaced */
        /* tryboot.txt may differ from the generation's copy (or exist when it had none): a
         * trial_boot=tryboot switch writes it instead of config.txt. */
        bool tryboot_touched;
        char shared_backup[512];
};

/* <boot_dir>/.netroot/transaction, newly allocated. */
char *txn_path(const char *boot_dir);

/* Parses a journal; errors name FILE:LINE in ERR (-EBADMSG). */
int txn_parse(const char *text, size_t len, const char *file, struct txn *t, char *err,
              size_t err_size);
int txn_format(const struct txn *t, char **out, size_t *out_len);

/* Writes the journal atomically (creating .netroot/ when needed). */
int txn_write(const char *boot_dir, const struct txn *t);

/* Reads it: 0, -ENOENT when there is no transaction, -EBADMSG with ERR for a bad one. */
int txn_read(const char *boot_dir, struct txn *t, char *err, size_t err_size);

int txn_remove(const char *boot_dir);
