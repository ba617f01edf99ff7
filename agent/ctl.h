/* Shared by netrootctl's subcommands: the parsed global options and loaded configuration.
 * Each subcommand lives in ctl_<name>.c and parses its own options (getopt_long, optind = 1). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "log.h"

/* Exit codes, the same for every subcommand (documented in netrootctl(8)). */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAILED = 1,     /* a check failed or the action was refused */
        CTL_EXIT_USAGE = 2,      /* bad command line or configuration */
        CTL_EXIT_ROLLED_BACK = 3 /* an upgrade failed and the old boot was put back */
};

struct ctl_context {
        const char *root;       /* --root DIR, NULL for the real machine */
        char config_path[4096]; /* the file actually read (root prefix applied) */
        bool config_missing;    /* no config file: defaults are in effect */
        struct netroot_config cfg;
        struct logger log;
};

typedef int (*ctl_command_fn)(struct ctl_context *ctx, int argc, char **argv);

int ctl_status(struct ctl_context *ctx, int argc, char **argv);
int ctl_check_initrd(struct ctl_context *ctx, int argc, char **argv);
int ctl_bootcfg(struct ctl_context *ctx, int argc, char **argv);
int ctl_probe(struct ctl_context *ctx, int argc, char **argv);
int ctl_doctor(struct ctl_context *ctx, int argc, char **argv);
int ctl_upgrade(struct ctl_context *ctx, int argc, char **argv);
int ctl_rollback(struct ctl_context *ctx, int argc, char **argv);
int ctl_history(struct ctl_context *ctx, int argc, char **argv);
int ctl_hook(struct ctl_context *ctx, int argc, char **argv);
int ctl_confirm(struct ctl_context *ctx, int argc, char **argv);

/* Shared by the commands that run the upgrade engine (ctl_upgrade.c). */
struct logger;
struct report_ops;
enum upgrade_outcome;
/* The journal logger when a journal is there, else NULL (the terminal has it all). */
const struct logger *ctl_events_logger(struct logger *log);
/* The exit status for an upgrade's outcome. */
int ctl_upgrade_exit(enum upgrade_outcome o);
/* The terminal's report of an upgrade (ctl_upgrade.c); its userdata is a struct ctl_term. */
struct ctl_term {
        bool json;
        FILE *out; /* the plan and verdict: stdout, or stderr when stdout carries JSON */
};
extern const struct report_ops ctl_upgrade_report_ops;
int ctl_firmware(struct ctl_context *ctx, int argc, char **argv);
/* The TFTP root of --tftp-root ROOT_ARG, else [upgrade] shared_dir, under --root (ctl_firmware.c):
 * CTL_EXIT_OK with *ROOT malloc'ed, or the exit status (the usage error said). */
int ctl_tftp_root(struct ctl_context *ctx, const char *root_arg, char **root);
int ctl_fleet(struct ctl_context *ctx, int argc, char **argv);
/* Writes the identity record (identity.h) into the boot folder; a failure is only a warning. */
void ctl_record_identity(struct ctl_context *ctx, const char *model, const char *serial,
                         const char *command);
