/* netrootctl upgrade: the guarded kernel upgrade (upgrade.c) from the command line. */
#include "ctl.h"
#include "tftp_fetch.h"
#include "upgrade.h"
#include "util.h"

#include <getopt.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl upgrade [--kernel VER] [--dry-run] [--model M] [--serial S]\n"
                "                          [--lock-wait SEC]\n\n"
                "Builds an initramfs for VER (default: the newest kernel this Pi's kernel file\n"
                "can boot) next to the current one, checks it, switches config.txt (or renames\n"
                "it onto initramfs7/8 with auto_initramfs), verifies it over TFTP and records it\n"
                "as a pending generation. Any failure puts the old boot back (exit 3).\n"
                "--dry-run prints the plan and the preflight verdict and changes nothing.\n");
}

/* Events go to the journal when there is one, whatever the ctl's own stderr logging is:
 * the admin sees the steps on stderr, the fleet's log collector in the journal. */
static const struct logger *events_logger(struct logger *log)
{
        if (access("/run/systemd/journal/socket", F_OK) < 0)
                return NULL; /* the steps are on stderr already */
        logger_init(log, "netrootctl", LOG_TARGET_JOURNAL);
        return log;
}

int ctl_upgrade(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"kernel", required_argument, NULL, 'k'},
            {"dry-run", no_argument, NULL, 'n'},
            {"model", required_argument, NULL, 'm'},
            {"serial", required_argument, NULL, 's'},
            {"lock-wait", required_argument, NULL, 'w'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct upgrade_options o = {
            .root = ctx->root,
            .cfg = &ctx->cfg,
            .lock_wait_sec = 5,
            .fetch = tftp_fetch_sha256,
        };
        struct logger events;
        unsigned long v;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'k':
                        o.kernel = optarg;
                        break;
                case 'n':
                        o.dry_run = true;
                        break;
                case 'm':
                        o.model = optarg;
                        break;
                case 's':
                        o.serial = optarg;
                        break;
                case 'w':
                        if (parse_uint(optarg, &v) < 0 || v > 3600) {
                                fprintf(stderr,
                                        "netrootctl: --lock-wait %s: expected seconds "
                                        "from 0 to 3600\n",
                                        optarg);
                                return CTL_EXIT_USAGE;
                        }
                        o.lock_wait_sec = (unsigned)v;
                        break;
                case 'h':
                        usage(stdout);
                        return CTL_EXIT_OK;
                default:
                        usage(stderr);
                        return CTL_EXIT_USAGE;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        o.events = events_logger(&events);
        /* An earlier run that died mid-way is rolled back before anything else is planned. */
        if (!o.dry_run) {
                r = upgrade_recover(ctx->root, &ctx->cfg, &ctx->log);
                if (r < 0) {
                        fprintf(stderr, "netrootctl: an interrupted upgrade could not be rolled "
                                        "back; not starting another\n");
                        return CTL_EXIT_FAILED;
                }
        }
        return upgrade_run(&o);
}
