/* config.txt as the Raspberry Pi firmware (start.elf) reads it: which kernel, initramfs and
 * command line file one particular Pi boots, and a byte-preserving edit of the line that picks
 * its initramfs, in whichever file that line lives.
 *
 * The evaluation follows the firmware's rules (raspberrypi/documentation config_txt pages):
 * conditional filter sections, filters of different types ANDed, [all] resetting them, later
 * settings winning, `initramfs FILE ADDR` without "=", auto_initramfs, the default kernel of each
 * model, `include FILE` (the file's lines inserted at that line; start.elf takes kernel,
 * initramfs, cmdline and os_prefix from included files, only bootloader settings ignore them),
 * and os_prefix, which the firmware drops when the kernel and the board's .dtb are not found
 * under it. Whatever the firmware would not do the way a reader expects (over-long entries,
 * filters that depend on hardware state at boot, a missing include) becomes a warning naming
 * file and line; an include loop, a chain deeper than BOOTCFG_INCLUDE_DEPTH_MAX or an include
 * leaving the boot folder is an error. */
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
#define BOOTCFG_FILES_MAX           16
#define BOOTCFG_INCLUDE_DEPTH_MAX   8

/* The Pi whose view of config.txt is wanted. */
struct bootcfg_target {
        const char *model;  /* /proc/device-tree/model, e.g. "Raspberry Pi 3 Model B Rev 1.2" */
        const char *serial; /* hex, leading zeros and "0x" optional; NULL: unknown */
        bool tryboot;       /* the one-shot tryboot flag is set ([tryboot] sections apply) */
};

/* config.txt (or tryboot.txt) and every file it includes, as read from the boot folder: the
 * firmware's view is the main file with each include expanded in place. files[0] is the main
 * file; names are relative to the boot folder ("usercfg.txt", "cfg/pi4.txt"). */
struct bootcfg_file {
        char name[BOOTCFG_NAME_MAX];
        char *text;
        size_t len;
        bool missing; /* named by an include but not in the folder: the firmware skips it */
};

struct bootcfg_files {
        /* Where included files, os_prefix's kernel and .dtb are looked up; NULL when the set was
         * made from text alone (includes are then not followed and os_prefix not checked). */
        char *boot_dir;
        size_t n;
        struct bootcfg_file files[BOOTCFG_FILES_MAX];
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
         * firmware was told to bypass os_prefix. Line numbers are 1-based, 0 = the default;
         * *_src is the index in the bootcfg_files of the file holding that line. */
        char kernel[BOOTCFG_NAME_MAX];
        unsigned kernel_line, kernel_src;
        bool arm_64bit; /* the default is 1 on a Pi 4, 400, CM4 and on a Pi 5 */
        unsigned arm_64bit_line, arm_64bit_src;
        char os_prefix[BOOTCFG_NAME_MAX]; /* in force: "" when unset or ignored */
        unsigned os_prefix_line, os_prefix_src;
        /* os_prefix was set but the firmware ignores it: the kernel or the board's .dtb is not
         * under it (os_prefix_set says what was written). */
        bool os_prefix_ignored;
        char os_prefix_set[BOOTCFG_NAME_MAX];
        bool upstream_kernel; /* upstream_kernel=1: "upstream/" is the default os_prefix */
        char device_tree[BOOTCFG_NAME_MAX]; /* device_tree=, the .dtb os_prefix needs */
        unsigned device_tree_line, device_tree_src;
        char cmdline[BOOTCFG_NAME_MAX];
        unsigned cmdline_line, cmdline_src;
        bool auto_initramfs;
        unsigned auto_initramfs_line, auto_initramfs_src;

        enum bootcfg_initramfs_from initramfs_from;
        size_t n_initramfs;
        char initramfs[BOOTCFG_INITRAMFS_FILES_MAX][BOOTCFG_NAME_MAX];
        char initramfs_addr[32]; /* "followkernel", "0x…"; empty for auto/none */
        /* Lines that decided the initramfs: the initramfs/ramfsfile line, or for auto the
         * auto_initramfs, kernel= and arm_64bit= lines that named the kernel. */
        size_t n_deciding;
        unsigned deciding[BOOTCFG_DECIDING_MAX];
        unsigned deciding_src[BOOTCFG_DECIDING_MAX];

        /* For the editor: byte span of the deciding file list inside file initramfs_src. */
        unsigned initramfs_src;
        size_t initramfs_span_start;
        size_t initramfs_span_end;
        /* True when a line appended at the end of the main file would apply to this Pi. */
        bool end_applies;
        size_t n_included; /* include lines followed */
};

struct bootcfg_msg {
        unsigned src;  /* index of the file in the bootcfg_files */
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

/* ---- the files ---- */

/* Reads BOOT_DIR/MAIN ("config.txt", "tryboot.txt") and every file its include lines name,
 * nested, relative to BOOT_DIR; a named file that is absent is kept as missing (the firmware
 * skips it). Files are read without following symlinks and only when regular (fileio.h).
 * Returns 0, or with an error in DIAG naming file and line: the main file's read error
 * (-ENOENT, -ELOOP, …), -EBADMSG for a NUL byte, -EXDEV for an include whose path leaves the
 * folder ("..", a name too long), -E2BIG for more than BOOTCFG_FILES_MAX files. FS is valid
 * (and must be freed) on every return. */
int bootcfg_files_load(struct bootcfg_files *fs, const char *boot_dir, const char *main,
                       struct bootcfg_diag *diag);

/* A set of one file from memory (TEXT is copied), named NAME; includes are not followed. */
int bootcfg_files_from_text(struct bootcfg_files *fs, const char *name, const char *text,
                            size_t len);

void bootcfg_files_free(struct bootcfg_files *fs);

/* Replaces file IDX's text with a copy of TEXT (an edit, before it is judged or written). */
int bootcfg_files_set_text(struct bootcfg_files *fs, unsigned idx, const char *text, size_t len);

/* The path of file IDX as messages name it: DIAG's main name for IDX 0, else BOOT_DIR/NAME. */
void bootcfg_files_display(const struct bootcfg_files *fs, const struct bootcfg_diag *diag,
                           unsigned idx, char *buf, size_t size);

/* "usercfg.txt line 3" or "line 3" (the main file), "default" for line 0. */
void bootcfg_where(const struct bootcfg_files *fs, unsigned src, unsigned line, char *buf,
                   size_t size);

/* Whether NAME (as written in an include line or a record) is a path inside the folder: not
 * empty, relative after any leading "/", no "." or ".." part, no control characters. */
bool bootcfg_name_inside(const char *name);

/* Evaluates the set for PI. Warnings and errors go to DIAG. Returns 0 (an include loop or a
 * chain too deep is an error in DIAG, not a return), or -EINVAL when PI has no model. */
int bootcfg_evaluate_files(const struct bootcfg_files *fs, const struct bootcfg_target *pi,
                           struct bootcfg_result *res, struct bootcfg_diag *diag);

/* Evaluates TEXT (LEN bytes, need not be NUL-terminated) alone for PI: includes are not
 * followed (a warning says so). Same returns. */
int bootcfg_evaluate(const char *text, size_t len, const struct bootcfg_target *pi,
                     struct bootcfg_result *res, struct bootcfg_diag *diag);

/* One file's new content: what an edit of the set changes. */
struct bootcfg_edit {
        unsigned src; /* index of the changed file in the set */
        char *text;   /* malloc'ed, NUL-terminated */
        size_t len;
};

/* Like bootcfg_set_initramfs, on a set: the deciding line is changed in the file where it lives
 * (an included file, say), or a line is appended to the main file. The result is checked by
 * evaluating the set with the change: it must load exactly FILE, else the edit is refused
 * (-ENOTRECOVERABLE, the reason in DIAG) and nothing is returned. */
int bootcfg_files_set_initramfs(const struct bootcfg_files *fs, const struct bootcfg_target *pi,
                                const char *file, struct bootcfg_edit *edit,
                                struct bootcfg_diag *diag);

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

/* The device tree file the firmware loads for MODEL ("bcm2710-rpi-3-b.dtb"), NULL when
 * unknown. */
const char *bootcfg_board_dtb(const char *model);

/* Appends a line diff of OLD and NEW to OUT: "-N: old" / "+N: new" for each changed line.
 * Meant for edits that keep the line structure (bootcfg_set_initramfs): lines are compared
 * pairwise, extra lines at the end are additions or removals. Returns the changed line count. */
size_t bootcfg_diff(const char *old, size_t old_len, const char *new_text, size_t new_len,
                    struct strbuf *out);
