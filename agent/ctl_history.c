/* netrootctl history: the generations saved in a Pi's boot folder, newest first. Works offline
 * on the folder from another machine with --boot-dir. */
#include "ctl.h"
#include "generation.h"
#include "json.h"
#include "rootpath.h"
#include "strbuf.h"
#include "upgrade.h"
#include "util.h"

#include <getopt.h>

static void usage(FILE *out)
{
        fprintf(out, "Usage: netrootctl history [--json] [--boot-dir DIR]\n\n"
                     "Lists the generations in DIR/.netroot (default: [agent] boot_dir), newest\n"
                     "first. Exits 1 when a record cannot be read (the error names file:line).\n");
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
        struct upgrade_pending pend;
        struct strbuf sb = {0};
        bool json = false, first = true, bad = false, have_pending;
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
        /* A transaction left by a crashed upgrade is rolled back before anything is shown. */
        r = upgrade_recover_dir(boot, &ctx->log);
        if (r < 0)
                bad = true;
        r = gen_list(boot, &gens, &n);
        if (r < 0) {
                fprintf(stderr, "netrootctl: %s/%s: %s\n", boot, GEN_STORE, strerror(-r));
                return CTL_EXIT_FAILED;
        }
        r = upgrade_pending_read(boot, &pend);
        have_pending = r == 0;
        if (r < 0 && r != -ENOENT) {
                if (r == -EBADMSG)
                        fprintf(stderr, "netrootctl: %s/%s/%s:%u: %s\n", boot, GEN_STORE,
                                UPGRADE_PENDING_FILE, pend.bad_line,
                                pend.bad_line ? "malformed line" : "no gen= line");
                else
                        fprintf(stderr, "netrootctl: %s/%s/%s: %s\n", boot, GEN_STORE,
                                UPGRADE_PENDING_FILE, strerror(-r));
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
                sb_puts(&sb, ", \"generations\": [");
        } else if (n == 0) {
                printf("no generations in %s/%s\n", boot, GEN_STORE);
        } else {
                printf("%-5s %-20s %-12s %-40s %s\n", "GEN", "CREATED", "STATUS", "KERNEL",
                       "REASON");
        }
        for (size_t i = n; i-- > 0;) {
                struct gen_record rec;
                char err[600], kern[300];

                r = gen_record_load(boot, gens[i], &rec, err, sizeof(err));
                if (r < 0) {
                        fprintf(stderr, "netrootctl: %s\n", err);
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
