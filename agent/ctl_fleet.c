/* netrootctl fleet: every Pi folder of the TFTP root in one table (fleet.c), as JSON, or as a
 * node_exporter textfile. Read-only; runs on the NAS or on any machine that mounts the root. */
#include "ctl.h"
#include "fileio.h"
#include "fleet.h"
#include "generation.h"
#include "json.h"
#include "rootpath.h"
#include "strbuf.h"
#include "util.h"

#include <getopt.h>
#include <inttypes.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl fleet [--tftp-root DIR] [--json] [--textfile PATH]\n"
                "                        [--reboot-grace SEC]\n\n"
                "One row per Pi folder of the TFTP root: the Pi's model and hostname (from the\n"
                "identity record its agent writes), the kernel and initramfs its config.txt\n"
                "makes it boot, its generations and their age, the firmware it boots, the\n"
                "space its generations take; folders the bootloader never asks for (wrong\n"
                "length, upper case) are flagged. A pending boot is overdue once older than\n"
                "the Pi's confirm timeout plus --reboot-grace (default 300s).\n"
                "--textfile PATH writes node_exporter textfile metrics there atomically\n"
                "instead of printing. --tftp-root defaults to [upgrade] shared_dir.\n"
                "Exit status: 0 all well, 1 a Pi or the root needs attention (the reason is\n"
                "in its row), 2 usage.\n");
}

static const char *status_name(const struct fleet_row *r)
{
        if (!r->newest)
                return "none";
        return r->newest_status < 0 ? "unreadable" : gen_status_to_string(r->newest_status);
}

static void human_size(uint64_t b, char *buf, size_t size)
{
        if (b >= 10u * 1024 * 1024)
                snprintf(buf, size, "%" PRIu64 "M", b / (1024 * 1024));
        else if (b >= 10u * 1024)
                snprintf(buf, size, "%" PRIu64 "K", b / 1024);
        else
                snprintf(buf, size, "%" PRIu64, b);
}

static void human_age(long s, char *buf, size_t size)
{
        if (s < 0)
                snprintf(buf, size, "?");
        else if (s < 120)
                snprintf(buf, size, "%lds", s);
        else if (s < 7200)
                snprintf(buf, size, "%ldm", s / 60);
        else if (s < 172800)
                snprintf(buf, size, "%ldh", s / 3600);
        else
                snprintf(buf, size, "%ldd", s / 86400);
}

static const char *row_kernel(const struct fleet_row *r)
{
        return r->kernel[0] ? r->kernel : "?";
}

static const char *row_initramfs(const struct fleet_row *r)
{
        return r->boot_r == 0 ? (r->initramfs[0] ? r->initramfs : "(none)") : "?";
}

static void print_text(const struct fleet_view *v)
{
        int kernel_w = 20, initramfs_w = 26;

        printf("TFTP root %s: %u Pis, %u misnamed folders, bootcode.bin %.12s (came with %.12s)\n",
               v->tftp_root, v->pis, v->misnamed, v->bootcode ? v->bootcode->sha256 : "MISSING",
               v->fw_r == 0 && v->fw.root_version[0] ? v->fw.root_version : "unknown");
        if (v->lock_r == 0)
                printf("cluster lock: held by %s@%s pid %ld%s\n", v->lock.serial, v->lock.host,
                       v->lock.pid, v->lock_stale ? " (STALE)" : "");
        else
                printf("cluster lock: free\n");
        /* Kernel and initramfs names are versions: cut, "vmlinuz-6.1.0-55-amd64" would read as
         * another kernel; the columns grow to the longest instead. */
        for (size_t i = 0; i < v->n; i++) {
                int k = (int)strlen(row_kernel(&v->rows[i]));
                int f = (int)strlen(row_initramfs(&v->rows[i]));

                kernel_w = k > kernel_w ? k : kernel_w;
                initramfs_w = f > initramfs_w ? f : initramfs_w;
        }
        printf("%-16s %-12s %-6s %-*s %-*s %-22s %-19s %-6s %s\n", "SERIAL", "HOSTNAME", "MODEL",
               kernel_w, "KERNEL", initramfs_w, "INITRAMFS", "GENERATION", "FIRMWARE", "SPACE",
               "ATTENTION");
        for (size_t i = 0; i < v->n; i++) {
                const struct fleet_row *r = &v->rows[i];
                char gen[64], age[16], fw[48], space[16];

                human_age(r->newest_age, age, sizeof(age));
                if (r->newest)
                        snprintf(gen, sizeof(gen), "%u %s %s (%ug/%ub)", r->newest, status_name(r),
                                 age, r->good, r->bad + r->rolled_back);
                else
                        snprintf(gen, sizeof(gen), "-");
                if (r->fw)
                        snprintf(fw, sizeof(fw), "%s %.8s%s", r->fw->own ? "own" : "root",
                                 r->fw->version[0] ? r->fw->version : "unknown",
                                 r->fw->skew ? " SKEW" : "");
                else
                        snprintf(fw, sizeof(fw), "-");
                human_size(r->gen_bytes, space, sizeof(space));
                printf("%-16s %-12.12s %-6s %-*s %-*s %-22s %-19s %-6s %s\n", r->name,
                       r->identity_r == 0 && r->id.hostname[0] ? r->id.hostname : "?",
                       r->board[0] ? r->board : "?", kernel_w, row_kernel(r), initramfs_w,
                       row_initramfs(r), gen, fw, space, r->attention ? r->reason : "ok");
        }
        if (v->reason[0])
                printf("root: %s\n", v->reason);
}

static void kv(struct strbuf *sb, const char *key, const char *value)
{
        sb_printf(sb, "\"%s\": ", key);
        json_put_string(sb, value);
        sb_puts(sb, ", ");
}

/* One Pi folder's object, without its opening brace. */
static void json_row(struct strbuf *sb, const struct fleet_row *r)
{
        bool id = r->identity_r == 0;

        kv(sb, "folder", r->name);
        sb_printf(sb, "\"misnamed\": %s, ", r->misnamed ? "true" : "false");
        kv(sb, "expected", r->expected);
        kv(sb, "serial", id ? r->id.serial : "");
        kv(sb, "model", id ? r->id.model : "");
        kv(sb, "board", r->board);
        kv(sb, "hostname", id ? r->id.hostname : "");
        kv(sb, "identity_updated", id ? r->id.updated : "");
        kv(sb, "kernel", r->kernel);
        sb_printf(sb, "\"kernel_present\": %s, ", r->kernel_present ? "true" : "false");
        kv(sb, "initramfs", r->initramfs);
        sb_printf(sb, "\"initramfs_present\": %s, ", r->initramfs_present ? "true" : "false");
        kv(sb, "boot_error", r->boot_error);
        sb_printf(sb,
                  "\"generations\": {\"total\": %u, \"pending\": %u, \"good\": %u, "
                  "\"bad\": %u, \"rolled_back\": %u, \"unconfirmed\": %u, "
                  "\"newest\": %u, ",
                  r->gens, r->pending, r->good, r->bad, r->rolled_back, r->unconfirmed, r->newest);
        kv(sb, "newest_status", status_name(r));
        kv(sb, "newest_kernel", r->newest_kernel);
        sb_printf(sb,
                  "\"newest_age_seconds\": %ld, \"pending_generation\": %u, "
                  "\"pending_age_seconds\": %ld, \"confirm_timeout_seconds\": %u, "
                  "\"pending_overdue\": %s, \"bytes\": %" PRIu64 "}, ",
                  r->newest ? r->newest_age : -1, r->pending_gen,
                  r->pending_gen ? r->pending_age : -1, r->confirm_timeout,
                  r->pending_overdue ? "true" : "false", r->gen_bytes);
        sb_puts(sb, "\"firmware\": ");
        if (r->fw) {
                sb_puts(sb, "{");
                kv(sb, "boots_from", r->fw->own ? "own" : "root");
                kv(sb, "version", r->fw->version);
                kv(sb, "start_sha256", r->fw->start_sha256);
                sb_printf(sb, "\"skew\": %s, \"pairs_ok\": %s}, ", r->fw->skew ? "true" : "false",
                          r->fw->pairs == 1 ? "true" : "false");
        } else {
                sb_puts(sb, "null, ");
        }
        sb_printf(sb, "\"attention\": %s, ", r->attention ? "true" : "false");
        sb_puts(sb, "\"reason\": ");
        json_put_string(sb, r->reason);
}

static void print_json(const struct fleet_view *v)
{
        struct strbuf sb = {0};

        sb_puts(&sb, "{");
        kv(&sb, "tftp_root", v->tftp_root);
        sb_puts(&sb, "\"bootcode\": ");
        if (v->bootcode) {
                sb_puts(&sb, "{");
                kv(&sb, "sha256", v->bootcode->sha256);
                sb_puts(&sb, "\"came_with_version\": ");
                json_put_string(&sb, v->fw.root_version);
                sb_puts(&sb, "}, ");
        } else {
                sb_puts(&sb, "null, ");
        }
        kv(&sb, "root_firmware_version", v->fw_r == 0 ? v->fw.root_version : "");
        sb_puts(&sb, "\"lock\": ");
        if (v->lock_r == 0) {
                sb_puts(&sb, "{");
                kv(&sb, "serial", v->lock.serial);
                kv(&sb, "host", v->lock.host);
                sb_printf(&sb, "\"pid\": %ld, \"stale\": %s}, ", v->lock.pid,
                          v->lock_stale ? "true" : "false");
        } else {
                sb_puts(&sb, "null, ");
        }
        sb_printf(&sb, "\"pis\": %u, \"misnamed\": %u, \"attention\": %s, ", v->pis, v->misnamed,
                  v->attention ? "true" : "false");
        kv(&sb, "reason", v->reason);
        sb_puts(&sb, "\"rows\": [");
        for (size_t i = 0; i < v->n; i++) {
                sb_puts(&sb, i ? ", {" : "{");
                json_row(&sb, &v->rows[i]);
                sb_puts(&sb, "}");
        }
        sb_puts(&sb, "]}\n");
        if (!sb.oom)
                fputs(sb_str(&sb), stdout);
        sb_free(&sb);
}

/* A label value in the text format: \ " and newline escaped. */
static void label(struct strbuf *sb, const char *s)
{
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        sb_printf(sb, "\\%c", *s);
                else if (*s == '\n')
                        sb_puts(sb, "\\n");
                else
                        sb_printf(sb, "%c", *s);
        }
}

static void help(struct strbuf *sb, const char *name, const char *text)
{
        sb_printf(sb, "# HELP %s %s\n# TYPE %s gauge\n", name, text, name);
}

static int write_textfile(const struct fleet_view *v, const char *path)
{
        struct strbuf sb = {0};
        int r;

        help(&sb, "netroot_fleet_pis", "Pi serial folders at the TFTP root.");
        sb_printf(&sb, "netroot_fleet_pis %u\n", v->pis);
        help(&sb, "netroot_fleet_misnamed_folders",
             "Folders the bootloader never asks for (wrong length, upper case).");
        sb_printf(&sb, "netroot_fleet_misnamed_folders %u\n", v->misnamed);
        help(&sb, "netroot_fleet_attention", "1 when a Pi or the root needs attention.");
        sb_printf(&sb, "netroot_fleet_attention %d\n", v->attention);
        help(&sb, "netroot_fleet_bootcode_present", "1 when bootcode.bin is at the TFTP root.");
        sb_printf(&sb, "netroot_fleet_bootcode_present %d\n", v->bootcode != NULL);
        help(&sb, "netroot_fleet_firmware_versions",
             "Distinct start.elf builds booted in the fleet or installed at the root.");
        sb_printf(&sb, "netroot_fleet_firmware_versions %u\n", v->fw_r == 0 ? v->fw.nversions : 0);
        help(&sb, "netroot_fleet_firmware_skewed_pis",
             "Pis booting another start.elf than the root's bootcode.bin came with.");
        sb_printf(&sb, "netroot_fleet_firmware_skewed_pis %u\n", v->fw_r == 0 ? v->fw.skewed : 0);
        help(&sb, "netroot_fleet_last_run_timestamp_seconds", "Unix time of this fleet reading.");
        sb_printf(&sb, "netroot_fleet_last_run_timestamp_seconds %lld\n", (long long)v->now);

        help(&sb, "netroot_fleet_pi_firmware_skew", "1 when this Pi's firmware is skewed.");
        for (size_t i = 0; i < v->n; i++)
                if (v->rows[i].fw) {
                        sb_puts(&sb, "netroot_fleet_pi_firmware_skew{serial=\"");
                        label(&sb, v->rows[i].name);
                        sb_puts(&sb, "\",version=\"");
                        label(&sb, v->rows[i].fw->version);
                        sb_printf(&sb, "\"} %d\n", v->rows[i].fw->skew);
                }
        help(&sb, "netroot_fleet_pi_attention", "1 when this folder needs attention.");
        for (size_t i = 0; i < v->n; i++) {
                sb_puts(&sb, "netroot_fleet_pi_attention{serial=\"");
                label(&sb, v->rows[i].name);
                sb_puts(&sb, "\",hostname=\"");
                label(&sb, v->rows[i].identity_r == 0 ? v->rows[i].id.hostname : "");
                sb_printf(&sb, "\"} %d\n", v->rows[i].attention);
        }
        help(&sb, "netroot_fleet_pi_pending_age_seconds",
             "Age of this Pi's pending generation (NAS clock); absent when none is pending.");
        for (size_t i = 0; i < v->n; i++)
                if (v->rows[i].pending_gen) {
                        sb_puts(&sb, "netroot_fleet_pi_pending_age_seconds{serial=\"");
                        label(&sb, v->rows[i].name);
                        sb_printf(&sb, "\"} %ld\n", v->rows[i].pending_age);
                }
        help(&sb, "netroot_fleet_pi_confirm_timeout_seconds",
             "The Pi's [boot] confirm_timeout (its identity record, else the default).");
        for (size_t i = 0; i < v->n; i++) {
                sb_puts(&sb, "netroot_fleet_pi_confirm_timeout_seconds{serial=\"");
                label(&sb, v->rows[i].name);
                sb_printf(&sb, "\"} %u\n", v->rows[i].confirm_timeout);
        }
        help(&sb, "netroot_fleet_pi_generation_bytes", "Disk space of the Pi's generations.");
        for (size_t i = 0; i < v->n; i++) {
                sb_puts(&sb, "netroot_fleet_pi_generation_bytes{serial=\"");
                label(&sb, v->rows[i].name);
                sb_printf(&sb, "\"} %" PRIu64 "\n", v->rows[i].gen_bytes);
        }
        if (sb.oom) {
                sb_free(&sb);
                return -ENOMEM;
        }
        r = file_write_atomic(path, sb_str(&sb), strlen(sb_str(&sb)), 0644);
        sb_free(&sb);
        return r;
}

/* Prints the view (or writes the textfile): CTL_EXIT_FAILED when a Pi needs attention. */
static int output(const struct fleet_view *v, bool json, const char *textfile)
{
        int ret = v->attention ? CTL_EXIT_FAILED : CTL_EXIT_OK;
        int r;

        if (textfile) {
                r = write_textfile(v, textfile);
                if (r < 0) {
                        fprintf(stderr, "netrootctl: %s: %s\n", textfile, strerror(-r));
                        ret = CTL_EXIT_FAILED;
                }
        } else if (json) {
                print_json(v);
        } else {
                print_text(v);
        }
        return ret;
}

int ctl_fleet(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"tftp-root", required_argument, NULL, 't'},
            {"json", no_argument, NULL, 'j'},
            {"textfile", required_argument, NULL, 'T'},
            {"reboot-grace", required_argument, NULL, 'g'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct fleet_view_options o = {
            .confirm_timeout = (unsigned)(ctx->cfg.boot.confirm_timeout_usec / 1000000u),
            .reboot_grace = 300,
        };
        _cleanup_free_ char *root = NULL, *textfile = NULL;
        const char *root_arg = NULL, *textfile_arg = NULL;
        struct fleet_view *v;
        bool json = false;
        unsigned long n;
        char err[512];
        int c, r, ret;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 't':
                        root_arg = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'T':
                        textfile_arg = optarg;
                        break;
                case 'g':
                        if (parse_uint(optarg, &n) < 0 || n > 86400) {
                                fprintf(stderr,
                                        "netrootctl: --reboot-grace %s: expected seconds "
                                        "from 0 to 86400\n",
                                        optarg);
                                return CTL_EXIT_USAGE;
                        }
                        o.reboot_grace = (unsigned)n;
                        break;
                case 'h':
                        usage(stdout);
                        return CTL_EXIT_OK;
                default:
                        usage(stderr);
                        return CTL_EXIT_USAGE;
                }
        }
        if (optind != argc || (json && textfile_arg)) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        r = ctl_tftp_root(ctx, root_arg, &root);
        if (r != CTL_EXIT_OK)
                return r;
        if (textfile_arg) {
                textfile = root_path_arg(ctx->root, textfile_arg);
                if (!textfile)
                        return CTL_EXIT_FAILED;
        }
        o.tftp_root = root;
        v = calloc(1, sizeof(*v));
        if (!v)
                return CTL_EXIT_FAILED;
        r = fleet_view_load(&o, v, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "netrootctl: %s\n", err);
                free(v);
                return CTL_EXIT_FAILED;
        }
        ret = output(v, json, textfile);
        fleet_view_free(v);
        free(v);
        return ret;
}

void ctl_record_identity(struct ctl_context *ctx, const char *model, const char *serial,
                         const char *command)
{
        struct error err = {0};
        int r = identity_record(ctx->root, &ctx->cfg, model, serial, command, &err);

        /* A machine that is no Pi (no serial) or has no boot folder yet has nothing to record. */
        if (r < 0 && r != -ENOENT && r != -ENODATA)
                fprintf(stderr, "netrootctl: warning: identity record not written: %s\n",
                        error_text(&err));
}
