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

/* What history shows: the store, the pending generation, a transaction. */
struct history {
        char *boot;
        unsigned *gens;
        size_t n;
        struct gen_pending pend;
        bool have_pending;
        struct txn t;
        char txn_state[900];
        bool txn_held;
        bool json, bad;
        struct strbuf sb;
};

/* Returns -1 to go on, or the exit code. */
static int parse_options(int argc, char **argv, bool *json, const char **boot_arg)
{
        static const struct option options[] = {
            {"json", no_argument, NULL, 'j'},
            {"boot-dir", required_argument, NULL, 'b'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'j':
                        *json = true;
                        break;
                case 'b':
                        *boot_arg = optarg;
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
        return -1;
}

/* The pending file and the transaction journal, and whether its process still runs. */
static void read_state(const struct ctl_context *ctx, struct history *h)
{
        struct error e;
        int r;

        r = gen_pending_read(h->boot, &h->pend, &e);
        h->have_pending = r == 0;
        if (r < 0 && r != -ENOENT) {
                fprintf(stderr, "netrootctl: %s\n", error_text(&e));
                h->bad = true;
        }
        r = txn_read(h->boot, &h->t, &e);
        if (r == 0) {
                struct boot_lock_holder bh;
                bool held = boot_lock_holder(ctx->root, ctx->cfg.agent.run_dir, &bh) == 1 &&
                            bh.pid == h->t.pid;

                snprintf(h->txn_state, sizeof(h->txn_state),
                         "%s: upgrade to %s, generation %u, step %s (%s pid %ld, since %s)%s",
                         held ? "in progress" : "interrupted", h->t.kernel, h->t.gen, h->t.step,
                         h->t.command[0] ? h->t.command : "netrootctl", h->t.pid, h->t.started,
                         held ? ""
                              : "; the next command that changes the boot folder rolls it "
                                "back");
                h->txn_held = held;
        } else if (r != -ENOENT) {
                fprintf(stderr, "netrootctl: %s\n", error_text(&e));
                h->bad = true;
        }
}

static void print_head(struct history *h)
{
        struct strbuf *sb = &h->sb;

        if (!h->json) {
                if (h->n == 0)
                        printf("no generations in %s/%s\n", h->boot, GEN_STORE);
                else
                        printf("%-5s %-20s %-12s %-40s %s\n", "GEN", "CREATED", "STATUS", "KERNEL",
                               "REASON");
                if (h->txn_state[0])
                        printf("transaction %s\n", h->txn_state);
                return;
        }
        sb_puts(sb, "{\"boot_dir\": ");
        json_put_string(sb, h->boot);
        if (h->have_pending)
                sb_printf(sb, ", \"pending\": %u", h->pend.gen);
        else
                sb_puts(sb, ", \"pending\": null");
        if (h->txn_state[0]) {
                sb_printf(sb,
                          ", \"transaction\": {\"in_progress\": %s, \"gen\": %u, \"pid\": %ld, "
                          "\"step\": ",
                          h->txn_held ? "true" : "false", h->t.gen, h->t.pid);
                json_put_string(sb, h->t.step);
                sb_puts(sb, ", \"text\": ");
                json_put_string(sb, h->txn_state);
                sb_puts(sb, "}");
        } else {
                sb_puts(sb, ", \"transaction\": null");
        }
        sb_puts(sb, ", \"generations\": [");
}

static void print_generation(struct history *h, const struct gen_record *rec, bool first)
{
        struct strbuf *sb = &h->sb;
        char kern[300];

        snprintf(kern, sizeof(kern), "%s -> %s", rec->kernel_from[0] ? rec->kernel_from : "?",
                 rec->kernel_to);
        if (!h->json) {
                printf("%-5u %-20s %-12s %-40s %s\n", rec->gen, rec->created,
                       gen_status_to_string(rec->status), kern, rec->reason);
                return;
        }
        sb_printf(sb, "%s\n  {\"gen\": %u, ", first ? "" : ",", rec->gen);
        json_field(sb, "created", rec->created, false);
        json_field(sb, "status", gen_status_to_string(rec->status), false);
        json_field(sb, "kernel_from", rec->kernel_from, false);
        json_field(sb, "kernel_to", rec->kernel_to, false);
        json_field(sb, "initramfs_from", rec->initramfs_from, false);
        json_field(sb, "initramfs_to", rec->initramfs_to, false);
        json_field(sb, "packaging", rec->packaging, false);
        json_field(sb, "trial", rec->trial, false);
        json_field(sb, "host", rec->host, false);
        json_field(sb, "reason", rec->reason, true);
        sb_puts(sb, "}");
}

int ctl_history(struct ctl_context *ctx, int argc, char **argv)
{
        struct history h = {0};
        const char *boot_arg = NULL;
        bool first = true;
        int r;

        r = parse_options(argc, argv, &h.json, &boot_arg);
        if (r >= 0)
                return r;
        h.boot = root_path_arg(ctx->root, boot_arg ? boot_arg : ctx->cfg.agent.boot_dir);
        if (!h.boot)
                return CTL_EXIT_FAILED;
        r = gen_list(h.boot, &h.gens, &h.n);
        if (r < 0) {
                fprintf(stderr, "netrootctl: %s/%s: %s\n", h.boot, GEN_STORE, strerror(-r));
                free(h.boot);
                return CTL_EXIT_FAILED;
        }
        read_state(ctx, &h);
        print_head(&h);
        for (size_t i = h.n; i-- > 0;) {
                struct gen_record rec;
                struct error e;

                if (gen_record_load(h.boot, h.gens[i], &rec, &e) < 0) {
                        fprintf(stderr, "netrootctl: %s\n", error_text(&e));
                        h.bad = true;
                        continue;
                }
                print_generation(&h, &rec, first);
                first = false;
        }
        if (h.json) {
                sb_puts(&h.sb, "\n]}\n");
                if (!h.sb.oom)
                        fputs(sb_str(&h.sb), stdout);
        }
        sb_free(&h.sb);
        free(h.gens);
        free(h.boot);
        return h.bad ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}
