/* netrootd: watches the health of a netbooted Pi's iSCSI root and shows it. */
#include "daemon.h"
#include "util.h"

#include <getopt.h>
#include <malloc.h>
#include <sys/prctl.h>

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootd [OPTIONS]\n\n"
                "  --root DIR          resolve every path under DIR (a sandbox tree)\n"
                "  --config FILE       configuration file (default %s)\n"
                "  --check-config      validate the configuration and exit (0 valid, 2 invalid)\n"
                "  --log-target T      auto, journal or stderr (default auto)\n"
                "  --no-mlock          do not lock memory (tests, valgrind)\n"
                "  --version           print the version\n"
                "  --help              this text\n",
                CONFIG_DEFAULT_PATH);
}

/* --check-config: the verdict on the terminal. */
static int check_config(const struct daemon_options *opt)
{
        struct daemon_config_check c;

        int r = daemon_check_config(opt, &c);

        if (c.warning[0])
                fprintf(stderr, "netrootd: warning: %s\n", c.warning);
        if (r < 0) {
                fprintf(stderr, "netrootd: %s\n", c.error);
                return 2;
        }
        printf("%s: %s\n", c.path,
               c.missing ? "not present, built-in defaults are valid" : "valid");
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"root", required_argument, NULL, 'r'},   {"config", required_argument, NULL, 'c'},
            {"check-config", no_argument, NULL, 'C'}, {"log-target", required_argument, NULL, 'l'},
            {"no-mlock", no_argument, NULL, 'M'},     {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},         {},
        };
        struct daemon_options opt = {.log_target = LOG_TARGET_AUTO};
        bool check_only = false;
        struct netrootd d;
        int c, r;

        /* The daemon holds the CHAP secret (agent.conf, the boot command line): no core file,
         * and no reading its memory through /proc by a process of the same user. First, before
         * any secret is read. */
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        /* One malloc arena: the metrics writer thread would otherwise get its own (a 64 MiB
         * reservation whose used part is locked), for a few small strings a minute. */
        (void)mallopt(M_ARENA_MAX, 1);
        while ((c = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
                switch (c) {
                case 'r':
                        opt.root = optarg;
                        break;
                case 'c':
                        opt.config_path = optarg;
                        break;
                case 'C':
                        check_only = true;
                        break;
                case 'l':
                        if (log_target_from_string(optarg, &opt.log_target) < 0) {
                                fprintf(stderr,
                                        "netrootd: --log-target: '%s' is not one of "
                                        "auto, journal, stderr\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'M':
                        opt.no_mlock = true;
                        break;
                case 'V':
                        printf("netrootd %s\n", NETROOT_VERSION);
                        return 0;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "netrootd: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (check_only)
                return check_config(&opt);
        r = daemon_init(&d, &opt);
        if (r >= 0)
                r = daemon_run(&d);
        daemon_done(&d);
        return r < 0 ? (r == -EINVAL ? 2 : 1) : 0;
}
