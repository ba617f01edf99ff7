/* config.txt as the Raspberry Pi firmware reads it: which kernel, initramfs and command line file
 * one particular Pi boots, and a byte-preserving edit of the line that picks its initramfs.
 *
 * The evaluation follows the firmware's rules (raspberrypi/documentation config_txt pages):
 * conditional filter sections, filters of different types ANDed, [all] resetting them, later
 * settings winning, `initramfs FILE ADDR` without "=", auto_initramfs, os_prefix. Whatever the
 * firmware would not do the way a reader expects (include, over-long lines, filters that depend
 * on hardware state at boot) becomes a warning naming file and line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* The firmware silently truncates longer lines. */
#define BOOTCFG_LINE_MAX            98
#define BOOTCFG_NAME_MAX            256
#define BOOTCFG_INITRAMFS_FILES_MAX 8
#define BOOTCFG_DECIDING_MAX        4
#define BOOTCFG_MSG_MAX             48
#define BOOTCFG_MSG_LEN             400

/* The Pi whose view of config.txt is wanted. */
struct bootcfg_target {
        const char *model;  /* /proc/device-tree/model, e.g. "Raspberry Pi 3 Model B Rev 1.2" */
        const char *serial; /* hex, leading zeros and "0x" optional; NULL: unknown */
        bool tryboot;       /* the one-shot tryboot flag is set ([tryboot] sections apply) */
};

enum bootcfg_initramfs_from {
        BOOTCFG_INITRAMFS_NONE,      /* no initramfs is loaded */
        BOOTCFG_INITRAMFS_LINE,      /* an `initramfs FILE ADDR` line */
        BOOTCFG_INITRAMFS_RAMFSFILE, /* the legacy ramfsfile= key */
        BOOTCFG_INITRAMFS_AUTO,      /* auto_initramfs=1, named after the kernel file */
};

struct bootcfg_result {
        char board[32]; /* the model family the filters were judged for, e.g. "pi3+" */

        /* File names relative to the boot folder, os_prefix applied; a leading "/" means the
         * firmware was told to bypass os_prefix. Line numbers are 1-based, 0 = the default. */
        char kernel[BOOTCFG_NAME_MAX];
        unsigned kernel_line;
        bool arm_64bit;
        unsigned arm_64bit_line;
        char os_prefix[BOOTCFG_NAME_MAX];
        unsigned os_prefix_line;
        char cmdline[BOOTCFG_NAME_MAX];
        unsigned cmdline_line;
        bool auto_initramfs;
        unsigned auto_initramfs_line;

        enum bootcfg_initramfs_from initramfs_from;
        size_t n_initramfs;
        char initramfs[BOOTCFG_INITRAMFS_FILES_MAX][BOOTCFG_NAME_MAX];
        char initramfs_addr[32]; /* "followkernel", "0x…"; empty for auto/none */
        /* Lines that decided the initramfs: the initramfs/ramfsfile line, or for auto the
         * auto_initramfs, kernel= and arm_64bit= lines that named the kernel. */
        size_t n_deciding;
        unsigned deciding[BOOTCFG_DECIDING_MAX];

        /* For the editor: byte span of the deciding file list inside the text. */
        size_t initramfs_span_start;
        size_t initramfs_span_end;
        /* True when a line appended at the end of the file would apply to this Pi. */
        bool end_applies;
};

struct bootcfg_msg {
        unsigned line; /* 0: about the file as a whole */
        bool error;
        char text[BOOTCFG_MSG_LEN]; /* "FILE:LINE: …" */
};

struct bootcfg_diag {
        char file[256]; /* the name messages start with; "config.txt" when empty */
        size_t n;
        size_t dropped; /* messages beyond BOOTCFG_MSG_MAX */
        struct bootcfg_msg msgs[BOOTCFG_MSG_MAX];
};

void bootcfg_diag_init(struct bootcfg_diag *diag, const char *file);
/* The first error message, or NULL. */
const char *bootcfg_diag_error(const struct bootcfg_diag *diag);

/* Model string -> filter family ("pi3", "pi3+", "pi4", "pi02", …), NULL when unknown. */
const char *bootcfg_board_name(const char *model);

/* Evaluates TEXT (LEN bytes, need not be NUL-terminated) for PI. Warnings go to DIAG.
 * Returns 0, or -EINVAL when PI has no model. */
int bootcfg_evaluate(const char *text, size_t len, const struct bootcfg_target *pi,
                     struct bootcfg_result *res, struct bootcfg_diag *diag);

/* Makes PI boot initramfs FILE (a name as written in config.txt, relative to os_prefix).
 * Changes only the deciding initramfs/ramfsfile line (its file list; address, spacing and line
 * ending kept), or when there is none appends `initramfs FILE followkernel`, under an added
 * "[all]" when the file ends in a section that does not apply to PI. Every other byte stays.
 * *OUT gets a newly allocated, NUL-terminated copy of the new text.
 * Returns 1 when the text changed, 0 when FILE was already set (OUT is a copy), or:
 *   -EINVAL      FILE is empty or holds white space, ',' or control characters
 *   -E2BIG       the changed line would exceed BOOTCFG_LINE_MAX
 *   -EOPNOTSUPP  auto_initramfs picks the initramfs by the kernel's name: no line to change
 *   -ENOMEM
 * DIAG->msgs holds the reason of a refusal as an error. */
int bootcfg_set_initramfs(const char *text, size_t len, const struct bootcfg_target *pi,
                          const char *file, char **out, size_t *out_len, struct bootcfg_diag *diag);

/* Appends a line diff of OLD and NEW to OUT: "-N: old" / "+N: new" for each changed line.
 * Meant for edits that keep the line structure (bootcfg_set_initramfs): lines are compared
 * pairwise, extra lines at the end are additions or removals. Returns the changed line count. */
size_t bootcfg_diff(const char *old, size_t old_len, const char *new_text, size_t new_len,
                    struct strbuf *out);
