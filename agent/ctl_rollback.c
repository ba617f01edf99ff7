/* netrootctl rollback: put a Pi's boot folder back to a saved generation. Works offline on the
 * folder from another machine (the NAS) with --boot-dir, when the Pi itself cannot boot. */
#include "bootcheck.h"
#include "ctl.h"
#include "rootpath.h"
#include "rollback.h"
#include "util.h"

#include <getopt.h>

static void print_note(void *userdata, const char *text)
{
        (void)userdata;
        printf("%s\n", text);
        fflush(stdout);
}

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl rollback [--to N] [--boot-dir DIR] [--shared-dir DIR]\n"
                "                           [--firmware] [--force] [--dry-run]\n\n"
                "Restores generation N (default: the newest pending or good one): the files it\n"
                "kept (config.txt and every file it includes, cmdline.txt, tryboot.txt, the\n"
                "initramfs the upgrade replaced), each checked against its sha256 before any\n"
                "is put back, config.txt last. The restored initramfs must pass the initrd\n"
                "check unless --force. --firmware also restores the shared firmware set\n"
                "(bootcode.bin, start*.elf, fixup*.dat) from the generation's backup, under\n"
                "the cluster lock.\n");
}

/* Rolls back, then says whether the Pi boots the result (the whole boot's check, bootcheck.h).
 * BOOT_ARG: a folder reached from elsewhere (the NAS): the modules and the live iSCSI login to
 * check it against are the Pi's, so the check is left to the Pi. */
static int run_and_check(struct ctl_context *ctx, const struct rollback_options *o,
                         const char *boot_arg)
{
        static const struct report_ops ops = {.note = print_note};
        struct report rep = {.ops = &ops};
        struct rollback_result res;
        char why[2048];

        if (rollback_run(o, &rep, &res) < 0) {
                fprintf(stderr, "netrootctl: %s\n", res.reason);
                return res.outcome == ROLLBACK_USAGE ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
        }
        if (o->dry_run)
                return CTL_EXIT_OK;
        if (boot_arg) {
                printf("restored; whether the Pi boots it is checked on the Pi itself "
                       "(netrootctl hook check)\n");
                return CTL_EXIT_OK;
        }
        if (boot_check_root(ctx->root, &ctx->cfg, NULL, why, sizeof(why)) != 1) {
                fprintf(stderr,
                        "netrootctl: CRITICAL: generation %u restored, but the Pi would NOT boot: "
                        "%s\nnetrootctl: netrootctl history lists the other generations\n",
                        res.target, why);
                return CTL_EXIT_FAILED;
        }
        printf("the Pi boots what it booted before: %s\n", why);
        return CTL_EXIT_OK;
}

int ctl_rollback(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"to", required_argument, NULL, 't'},
            {"boot-dir", required_argument, NULL, 'b'},
            {"shared-dir", required_argument, NULL, 'S'},
            {"firmware", no_argument, NULL, 'F'},
            {"force", no_argument, NULL, 'f'},
            {"dry-run", no_argument, NULL, 'n'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct rollback_options o = {.root = ctx->root, .run_dir = ctx->cfg.agent.run_dir};
        _cleanup_free_ char *boot = NULL, *shared = NULL;
        const char *boot_arg = NULL, *shared_arg = NULL;
        struct logger events;
        unsigned long v;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 't':
                        if (parse_uint(optarg, &v) < 0 || v == 0 || v > 1000000000UL) {
                                fprintf(stderr,
                                        "netrootctl: --to %s: expected a generation "
                                        "number\n",
                                        optarg);
                                return CTL_EXIT_USAGE;
                        }
                        o.to = (unsigned)v;
                        break;
                case 'b':
                        boot_arg = optarg;
                        break;
                case 'S':
                        shared_arg = optarg;
                        break;
                case 'F':
                        o.firmware = true;
                        break;
                case 'f':
                        o.force = true;
                        break;
                case 'n':
                        o.dry_run = true;
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
        boot = root_path_arg(ctx->root, boot_arg ? boot_arg : ctx->cfg.agent.boot_dir);
        if (shared_arg || ctx->cfg.upgrade.shared_dir[0])
                shared =
                    root_path_arg(ctx->root, shared_arg ? shared_arg : ctx->cfg.upgrade.shared_dir);
        if (!boot)
                return CTL_EXIT_FAILED;
        o.boot_dir = boot;
        o.shared_dir = shared;
        o.events = ctl_events_logger(&events);
        return run_and_check(ctx, &o, boot_arg);
}
