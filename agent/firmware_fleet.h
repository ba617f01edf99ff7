/* Firmware across the fleet, and its promotion by canary. Every Pi netboots bootcode.bin from the
 * TFTP root; its start*.elf and fixup*.dat come from its own folder <root>/<serial>/ when
 * <serial>/start.elf exists, else from the root. A new firmware is tried on one Pi (the canary)
 * by putting it in that Pi's folder; once that Pi has booted with it and confirmed the boot, the
 * set is promoted to the root, for every Pi:
 *
 *   status    which firmware (sha256, build version) each Pi boots, the distinct versions, skew
 *             (a Pi on another version than the root's set) and mismatched start/fixup pairs;
 *   promote   the canary's set to the root, only when the canary's newest generation is `good`
 *             and every file of its set is older than that confirmation (mtime and ctime not
 *             after the record's mtime, all by the NAS's clock: a file put there after the
 *             confirmed boot was not what the Pi booted), and no start/fixup pair is mismatched
 *             anywhere. Under the cluster lock, the root set backed up first, switched with the
 *             journal of firmware_txn.h, then fetched back over TFTP and compared (a mismatch
 *             puts the backup back);
 *   rollback  the newest backup that differs from the live set put back, the same way.
 *
 * Modules return data; ctl_firmware.c prints. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "firmware_set.h"
#include "firmware_txn.h"
#include "firmware_version.h"

struct tftp_fetch_result;

/* tftp_fetch_sha256's signature, passed in (netrootd does not link libcurl). */
typedef int (*fleet_fetch_fn)(const char *server, const char *path, unsigned timeout_ms,
                              struct tftp_fetch_result *result);

struct fleet_file {
        char name[64];
        char sha256[SHA256_HEX_SIZE];
        struct firmware_version version; /* build "" for bootcode.bin, fixup*.dat */
};

struct fleet_pi {
        char serial[9];
        bool own;   /* boots <serial>/start.elf and the rest of the set from its folder */
        unsigned n; /* the start*.elf/fixup*.dat it boots */
        struct fleet_file files[FIRMWARE_SET_MAX];
        char start_sha256[SHA256_HEX_SIZE]; /* of the start.elf it boots ("" none) */
        char version[48];                   /* its build ("" unknown) */
        bool skew;                          /* another start.elf than the root's set */
        int pairs;                          /* firmware_set_pairs_check of its folder (own) */
        char pairs_why[512];
        unsigned gen;        /* newest generation (0: none) */
        char gen_status[16]; /* its status, "" when none or unreadable */
};

struct fleet_version {
        char version[48]; /* build, or "unknown" */
        char start_sha256[SHA256_HEX_SIZE];
        char date[32];
        unsigned pis;
        bool root; /* the root's set */
};

struct fleet_status {
        struct fleet_file root[FIRMWARE_SET_MAX]; /* the root's set, sorted */
        unsigned nroot;
        char root_version[48]; /* the root's start.elf build: bootcode.bin came with it */
        int root_pairs;
        char root_pairs_why[512];
        struct fleet_pi *pis; /* by serial */
        size_t npis;
        struct fleet_version versions[64];
        unsigned nversions;
        unsigned skewed, mismatched;
        int txn; /* firmware_txn_pending: 1 when a switch is pending */
        struct firmware_txn_info txn_info;
};

/* Reads TFTP_ROOT and every serial folder in it (exactly 8 lowercase hex digits). Returns 0, or
 * a negative errno with ERR saying why. Free with firmware_fleet_status_free(). */
int firmware_fleet_status(const char *tftp_root, struct fleet_status *st, char *err,
                          size_t err_size);
void firmware_fleet_status_free(struct fleet_status *st);

struct fleet_options {
        const char *tftp_root;
        const char *serial;      /* promote: the canary */
        const char *tftp_server; /* HOST[:PORT] to fetch the result back from; NULL: skipped */
        bool verify_required;    /* no server, or no answer: fail */
        fleet_fetch_fn fetch;    /* NULL: no TFTP client */
        unsigned lock_wait_sec;  /* 0: no wait */
        unsigned lock_ttl_sec;   /* 0: 600 */
};

struct fleet_result {
        unsigned gen;        /* promote: the canary's confirmed generation */
        char backup[4096];   /* the backup of the set that was live before */
        char restored[4096]; /* rollback: the backup put back */
        struct firmware_set installed;
        bool unchanged; /* the root already had that set */
        int recovered;  /* firmware_txn_recover's result before anything else */
        int verified;   /* 1 fetched back and equal, 0 skipped, <0 failed */
        char verify_note[512];
        bool undone;      /* the TFTP check failed and the backup was put back */
        int release;      /* cluster_lock_release's result (0 ok) */
        char holder[160]; /* -EBUSY: who holds the lock, until when (NAS clock) */
};

/* Each returns 0 done, a negative errno with ERR saying why (-EBUSY: locked, RES->holder;
 * -EPERM: refused by a check, nothing changed). */
int firmware_fleet_promote(const struct fleet_options *o, struct fleet_result *res, char *err,
                           size_t err_size);
int firmware_fleet_rollback(const struct fleet_options *o, struct fleet_result *res, char *err,
                            size_t err_size);
/* Only finishes or undoes an interrupted switch (RES->recovered). */
int firmware_fleet_recover(const struct fleet_options *o, struct fleet_result *res, char *err,
                           size_t err_size);

/* True for a serial folder name: exactly 8 lowercase hex digits. */
bool firmware_fleet_serial_valid(const char *s);
