/* netrootctl doctor: the netboot + iSCSI root setup checked step by step from the Pi. */
#include "ctl.h"
#include "doctor.h"
#include "doctor_packaging.h"
#include "json.h"
#include "strbuf.h"
#include "util.h"

#include <getopt.h>

static void doctor_usage(FILE *out)
{
        fprintf(
            out,
            "Usage: netrootctl doctor [--json] [--only NAME] [--model M] [--serial S] [--fix]\n\n"
            "Checks each step of the network boot and iSCSI root setup that can be checked\n"
            "from the Pi: OTP boot bit, /boot on NFS from this Pi's TFTP folder, the initramfs\n"
            "config.txt loads, cmdline.txt against the running session and root, fstab, the\n"
            "DHCP client, iscsid and its recovery timeout, kernel packaging, LED and IPv6.\n"
            "  --json       machine-readable output\n"
            "  --only NAME  run only the check NAME, or the checks of the group NAME\n"
            "  --model M    model string instead of /proc/device-tree/model\n"
            "  --serial S   serial instead of the one in /proc/cpuinfo\n"
            "  --fix        first write the lasting fix for Debian's raspi-firmware from the\n"
            "               live cmdline.txt: its ISCSI_* and ip= into\n"
            "               /etc/default/raspi-extra-cmdline, its root= as ROOTPART into\n"
            "               /etc/default/raspi-firmware (no prompt)\n"
            "Exit status: 0 no check failed (warnings allowed), 1 a check failed, 2 usage or\n"
            "configuration error.\n");
}

static void print_json(const struct doctor_report *rep)
{
        struct strbuf sb = {0};

        sb_printf(&sb, "{\"ok\": %s, \"checks\": [", doctor_report_ok(rep) ? "true" : "false");
        for (size_t i = 0; i < rep->n; i++) {
                const struct doctor_check *ck = &rep->checks[i];

                sb_puts(&sb, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
                json_put_string(&sb, ck->name);
                sb_puts(&sb, ", \"group\": ");
                json_put_string(&sb, ck->group);
                sb_puts(&sb, ", \"result\": ");
                json_put_string(&sb, doctor_result_to_string(ck->result));
                sb_puts(&sb, ", \"detail\": ");
                json_put_string(&sb, ck->detail);
                sb_puts(&sb, ", \"fix\": ");
                json_put_string(&sb, ck->fix);
                sb_puts(&sb, "}");
        }
        sb_puts(&sb, "\n]}\n");
        if (sb.oom)
                fputs("{\"ok\": false, \"checks\": []}\n", stdout);
        else
                fputs(sb_str(&sb), stdout);
        sb_free(&sb);
}

static void print_human(const struct doctor_report *rep)
{
        static const char *const tags[] = {
            [DOCTOR_OK] = "[ ok ]",
            [DOCTOR_WARN] = "[warn]",
            [DOCTOR_FAIL] = "[FAIL]",
            [DOCTOR_SKIP] = "[skip]",
        };
        unsigned counts[4] = {0};

        for (size_t i = 0; i < rep->n; i++) {
                const struct doctor_check *ck = &rep->checks[i];

                printf("%s %s: %s\n", tags[ck->result], ck->name, ck->detail);
                if (ck->fix[0] && (ck->result == DOCTOR_WARN || ck->result == DOCTOR_FAIL))
                        printf("       fix: %s\n", ck->fix);
                counts[ck->result]++;
        }
        printf("result: %s (%u ok, %u warnings, %u failed, %u skipped)\n",
               doctor_report_ok(rep) ? "ok" : "FAILED", counts[DOCTOR_OK], counts[DOCTOR_WARN],
               counts[DOCTOR_FAIL], counts[DOCTOR_SKIP]);
}

/* The names --only takes: every check, then every group. */
static void unknown_check(const char *only)
{
        const struct doctor_check_def *d;

        fprintf(stderr, "netrootctl doctor: no check or group named '%s'; checks:", only);
        for (size_t i = 0; (d = doctor_check_def(i)); i++)
                fprintf(stderr, "%s %s", i ? "," : "", d->name);
        fprintf(stderr, "; groups:");
        for (size_t i = 0; (d = doctor_check_def(i)); i++) {
                bool seen = false;

                for (size_t j = 0; j < i && !seen; j++)
                        seen = streq(doctor_check_def(j)->group, d->group);
                if (!seen)
                        fprintf(stderr, " %s", d->group);
        }
        fputc('\n', stderr);
}

/* --fix: the lasting raspi-firmware fix, written before the checks so they judge the result. */
static int write_fix(struct ctl_context *ctx, bool json)
{
        char what[2048];
        int r = doctor_packaging_fix(ctx->root, &ctx->cfg, what, sizeof(what));

        if (r < 0) {
                fprintf(stderr, "netrootctl doctor --fix: %s\n", what);
                return CTL_EXIT_FAILED;
        }
        /* With --json, stdout holds the one JSON object only. */
        fprintf(json ? stderr : stdout, "%s: %s\n", r > 0 ? "fixed" : "fix", what);
        return CTL_EXIT_OK;
}

int ctl_doctor(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"json", no_argument, NULL, 'j'},
            {"model", required_argument, NULL, 'm'},
            {"serial", required_argument, NULL, 's'},
            {"only", required_argument, NULL, 'o'},
            {"fix", no_argument, NULL, 'F'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct doctor_options opt = {.root = ctx->root, .cfg = &ctx->cfg};
        _cleanup_free_ struct doctor_report *rep = NULL;
        bool json = false, do_fix = false;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'm':
                        opt.model = optarg;
                        break;
                case 's':
                        opt.serial = optarg;
                        break;
                case 'o':
                        opt.only = optarg;
                        break;
                case 'F':
                        do_fix = true;
                        break;
                case 'h':
                        doctor_usage(stdout);
                        return CTL_EXIT_OK;
                default:
                        doctor_usage(stderr);
                        return CTL_EXIT_USAGE;
                }
        }
        if (optind != argc) {
                doctor_usage(stderr);
                return CTL_EXIT_USAGE;
        }
        if (str_empty(opt.model) && opt.model) {
                fprintf(stderr, "netrootctl doctor: --model must not be empty\n");
                return CTL_EXIT_USAGE;
        }
        if (opt.serial && (str_empty(opt.serial) || strlen(opt.serial) > 18 ||
                           strspn(opt.serial, "0123456789abcdefABCDEFx") != strlen(opt.serial))) {
                fprintf(stderr, "netrootctl doctor: --serial must be hex digits\n");
                return CTL_EXIT_USAGE;
        }
        if (opt.only && !doctor_known(opt.only)) {
                unknown_check(opt.only);
                return CTL_EXIT_USAGE;
        }
        if (do_fix && (r = write_fix(ctx, json)) != CTL_EXIT_OK)
                return r;
        rep = malloc(sizeof(*rep));
        if (!rep) {
                fprintf(stderr, "netrootctl doctor: out of memory\n");
                return CTL_EXIT_USAGE;
        }
        r = doctor_run(&opt, rep);
        if (r < 0) {
                fprintf(stderr, "netrootctl doctor: %s\n", strerror(-r));
                return CTL_EXIT_USAGE;
        }
        if (json)
                print_json(rep);
        else
                print_human(rep);
        return doctor_report_ok(rep) ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
