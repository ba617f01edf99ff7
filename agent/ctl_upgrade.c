/* netrootctl upgrade: the guarded kernel upgrade (upgrade.c) from the command line. This file is
 * the engine's report (report.h) on the terminal: the plan and the verdict on stdout, the steps
 * and their progress on stderr, and with --json one result object on stdout. */
#include "bootcheck.h"
#include "ctl.h"
#include "generation.h"
#include "json.h"
#include "packaging.h"
#include "strbuf.h"
#include "tftp_fetch.h"
#include "tryboot.h"
#include "txn.h"
#include "upgrade.h"
#include "util.h"

#include <getopt.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl upgrade [--kernel VER] [--dry-run] [--json] [--model M]\n"
                "                          [--serial S] [--lock-wait SEC]\n\n"
                "Builds an initramfs for VER (default: the newest kernel this Pi's kernel file\n"
                "can boot) next to the current one, checks it, switches the config file that\n"
                "decides (config.txt or the file it includes; or renames it onto initramfs7/8\n"
                "with auto_initramfs), verifies it over TFTP and records it as a pending\n"
                "generation. Any failure puts the old boot back (exit 3). --dry-run prints the\n"
                "plan and the preflight verdict and changes nothing. --json prints one result\n"
                "object on stdout (the progress goes to stderr).\n");
}

static void on_plan(void *userdata, const struct upgrade_plan *p)
{
        const struct ctl_term *t = userdata;
        FILE *out = t->out;
        const struct boot_view *v = p->view;

        if (p->refusal[0] || !v || !p->pkg)
                return;
        fprintf(out, "plan:\n");
        fprintf(out, "  pi:              %s, serial folder %s\n", v->model, v->serial);
        fprintf(out, "  boot folder:     %s%s\n", v->boot_dir,
                v->boot_dir_auto ? " (boot_dir = auto)" : "");
        fprintf(out, "  packaging:       %s (%s)\n", p->pkg->name, p->pkg->switch_note);
        fprintf(out, "  kernel file:     %s (%s)\n", v->fl.kernel_file, v->fl.description);
        fprintf(out, "  kernel:          %s -> %s\n", p->kver_from[0] ? p->kver_from : "?",
                p->kver);
        if (p->newer_note[0])
                fprintf(out, "  note:            %s\n", p->newer_note);
        fprintf(out, "  initramfs:       %s -> %s",
                v->fl.initramfs_current[0] ? v->fl.initramfs_current : "(none)", p->final);
        if (p->trial)
                fprintf(out, " (named in tryboot.txt; config.txt unchanged until the trial boot "
                             "is confirmed)\n");
        else if (p->config_name[0])
                fprintf(out, " (%s edited)\n", upgrade_plan_edited(p));
        else
                fprintf(out, " (replaced by rename; the old one kept in the generation)\n");
        fprintf(out, "  build:           mkinitramfs -o %s/%s %s", v->boot_sys, p->new_file,
                p->kver);
        if (p->chroot_build)
                fprintf(out, " (in chroot %s)", p->o->root);
        fprintf(out, "\n");
        if (p->tftp_server[0])
                fprintf(out, "  tftp verify:     %s (%s/%s, %s/%s)\n", p->tftp_server, v->serial,
                        p->trial
                            ? TRYBOOT_TXT
                            : (upgrade_plan_edited(p)[0] ? upgrade_plan_edited(p) : "config.txt"),
                        v->serial, p->final);
        else
                fprintf(out, "  tftp verify:     %s\n", p->tftp_note);
        fprintf(out, "  shared firmware: %s\n",
                p->shared_dir ? p->shared_dir : "not managed (no shared_dir)");
}

static void on_preflight(void *userdata, const struct upgrade_plan *p, bool dry_run)
{
        const struct ctl_term *t = userdata;
        FILE *out = t->out;

        fprintf(out, "preflight:\n");
        if (p->refusal[0])
                fprintf(out, "  FAIL  plan: %s\n", p->refusal);
        for (size_t i = 0; i < p->n_checks; i++)
                fprintf(out, "  %-4s  %s: %s\n", p->checks[i].ok ? "ok" : "FAIL", p->checks[i].name,
                        p->checks[i].detail);
        if (!upgrade_plan_ok(p))
                fprintf(out, "verdict: refused; nothing was changed\n");
        else
                fprintf(out, "verdict: ok%s\n", dry_run ? " (dry run: nothing was changed)" : "");
        fflush(out);
}

static void on_step(void *userdata, unsigned idx, unsigned total, const char *name,
                    const char *what)
{
        (void)userdata;
        fprintf(stderr, "step %u/%u: %s: %s\n", idx + 1, total, name, what);
}

static void on_note(void *userdata, const char *text)
{
        (void)userdata;
        fprintf(stderr, "  %s\n", text);
}

static void print_done(FILE *out, const struct upgrade_plan *p, const struct upgrade_result *r)
{
        if (p->trial)
                fprintf(out,
                        "staged for a trial boot: kernel %s, initramfs %s named in tryboot.txt, "
                        "generation %u pending; config.txt is unchanged\n"
                        "next: sudo reboot '0 tryboot' boots the new initramfs once; the boot "
                        "confirmation makes it config.txt after the boot is confirmed. A plain "
                        "reset or reboot falls back to the old boot (rollback: netrootctl "
                        "rollback)\n",
                        p->kver, p->final, r->gen);
        else
                fprintf(out,
                        "upgraded: kernel %s, initramfs %s, generation %u pending until the boot "
                        "is confirmed (rollback: netrootctl rollback)\n",
                        p->kver, p->final, r->gen);
}

static void on_result(void *userdata, const struct upgrade_plan *p, const struct upgrade_result *r)
{
        const struct ctl_term *t = userdata;

        if (r->recovered)
                fprintf(stderr, "netrootctl: %s\n", r->recovered_note);
        switch (r->outcome) {
        case UPGRADE_DONE:
                if (!p->o->dry_run)
                        print_done(t->out, p, r);
                break;
        case UPGRADE_REFUSED:
                /* The preflight printed its verdict; other refusals are said here. */
                if (r->failed_step[0] || !p->view || upgrade_plan_ok(p))
                        fprintf(stderr, "netrootctl: %s\n", r->reason);
                break;
        case UPGRADE_ROLLED_BACK: {
                char why[2048];

                fprintf(stderr, "netrootctl: step %s failed: %s\n", r->failed_step, r->reason);
                /* Said only when the boot as a whole passes (bootcheck.h). */
                if (boot_check_root(p->o->root, p->o->cfg, NULL, why, sizeof(why)) == 1)
                        fprintf(stderr,
                                "netrootctl: rolled back: %s; the Pi boots what it booted "
                                "before\n",
                                r->rollback);
                else
                        fprintf(stderr,
                                "netrootctl: rolled back: %s; CRITICAL: the Pi would NOT boot: "
                                "%s\n",
                                r->rollback, why);
                break;
        }
        case UPGRADE_ROLLBACK_FAILED:
                if (r->failed_step[0])
                        fprintf(stderr, "netrootctl: step %s failed: %s\n", r->failed_step,
                                r->reason);
                else
                        fprintf(stderr, "netrootctl: %s\n", r->reason);
                fprintf(stderr,
                        "netrootctl: ROLLBACK FAILED: %s\nnetrootctl: the journal %s/%s/%s is "
                        "kept; the next netrootctl run retries the rollback\n",
                        r->rollback[0] ? r->rollback : r->reason,
                        p->view ? p->view->boot_dir : "<boot folder>", GEN_STORE, TXN_FILE);
                break;
        default:
                break;
        }
        fflush(stdout);
}

static const char *outcome_name(enum upgrade_outcome o)
{
        switch (o) {
        case UPGRADE_DONE:
                return "done";
        case UPGRADE_REFUSED:
                return "refused";
        case UPGRADE_ROLLED_BACK:
                return "rolled-back";
        case UPGRADE_ROLLBACK_FAILED:
                return "rollback-failed";
        default:
                return "usage";
        }
}

static void print_json(const struct upgrade_options *o, const struct upgrade_result *r)
{
        struct strbuf sb = {0};

        sb_puts(&sb, "{\"outcome\": ");
        json_put_string(&sb, outcome_name(r->outcome));
        sb_printf(&sb, ", \"dry_run\": %s, \"generation\": %u, \"kernel\": ",
                  o->dry_run ? "true" : "false", r->gen);
        json_put_string(&sb, o->kernel ? o->kernel : "");
        sb_puts(&sb, ", \"failed_step\": ");
        json_put_string(&sb, r->failed_step);
        sb_puts(&sb, ", \"reason\": ");
        json_put_string(&sb, r->reason);
        sb_puts(&sb, ", \"rollback\": ");
        json_put_string(&sb, r->rollback);
        sb_printf(&sb, ", \"recovered\": %s}\n", r->recovered ? "true" : "false");
        if (!sb.oom)
                fputs(sb_str(&sb), stdout);
        sb_free(&sb);
}

/* Events go to the journal when there is one, whatever the ctl's own stderr logging is: the
 * admin sees the steps on stderr, the fleet's log collector in the journal. */
const struct logger *ctl_events_logger(struct logger *log)
{
        if (access("/run/systemd/journal/socket", F_OK) < 0)
                return NULL;
        logger_init(log, "netrootctl", LOG_TARGET_JOURNAL);
        return log;
}

int ctl_upgrade_exit(enum upgrade_outcome o)
{
        return o == UPGRADE_ROLLBACK_FAILED ? CTL_EXIT_FAILED : (int)o;
}

const struct report_ops ctl_upgrade_report_ops = {
    .plan = on_plan,
    .preflight = on_preflight,
    .step = on_step,
    .note = on_note,
    .result = on_result,
};

int ctl_upgrade(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"kernel", required_argument, NULL, 'k'}, {"dry-run", no_argument, NULL, 'n'},
            {"json", no_argument, NULL, 'j'},         {"model", required_argument, NULL, 'm'},
            {"serial", required_argument, NULL, 's'}, {"lock-wait", required_argument, NULL, 'w'},
            {"help", no_argument, NULL, 'h'},         {},
        };
        struct upgrade_options o = {
            .root = ctx->root,
            .cfg = &ctx->cfg,
            .lock_wait_sec = 5,
            .command = "netrootctl upgrade",
            .fetch = tftp_fetch_sha256,
        };
        struct ctl_term t = {.out = stdout};
        struct report rep = {.ops = &ctl_upgrade_report_ops, .userdata = &t};
        struct upgrade_result res;
        struct logger events;
        unsigned long v;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'k':
                        o.kernel = optarg;
                        break;
                case 'n':
                        o.dry_run = true;
                        break;
                case 'j':
                        t.json = true;
                        t.out = stderr;
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
                                        "netrootctl: --lock-wait %s: expected seconds from 0 to "
                                        "3600\n",
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
        o.events = ctl_events_logger(&events);
        (void)upgrade_run(&o, &rep, &res);
        /* Only when the run wrote the boot folder anyway (a generation): a refusal changes
         * nothing there. */
        if (!o.dry_run && res.gen > 0)
                ctl_record_identity(ctx, o.model, o.serial, "upgrade");
        if (t.json)
                print_json(&o, &res);
        return ctl_upgrade_exit(res.outcome);
}
