/* netrootctl history: the generations saved in a Pi's boot folder, newest first. Works offline
 * on the folder from another machine with --boot-dir. */
#include "ctl.h"
#include "generation.h"
#include "json.h"
#include "rootpath.h"
#include "strbuf.h"
#include "bootlock.h"
#include "txn.h"
#include "util.h"

#include <getopt.h>

static void usage(FILE *out)
{
        fprintf(out, "Usage: netrootctl history [--json] [--boot-dir DIR]\n\n"
                     "Lists the generations in DIR/.netroot (default: [agent] boot_dir), newest\n"
                     "first, and an upgrade in progress or interrupted. Read only: it changes\n"
                     "nothing (an interrupted upgrade is rolled back by the next command that\n"
                     "changes the boot folder). Exits 1 when a record cannot be read (the error\n"
                     "names file:line).\n");
}

static void json_field(struct strbuf *sb, const char *key, const char *value, bool last)
{
        sb_printf(sb, "\"%s\": ", key);
        json_put_string(sb, value);
        sb_puts(sb, last ? "" : ", ");
}

int ctl_history(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"json", no_argument, NULL, 'j'},
            {"boot-dir", required_argument, NULL, 'b'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        _cleanup_free_ unsigned *gens = NULL;
        _cleanup_free_ char *boot = NULL;
        const char *boot_arg = NULL;
        struct gen_pending pend;
        struct txn t;
        struct error e;
        struct strbuf sb = {0};
        char txn_state[900] = "";
        bool json = false, first = true, bad = false, have_pending, txn_held = false;
        size_t n;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'b':
                        boot_arg = optarg;
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
        boot_arg = boot_arg ? boot_arg : ctx->cfg.agent.boot_dir;
        boot = root_path_arg(ctx->root, boot_arg);
        if (!boot)
                return CTL_EXIT_FAILED;
        r = gen_list(boot, &gens, &n);
        if (r < 0) {
                fprintf(stderr, "netrootctl: %s/%s: %s\n", boot, GEN_STORE, strerror(-r));
                return CTL_EXIT_FAILED;
        }
        r = gen_pending_read(boot, &pend, &e);
        have_pending = r == 0;
        if (r < 0 && r != -ENOENT) {
                fprintf(stderr, "netrootctl: %s\n", error_text(&e));
                bad = true;
        }
        r = txn_read(boot, &t, &e);
        if (r == 0) {
                struct boot_lock_holder h;
                bool held =
                    boot_lock_holder(ctx->root, ctx->cfg.agent.run_dir, &h) == 1 && h.pid == t.pid;

                snprintf(txn_state, sizeof(txn_state),
                         "%s: upgrade to %s, generation %u, step %s (%s pid %ld, since %s)%s",
                         held ? "in progress" : "interrupted", t.kernel, t.gen, t.step,
                         t.command[0] ? t.command : "netrootctl", t.pid, t.started,
                         held ? ""
                              : "; the next command that changes the boot folder rolls it "
                                "back");
                txn_held = held;
        } else if (r != -ENOENT) {
                fprintf(stderr, "netrootctl: %s\n", error_text(&e));
                bad = true;
        }

        if (json)
                sb_puts(&sb, "{\"boot_dir\": ");
        if (json) {
                json_put_string(&sb, boot);
                if (have_pending)
                        sb_printf(&sb, ", \"pending\": %u", pend.gen);
                else
                        sb_puts(&sb, ", \"pending\": null");
                if (txn_state[0]) {
                        sb_printf(&sb,
                                  ", \"transaction\": {\"in_progress\": %s, \"gen\": %u, "
                                  "\"pid\": %ld, \"step\": ",
                                  txn_held ? "true" : "false", t.gen, t.pid);
                        json_put_string(&sb, t.step);
                        sb_puts(&sb, ", \"text\": ");
                        json_put_string(&sb, txn_state);
                        sb_puts(&sb, "}");
                } else {
                        sb_puts(&sb, ", \"transaction\": null");
                }
                sb_puts(&sb, ", \"generations\": [");
        } else if (n == 0) {
                printf("no generations in %s/%s\n", boot, GEN_STORE);
        } else {
                printf("%-5s %-20s %-12s %-40s %s\n", "GEN", "CREATED", "STATUS", "KERNEL",
                       "REASON");
        }
        if (!json && txn_state[0])
                printf("transaction %s\n", txn_state);
        for (size_t i = n; i-- > 0;) {
                struct gen_record rec;
                char kern[300];

                r = gen_record_load(boot, gens[i], &rec, &e);
                if (r < 0) {
                        fprintf(stderr, "netrootctl: %s\n", error_text(&e));
                        bad = true;
                        continue;
                }
                snprintf(kern, sizeof(kern), "%s -> %s", rec.kernel_from[0] ? rec.kernel_from : "?",
                         rec.kernel_to);
                if (!json) {
                        printf("%-5u %-20s %-12s %-40s %s\n", rec.gen, rec.created,
                               gen_status_to_string(rec.status), kern, rec.reason);
                        continue;
                }
                sb_printf(&sb, "%s\n  {\"gen\": %u, ", first ? "" : ",", rec.gen);
                first = false;
                json_field(&sb, "created", rec.created, false);
                json_field(&sb, "status", gen_status_to_string(rec.status), false);
                json_field(&sb, "kernel_from", rec.kernel_from, false);
                json_field(&sb, "kernel_to", rec.kernel_to, false);
                json_field(&sb, "initramfs_from", rec.initramfs_from, false);
                json_field(&sb, "initramfs_to", rec.initramfs_to, false);
                json_field(&sb, "packaging", rec.packaging, false);
                json_field(&sb, "trial", rec.trial, false);
                json_field(&sb, "host", rec.host, false);
                json_field(&sb, "reason", rec.reason, true);
                sb_puts(&sb, "}");
        }
        if (json) {
                sb_puts(&sb, "\n]}\n");
                if (!sb.oom)
                        fputs(sb_str(&sb), stdout);
                sb_free(&sb);
        }
        return bad ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}
