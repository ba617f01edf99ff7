/* The fleet as the NAS sees it (netrootctl fleet): one row per folder of the TFTP root that is,
 * or tries to be, a Pi's serial folder. For each Pi: who it is (the identity record the agent
 * writes in <serial>/.netroot/identity), the kernel and initramfs its config.txt makes it boot
 * (evaluated for its model and serial, includes followed), its generations (pending, good, bad,
 * rolled back, their age by the NAS's clock: the record's mtime), a pending boot older than the
 * Pi's confirm timeout allows, the firmware it boots (firmware_fleet.h: its own start*.elf or
 * the root's, build versions, skew), and the space its generations take. For the root: the
 * bootcode.bin every Pi boots, the cluster lock. Read-only. Modules return data; ctl_fleet.c
 * prints. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bootcfg.h"
#include "cluster_lock.h"
#include "firmware_fleet.h"
#include "identity.h"

#define FLEET_REASON_MAX 768
#define FLEET_NAME_MAX   256

struct fleet_row {
        char name[FLEET_NAME_MAX]; /* the folder's name */
        bool misnamed;             /* a folder the bootloader never asks for */
        char expected[16];         /* misnamed: the name it would ask for ("" unknown) */

        int identity_r; /* identity_load()'s result (-ENOENT: never recorded) */
        struct identity id;
        char board[16]; /* bootcfg_board_name() of the model, "" unknown */

        int boot_r; /* 0: config.txt read and evaluated; else why not */
        char boot_error[BOOTCFG_MSG_LEN];
        char kernel[BOOTCFG_NAME_MAX]; /* as the firmware loads it, relative to the folder */
        bool kernel_present;
        char initramfs[BOOTCFG_NAME_MAX]; /* the first file, "" none */
        bool initramfs_present;

        unsigned gens, pending, good, bad, rolled_back, unconfirmed;
        unsigned newest;          /* newest generation, 0 none */
        int newest_status;        /* enum gen_status, -1 unreadable */
        char newest_kernel[128];  /* its kernel_to */
        long newest_age;          /* seconds since its record was last written (NAS clock) */
        unsigned pending_gen;     /* the pending one, 0 none */
        long pending_age;         /* seconds since the pending generation was made */
        unsigned confirm_timeout; /* seconds: the Pi's (identity), else the default */
        bool pending_overdue;
        uint64_t gen_bytes; /* disk space of .netroot/gen-* */

        const struct fleet_pi *fw; /* in fleet_view.fw; NULL for a misnamed folder */

        bool attention;
        char reason[FLEET_REASON_MAX]; /* "; "-separated */
};

struct fleet_view {
        char tftp_root[4096];
        time_t now;
        int fw_r; /* firmware_fleet_status()'s result */
        char fw_error[512];
        struct fleet_status fw;
        const struct fleet_file *bootcode; /* in fw.root; NULL when the root has none */
        int lock_r;                        /* cluster_lock_read(): 0 held, -ENOENT free */
        struct cluster_lock_holder lock;
        bool lock_stale;
        struct fleet_row *rows; /* misnamed ones included, sorted by name */
        size_t n;
        unsigned pis, misnamed, attention_rows;
        bool attention; /* any row, or the root (reason below) */
        char reason[FLEET_REASON_MAX];
};

struct fleet_view_options {
        const char *tftp_root;
        unsigned confirm_timeout; /* seconds, for a Pi without an identity record */
        unsigned reboot_grace;    /* seconds a reboot may take on top of the confirm timeout */
        time_t now;               /* 0: time(NULL) */
};

/* Reads the TFTP root. Returns 0 (V filled, free with fleet_view_free) or a negative errno when
 * the root itself cannot be listed (ERR says why). */
int fleet_view_load(const struct fleet_view_options *o, struct fleet_view *v, char *err,
                    size_t err_size);
void fleet_view_free(struct fleet_view *v);

/* Why NAME can never be a serial folder the bootloader asks for ("" when it is one, or when it
 * does not look like a serial at all: returns 0 then, 1 when misnamed). EXPECTED gets the name
 * the bootloader would ask for when it can be told. */
int fleet_name_check(const char *name, char *why, size_t why_size, char expected[16]);
