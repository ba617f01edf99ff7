/* netrootctl confirm: the boot confirmation (confirm.c) once per boot, from
 * netroot-confirm.service, or by hand. */
#include "confirm.h"
#include "ctl.h"
#include "util.h"

#include <getopt.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl confirm [--wait] [--no-reboot]\n\n"
                "Decides a pending generation (after a guarded upgrade): good once the pending\n"
                "kernel has run with a healthy iSCSI root (netrootd's status) for [upgrade]\n"
                "confirm_after; bad when another kernel booted or the root was not healthy\n"
                "within [boot] confirm_timeout of the boot: the boot folder then goes back to\n"
                "the generation saved before the upgrade, and with [boot] on_bad =\n"
                "rollback-and-reboot the Pi reboots into it (not with --no-reboot).\n"
                "Without --wait it decides only what it can decide now.\n"
                "Exit status: 0 good, nothing pending, or not decided yet; 1 bad.\n");
}

static void print_note(void *userdata, const char *text)
{
        (void)userdata;
        printf("%s\n", text);
        fflush(stdout);
}

int ctl_confirm(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"wait", no_argument, NULL, 'w'},
            {"no-reboot", no_argument, NULL, 'R'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        static const struct report_ops ops = {.note = print_note};
        struct report rep = {.ops = &ops};
        struct confirm_options o = {.root = ctx->root, .cfg = &ctx->cfg, .rep = &rep};
        struct confirm_result r;
        struct logger events;
        int c;

        /* A sandbox tree never reboots the machine it runs on. */
        o.may_reboot = !ctx->root || !ctx->root[0] || streq(ctx->root, "/");
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'w':
                        o.wait = true;
                        break;
                case 'R':
                        o.may_reboot = false;
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
        o.events = ctl_events_logger(&events);
        if (confirm_run(&o, &r) < 0) {
                fprintf(stderr, "netrootctl: %s\n", r.reason);
                return CTL_EXIT_FAILED;
        }
        /* A boot decided (the boot folder written anyway): who this Pi is, for the NAS. */
        if (r.outcome == CONFIRM_GOOD || r.outcome == CONFIRM_BAD)
                ctl_record_identity(ctx, NULL, NULL, "confirm");
        if (r.outcome == CONFIRM_NOTHING)
                printf("%s\n", r.reason);
        else
                printf("generation %u (kernel %s): %s: %s\n", r.gen, r.kernel,
                       confirm_outcome_to_string(r.outcome), r.reason);
        return r.outcome == CONFIRM_BAD || r.outcome == CONFIRM_BAD_FAILED ? CTL_EXIT_FAILED
                                                                           : CTL_EXIT_OK;
}
