/* netrootctl firmware: the firmware of the whole fleet at the TFTP root (firmware_fleet.c), its
 * promotion from a canary Pi and its rollback. Runs on the NAS or on any Pi that mounts the
 * TFTP root (--tftp-root, default [upgrade] shared_dir). */
#include "ctl.h"
#include "firmware_fleet.h"
#include "json.h"
#include "rootpath.h"
#include "strbuf.h"
#include "tftp_fetch.h"
#include "util.h"

#include <getopt.h>

static void usage(FILE *out)
{
        fprintf(
            out,
            "Usage: netrootctl firmware status [--tftp-root DIR] [--json]\n"
            "       netrootctl firmware promote --from SERIAL [--tftp-root DIR]\n"
            "                  [--tftp SERVER[:PORT]] [--verify-tftp auto|required]\n"
            "                  [--lock-wait SEC] [--lock-ttl SEC]\n"
            "       netrootctl firmware rollback [--tftp-root DIR] [--tftp SERVER[:PORT]]\n"
            "                  [--verify-tftp auto|required] [--lock-wait SEC] [--lock-ttl SEC]\n"
            "       netrootctl firmware recover [--tftp-root DIR] [--lock-wait SEC]\n\n"
            "status: which firmware (sha256, build version) every Pi boots, skew and\n"
            "mismatched start/fixup pairs (exit 1 for a mismatch or a pending switch).\n"
            "promote: installs the canary SERIAL's firmware set at the TFTP root once its\n"
            "newest generation is confirmed good after the set was put there; the old set\n"
            "is backed up first, the switch is journaled, and the result is fetched back\n"
            "over TFTP when --tftp is given (a difference puts the old set back).\n"
            "rollback: puts back the newest backup that differs from the live set.\n"
            "recover: finishes or undoes a switch interrupted by a crash.\n"
            "--tftp-root defaults to [upgrade] shared_dir.\n");
}

static const char *short_id(const char *s)
{
        static char buf[4][16];
        static unsigned next;
        char *b = buf[next++ % 4];

        snprintf(b, sizeof(buf[0]), "%.12s", s && s[0] ? s : "-");
        return b;
}

static void json_kv(struct strbuf *sb, const char *key, const char *value, bool comma)
{
        sb_printf(sb, "\"%s\": ", key);
        json_put_string(sb, value);
        if (comma)
                sb_puts(sb, ", ");
}

static void json_files(struct strbuf *sb, const struct fleet_file *f, unsigned n)
{
        sb_puts(sb, "[");
        for (unsigned i = 0; i < n; i++) {
                sb_puts(sb, i ? ", {" : "{");
                json_kv(sb, "name", f[i].name, true);
                json_kv(sb, "sha256", f[i].sha256, true);
                json_kv(sb, "version", f[i].version.build, true);
                json_kv(sb, "date", f[i].version.date, false);
                sb_puts(sb, "}");
        }
        sb_puts(sb, "]");
}

static void print_json(const char *root, const struct fleet_status *st)
{
        struct strbuf sb = {0};
        const struct fleet_file *boot = NULL;

        for (unsigned i = 0; i < st->nroot; i++)
                if (streq(st->root[i].name, "bootcode.bin"))
                        boot = &st->root[i];
        sb_puts(&sb, "{");
        json_kv(&sb, "tftp_root", root, true);
        sb_puts(&sb, "\"root\": {");
        json_kv(&sb, "version", st->root_version, true);
        sb_puts(&sb, "\"bootcode\": ");
        if (boot) {
                sb_puts(&sb, "{");
                json_kv(&sb, "sha256", boot->sha256, true);
                json_kv(&sb, "came_with_version", st->root_version, false);
                sb_puts(&sb, "}");
        } else {
                sb_puts(&sb, "null");
        }
        sb_puts(&sb, ", \"files\": ");
        json_files(&sb, st->root, st->nroot);
        sb_printf(&sb, ", \"pairs_ok\": %s, ", st->root_pairs == 1 ? "true" : "false");
        json_kv(&sb, "pairs_problem", st->root_pairs == 1 ? "" : st->root_pairs_why, false);
        sb_puts(&sb, "}, \"versions\": [");
        for (unsigned v = 0; v < st->nversions; v++) {
                bool first = true;

                sb_puts(&sb, v ? ", {" : "{");
                json_kv(&sb, "version", st->versions[v].version, true);
                json_kv(&sb, "date", st->versions[v].date, true);
                json_kv(&sb, "start_sha256", st->versions[v].start_sha256, true);
                sb_printf(&sb, "\"root\": %s, \"pis\": [", st->versions[v].root ? "true" : "false");
                for (size_t i = 0; i < st->npis; i++)
                        if (streq(st->pis[i].start_sha256, st->versions[v].start_sha256)) {
                                sb_puts(&sb, first ? "" : ", ");
                                json_put_string(&sb, st->pis[i].serial);
                                first = false;
                        }
                sb_puts(&sb, "]}");
        }
        sb_puts(&sb, "], \"pis\": [");
        for (size_t i = 0; i < st->npis; i++) {
                const struct fleet_pi *pi = &st->pis[i];

                sb_puts(&sb, i ? ", {" : "{");
                json_kv(&sb, "serial", pi->serial, true);
                json_kv(&sb, "boots_from", pi->own ? "own" : "root", true);
                json_kv(&sb, "version", pi->version, true);
                json_kv(&sb, "start_sha256", pi->start_sha256, true);
                sb_printf(&sb, "\"skew\": %s, \"pairs_ok\": %s, ", pi->skew ? "true" : "false",
                          pi->pairs == 1 ? "true" : "false");
                json_kv(&sb, "pairs_problem", pi->pairs == 1 ? "" : pi->pairs_why, true);
                sb_printf(&sb, "\"generation\": %u, ", pi->gen);
                json_kv(&sb, "generation_status", pi->gen_status, true);
                sb_puts(&sb, "\"files\": ");
                json_files(&sb, pi->files, pi->n);
                sb_puts(&sb, "}");
        }
        sb_printf(&sb, "], \"skewed\": %u, \"mismatched\": %u, \"transaction\": ", st->skewed,
                  st->mismatched);
        if (st->txn == 1) {
                sb_puts(&sb, "{");
                json_kv(&sb, "op", st->txn_info.op, true);
                json_kv(&sb, "state", st->txn_info.state, true);
                json_kv(&sb, "source", st->txn_info.source, true);
                json_kv(&sb, "undo", st->txn_info.undo, false);
                sb_puts(&sb, "}");
        } else {
                sb_puts(&sb, "null");
        }
        sb_puts(&sb, "}\n");
        if (!sb.oom)
                fputs(sb_str(&sb), stdout);
        sb_free(&sb);
}

static void print_text(const char *root, const struct fleet_status *st)
{
        printf("TFTP root %s\n", root);
        printf("  root set: version %s%s%s, %u files\n",
               st->root_version[0] ? short_id(st->root_version) : "unknown",
               st->nversions && st->versions[0].root && st->versions[0].date[0] ? " of " : "",
               st->nversions && st->versions[0].root ? st->versions[0].date : "", st->nroot);
        for (unsigned i = 0; i < st->nroot; i++) {
                const struct fleet_file *f = &st->root[i];

                if (streq(f->name, "bootcode.bin"))
                        printf("    %-14s sha256 %s  (no version string: came with the root's "
                               "start.elf, %s)\n",
                               f->name, short_id(f->sha256), short_id(st->root_version));
                else
                        printf("    %-14s sha256 %s%s%s\n", f->name, short_id(f->sha256),
                               f->version.build[0] ? "  version " : "",
                               f->version.build[0] ? short_id(f->version.build) : "");
        }
        printf("  start/fixup pairs: %s%s\n", st->root_pairs == 1 ? "ok" : "MISMATCH: ",
               st->root_pairs == 1 ? "" : st->root_pairs_why);
        printf("versions in the fleet:\n");
        for (unsigned v = 0; v < st->nversions; v++) {
                const struct fleet_version *fv = &st->versions[v];
                bool any = false;

                printf("  %s%s%s  start.elf %s:%s", short_id(fv->version),
                       fv->date[0] ? " of " : "", fv->date, short_id(fv->start_sha256),
                       fv->root ? " the root's set;" : "");
                for (size_t i = 0; i < st->npis; i++)
                        if (streq(st->pis[i].start_sha256, fv->start_sha256)) {
                                printf("%s%s", any ? ", " : " Pis ", st->pis[i].serial);
                                any = true;
                        }
                printf("%s\n", any ? "" : " no Pi");
        }
        printf("Pis:\n");
        for (size_t i = 0; i < st->npis; i++) {
                const struct fleet_pi *pi = &st->pis[i];

                printf("  %s  %-22s version %s  start.elf %s", pi->serial,
                       pi->own ? "its own start.elf" : "the root's set",
                       pi->version[0] ? short_id(pi->version) : "unknown",
                       short_id(pi->start_sha256));
                if (pi->gen)
                        printf("  generation %u %s", pi->gen,
                               pi->gen_status[0] ? pi->gen_status : "unreadable");
                if (pi->skew)
                        printf("  SKEW (not the set the root's bootcode.bin came with)");
                if (pi->own && pi->pairs != 1)
                        printf("\n    %s: %s", pi->pairs == 0 ? "MISMATCH" : "error",
                               pi->pairs_why);
                printf("\n");
        }
        if (st->txn == 1)
                printf("PENDING: an interrupted %s (%s, %u files) in %s: run 'netrootctl firmware "
                       "recover'\n",
                       st->txn_info.op, st->txn_info.state, st->txn_info.files,
                       FIRMWARE_TXN_JOURNAL);
        printf("%u Pi%s on another set than the root's, %u mismatched start/fixup pair%s\n",
               st->skewed, st->skewed == 1 ? "" : "s", st->mismatched,
               st->mismatched == 1 ? "" : "s");
}

static int cmd_status(const char *root, bool json)
{
        struct fleet_status st;
        char err[1024];
        int r, rc;

        r = firmware_fleet_status(root, &st, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "netrootctl: %s\n", err[0] ? err : strerror(-r));
                return CTL_EXIT_FAILED;
        }
        if (json)
                print_json(root, &st);
        else
                print_text(root, &st);
        rc = st.mismatched || st.txn != 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
        firmware_fleet_status_free(&st);
        return rc;
}

static void report_common(const struct fleet_result *res)
{
        if (res->recovered == FIRMWARE_TXN_FINISHED)
                printf("  an interrupted firmware switch was finished first\n");
        else if (res->recovered == FIRMWARE_TXN_UNDONE)
                printf("  an interrupted firmware switch was undone first\n");
        if (res->release < 0)
                fprintf(stderr, "netrootctl: warning: releasing the cluster lock: %s\n",
                        res->release == -ESTALE
                            ? "it was no longer ours (taken over after its TTL): another "
                              "holder may have written at the same time"
                            : strerror(-res->release));
}

static int cmd_change(const char *what, const struct fleet_options *o)
{
        struct fleet_result res;
        char err[1536];
        int r;

        if (streq(what, "promote"))
                r = firmware_fleet_promote(o, &res, err, sizeof(err));
        else if (streq(what, "rollback"))
                r = firmware_fleet_rollback(o, &res, err, sizeof(err));
        else
                r = firmware_fleet_recover(o, &res, err, sizeof(err));
        report_common(&res);
        if (r < 0) {
                fprintf(stderr, "netrootctl: firmware %s: %s%s\n", what,
                        r == -EPERM ? "refused: " : "", err[0] ? err : strerror(-r));
                return r == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
        }
        if (streq(what, "recover")) {
                if (res.recovered == 0)
                        printf("no interrupted firmware switch in %s\n", o->tftp_root);
                return res.release < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
        }
        if (res.backup[0])
                printf("  the previous set is in %s\n", res.backup);
        if (streq(what, "promote"))
                printf("  %s's firmware (%u files, generation %u confirmed good) %s at %s\n",
                       o->serial, res.installed.n, res.gen,
                       res.unchanged ? "was already" : "installed", o->tftp_root);
        else
                printf("  %s put back at %s\n", res.restored, o->tftp_root);
        printf("  %s\n", res.verify_note);
        return res.release < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

static int parse_secs(const char *opt, const char *arg, unsigned max, unsigned *out)
{
        unsigned long v;

        if (parse_uint(arg, &v) < 0 || v > max) {
                fprintf(stderr, "netrootctl: %s %s: expected seconds from 0 to %u\n", opt, arg,
                        max);
                return -EINVAL;
        }
        *out = (unsigned)v;
        return 0;
}

int ctl_tftp_root(struct ctl_context *ctx, const char *root_arg, char **root)
{
        *root = NULL;
        if (!root_arg && !ctx->cfg.upgrade.shared_dir[0]) {
                fprintf(stderr, "netrootctl: no TFTP root: give --tftp-root DIR or set [upgrade] "
                                "shared_dir\n");
                return CTL_EXIT_USAGE;
        }
        *root = root_path_arg(ctx->root, root_arg ? root_arg : ctx->cfg.upgrade.shared_dir);
        return *root ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

/* One option C with ARG into O (or ROOT_ARG, JSON). Returns -1 to go on, or the exit code. */
static int take_option(int c, const char *arg, struct fleet_options *o, const char **root_arg,
                       bool *json)
{
        switch (c) {
        case 'R':
                *root_arg = arg;
                return -1;
        case 'j':
                *json = true;
                return -1;
        case 'f':
                o->serial = arg;
                return -1;
        case 't':
                o->tftp_server = arg;
                return -1;
        case 'v':
                if (!streq(arg, "auto") && !streq(arg, "required")) {
                        fprintf(stderr, "netrootctl: --verify-tftp %s: expected auto or required\n",
                                arg);
                        return CTL_EXIT_USAGE;
                }
                o->verify_required = streq(arg, "required");
                return -1;
        case 'w':
                return parse_secs("--lock-wait", arg, 3600, &o->lock_wait_sec) < 0 ? CTL_EXIT_USAGE
                                                                                   : -1;
        case 'T':
                if (parse_secs("--lock-ttl", arg, 86400, &o->lock_ttl_sec) < 0 ||
                    o->lock_ttl_sec == 0) {
                        fprintf(stderr, "netrootctl: --lock-ttl: at least 1 s\n");
                        return CTL_EXIT_USAGE;
                }
                return -1;
        case 'h':
                usage(stdout);
                return CTL_EXIT_OK;
        default:
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
}

/* The options after the subcommand WHAT. Returns -1 to go on, or the exit code. */
static int parse_options(int argc, char **argv, const char *what, struct fleet_options *o,
                         const char **root_arg, bool *json)
{
        static const struct option options[] = {
            {"tftp-root", required_argument, NULL, 'R'},
            {"json", no_argument, NULL, 'j'},
            {"from", required_argument, NULL, 'f'},
            {"tftp", required_argument, NULL, 't'},
            {"verify-tftp", required_argument, NULL, 'v'},
            {"lock-wait", required_argument, NULL, 'w'},
            {"lock-ttl", required_argument, NULL, 'T'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                r = take_option(c, optarg, o, root_arg, json);
                if (r >= 0)
                        return r;
        }
        if (optind != argc || (streq(what, "promote") != (o->serial != NULL)) ||
            (*json && !streq(what, "status"))) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        return -1;
}

int ctl_firmware(struct ctl_context *ctx, int argc, char **argv)
{
        struct fleet_options o = {.lock_wait_sec = 10, .fetch = tftp_fetch_sha256};
        _cleanup_free_ char *root = NULL;
        const char *root_arg = NULL, *what;
        bool json = false;
        int r;

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
        }
        what = argv[1];
        if (!streq(what, "status") && !streq(what, "promote") && !streq(what, "rollback") &&
            !streq(what, "recover")) {
                fprintf(stderr,
                        "netrootctl: firmware %s: unknown; see 'netrootctl firmware --help'\n",
                        what);
                return CTL_EXIT_USAGE;
        }
        r = parse_options(argc - 1, argv + 1, what, &o, &root_arg, &json);
        if (r >= 0)
                return r;
        r = ctl_tftp_root(ctx, root_arg, &root);
        if (r != CTL_EXIT_OK)
                return r;
        o.tftp_root = root;
        if (o.verify_required && !o.tftp_server) {
                fprintf(stderr, "netrootctl: --verify-tftp required needs --tftp SERVER[:PORT]\n");
                return CTL_EXIT_USAGE;
        }
        if (streq(what, "status"))
                return cmd_status(root, json);
        return cmd_change(what, &o);
}
