/* cmdline.txt: the kernel command line the firmware passes on, with the iSCSI root settings the
 * initramfs reads from it (ISCSI_* / iscsi_* keys and root=iscsi:…). Secrets are masked before
 * anything is shown. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Replaces every secret in output. Fixed length: the password's length is not shown either. */
#define CMDLINE_MASK "********"

struct cmdline_param {
        char *key;   /* "root", "ISCSI_TARGET_IP", "quiet" */
        char *value; /* NULL for a bare word; surrounding double quotes removed */
};

struct cmdline {
        struct cmdline_param *params;
        size_t n;
        unsigned lines; /* non-empty lines in the file; the command line must be one */
};

/* Splits TEXT (LEN bytes) at white space outside double quotes. Returns 0 or -ENOMEM. */
int cmdline_parse(const char *text, size_t len, struct cmdline *out);
void cmdline_free(struct cmdline *c);

/* The value of the last KEY (the kernel and the initramfs scripts let a later one win),
 * or NULL. Exact, case-sensitive match. */
const char *cmdline_get(const struct cmdline *c, const char *key);

/* True for the keys the initramfs' iSCSI script reads: ISCSI_* in either case. */
bool cmdline_is_iscsi_key(const char *key);

/* True when KEY's whole value is a secret (ISCSI_PASSWORD, ISCSI_IN_PASSWORD, any case). */
bool cmdline_is_secret_key(const char *key);

/* KEY's VALUE as it may be shown: a password key's value becomes CMDLINE_MASK, and the password
 * fields of root=iscsi:user:pass[:inuser:inpass]@IP:6:PORT:LUN:IQN are masked.
 * Returns a new string; NULL when VALUE is NULL (a bare word) or on allocation failure. */
char *cmdline_masked_value(const char *key, const char *value);
