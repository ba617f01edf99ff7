/* netrootctl: the admin's command line for netroot-agent. */
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "rootpath.h"
#include "util.h"

#include <getopt.h>

struct ctl_command {
        const char *name;
        ctl_command_fn run;
        const char *summary;
};

static const struct ctl_command commands[] = {
    {"status", ctl_status, "show the iSCSI root health and what netrootd manages"},
    {"check-initrd", ctl_check_initrd, "check an initramfs for what an iSCSI root needs"},
    {"bootcfg", ctl_bootcfg, "show what this Pi boots; point its initramfs at a checked file"},
    {"probe", ctl_probe, "probe the iSCSI portal out of band (discovery or login)"},
    {"doctor", ctl_doctor, "check the netboot and iSCSI root setup step by step"},
    {"upgrade", ctl_upgrade, "guarded kernel upgrade: build, check, switch, verify, record"},
    {"rollback", ctl_rollback, "put the boot folder back to a saved generation"},
    {"history", ctl_history, "list the saved generations of the boot folder"},
    {"confirm", ctl_confirm, "decide a pending boot: good, or bad and rolled back"},
    {"hook", ctl_hook, "entry points of the kernel and apt hooks (dpkg and apt call them)"},
    {"firmware", ctl_firmware, "the fleet's firmware at the TFTP root: status, promote, rollback"},
    {"fleet", ctl_fleet, "every Pi folder of the TFTP root: identity, boot, generations, firmware"},
};

static void usage(FILE *out)
{
        fprintf(out, "Usage: netrootctl [--root DIR] [--config FILE] COMMAND [OPTIONS]\n\n"
                     "Commands:\n");
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
        fprintf(out,
                "\nOptions:\n"
                "  --root DIR     resolve every path under DIR (a sandbox tree)\n"
                "  --config FILE  configuration file (default %s)\n"
                "  --version      print the version\n"
                "  --help         this text\n"
                "\nExit status: 0 ok, 1 check failed or refused, 2 usage or configuration "
                "error, 3 upgrade rolled back.\n",
                CONFIG_DEFAULT_PATH);
}

static int load_config(struct ctl_context *ctx, const char *config_arg)
{
        _cleanup_free_ char *path = NULL;
        struct config_diag diag;
        int r;

        path = config_arg ? strdup(config_arg) : root_path(ctx->root, CONFIG_DEFAULT_PATH);
        if (!path)
                return -ENOMEM;
        snprintf(ctx->config_path, sizeof(ctx->config_path), "%s", path);
        r = config_load(path, &ctx->cfg, &diag);
        if (r == -ENOENT) {
                ctx->config_missing = true;
                return config_resolve_boot_dir(&ctx->cfg, ctx->root);
        }
        if (r < 0) {
                fprintf(stderr, "netrootctl: %s\n", diag.error);
                return r;
        }
        r = config_resolve_boot_dir(&ctx->cfg, ctx->root);
        if (r < 0)
                return r;
        if (diag.warning[0])
                fprintf(stderr, "netrootctl: warning: %s\n", diag.warning);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"root", required_argument, NULL, 'r'},
            {"config", required_argument, NULL, 'c'},
            {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct ctl_context ctx = {0};
        const char *config_arg = NULL;
        int c;

        logger_init(&ctx.log, "netrootctl", LOG_TARGET_STDERR);
        /* "+" stops at the first non-option: the subcommand parses the rest itself. */
        while ((c = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
                switch (c) {
                case 'r':
                        ctx.root = optarg;
                        break;
                case 'c':
                        config_arg = optarg;
                        break;
                case 'V':
                        printf("netrootctl %s\n", NETROOT_VERSION);
                        return CTL_EXIT_OK;
                case 'h':
                        usage(stdout);
                        return CTL_EXIT_OK;
                default:
                        usage(stderr);
                        return CTL_EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
                if (!streq(argv[optind], commands[i].name))
                        continue;
                if (load_config(&ctx, config_arg) < 0)
                        return CTL_EXIT_USAGE;
                argc -= optind;
                argv += optind;
                optind = 1;
                return commands[i].run(&ctx, argc, argv);
        }
        fprintf(stderr, "netrootctl: unknown command '%s'; see 'netrootctl --help'\n",
                argv[optind]);
        return CTL_EXIT_USAGE;
}
