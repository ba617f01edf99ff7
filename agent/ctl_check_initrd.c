/* netrootctl check-initrd FILE: does this initramfs hold what an iSCSI root needs? */
#include "ctl.h"
#include "initrd.h"
#include "json.h"
#include "rootpath.h"
#include "strbuf.h"
#include "util.h"

#include <getopt.h>
#include <inttypes.h>
#include <sys/param.h>

static void check_initrd_usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl check-initrd FILE [--kernel VER] [--rootfs TYPE] "
                "[--nic MODULE[,MODULE…]|none] [--json]\n\n"
                "Lists what an iSCSI root needs and whether the initramfs FILE has it.\n"
                "  --kernel VER   kernel version to check (default: the one in FILE)\n"
                "  --rootfs TYPE  root file system driver (default ext4)\n"
                "  --nic LIST     network driver(s), any one suffices (default %s);\n"
                "                 none: do not check (not a Pi)\n"
                "  --json         machine-readable output\n"
                "Exit status: 0 all present, 1 something missing or the archive incomplete,\n"
                "2 FILE unreadable or not an initramfs (or bad usage).\n",
                INITRD_DEFAULT_NIC);
}

static void print_json(const char *file, const struct initrd_report *rep, int r)
{
        struct strbuf sb = {0};

        sb_puts(&sb, "{\"file\": ");
        json_put_string(&sb, file);
        sb_puts(&sb, ", \"kernel\": ");
        if (r == 0 && rep->kernel[0])
                json_put_string(&sb, rep->kernel);
        else
                sb_puts(&sb, "null");
        sb_printf(&sb, ", \"ok\": %s", r == 0 && rep->ok ? "true" : "false");
        if (r < 0) {
                sb_puts(&sb, ", \"error\": ");
                json_put_string(&sb, rep->error);
                sb_puts(&sb, ", \"items\": []}\n");
        } else {
                sb_puts(&sb, ", \"compression\": ");
                json_put_string(&sb, rep->compression);
                sb_printf(&sb, ", \"entries\": %u, \"bytes\": %" PRIu64 ", \"items\": [",
                          rep->entries, rep->bytes);
                for (unsigned i = 0; i < rep->n_items; i++) {
                        sb_puts(&sb, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
                        json_put_string(&sb, rep->items[i].name);
                        sb_printf(
                            &sb, ", \"ok\": %s, \"detail\": ", rep->items[i].ok ? "true" : "false");
                        json_put_string(&sb, rep->items[i].detail);
                        sb_puts(&sb, "}");
                }
                sb_puts(&sb, "\n]}\n");
        }
        if (sb.oom)
                fputs("{\"ok\": false, \"error\": \"out of memory\", \"items\": []}\n", stdout);
        else
                fputs(sb_str(&sb), stdout);
        sb_free(&sb);
}

static void print_human(const char *file, const struct initrd_report *rep)
{
        unsigned missing = 0;
        int width = 0;

        for (unsigned i = 0; i < rep->n_items; i++)
                width = MAX(width, (int)strlen(rep->items[i].name));
        printf("%s: kernel %s\n", file, rep->kernel[0] ? rep->kernel : "(none found)");
        for (unsigned i = 0; i < rep->n_items; i++) {
                const struct initrd_item *it = &rep->items[i];

                printf("  %-7s  %-*s  %s\n", it->ok ? "ok" : "MISSING", width, it->name,
                       it->detail);
                missing += !it->ok;
        }
        if (!missing) {
                printf("result: ok, everything an iSCSI root needs is there\n");
                return;
        }
        printf("result: %u item%s missing:", missing, missing == 1 ? "" : "s");
        for (unsigned i = 0; i < rep->n_items; i++)
                if (!rep->items[i].ok)
                        printf(" %s", rep->items[i].name);
        printf("\n");
}

int ctl_check_initrd(struct ctl_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
            {"kernel", required_argument, NULL, 'k'}, {"rootfs", required_argument, NULL, 'f'},
            {"nic", required_argument, NULL, 'n'},    {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},         {},
        };
        struct initrd_check_options opt = {.root = ctx->root};
        _cleanup_free_ struct initrd_report *rep = NULL;
        _cleanup_free_ char *path = NULL;
        const char *file;
        bool json = false;
        int c, r;

        /* 0, not 1: glibc then forgets the "+" (stop at the first non-option) of the main
         * parser, so options may follow FILE. */
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'k':
                        opt.kver = optarg;
                        break;
                case 'f':
                        opt.rootfs = optarg;
                        break;
                case 'n':
                        opt.nic = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        check_initrd_usage(stdout);
                        return CTL_EXIT_OK;
                default:
                        check_initrd_usage(stderr);
                        return CTL_EXIT_USAGE;
                }
        }
        if (optind != argc - 1) {
                check_initrd_usage(stderr);
                return CTL_EXIT_USAGE;
        }
        file = argv[optind];
        /* An absolute FILE lives in the --root sandbox like every other path. */
        path = file[0] == '/' ? root_path(ctx->root, file) : strdup(file);
        rep = calloc(1, sizeof(*rep));
        if (!path || !rep) {
                fprintf(stderr, "netrootctl: out of memory\n");
                return CTL_EXIT_USAGE;
        }
        r = initrd_check(path, &opt, rep);
        if (r == -EINVAL) {
                fprintf(stderr, "netrootctl check-initrd: %s\n", rep->error);
                return CTL_EXIT_USAGE;
        }
        if (json)
                print_json(file, rep, r);
        else if (r < 0)
                printf("%s: unreadable: %s\n", file, rep->error);
        else
                print_human(file, rep);
        if (r < 0) {
                if (json)
                        fprintf(stderr, "netrootctl check-initrd: %s\n", rep->error);
                return CTL_EXIT_USAGE;
        }
        return rep->ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
