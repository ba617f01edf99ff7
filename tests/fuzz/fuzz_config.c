/* agent.conf: config_load() on the input (a memfd, read through /proc/self/fd like any path).
 * Invariants: 0 or -EINVAL; an error names the file and a line and leaves the defaults in
 * place (nothing half-loaded); loaded values stay within their documented bounds. */
#include "fuzz.h"
#include "util.h"

#include "config.h"

#include <errno.h>

static void check_strings(const struct netroot_config *c)
{
        FUZZ_TERMINATED(c->agent.boot_dir);
        FUZZ_TERMINATED(c->agent.state_dir);
        FUZZ_TERMINATED(c->agent.run_dir);
        FUZZ_TERMINATED(c->agent.metrics_file);
        FUZZ_TERMINATED(c->led.device);
        FUZZ_TERMINATED(c->led.trigger_ok);
        FUZZ_TERMINATED(c->iscsi.target);
        FUZZ_TERMINATED(c->iscsi.password);
        FUZZ_TERMINATED(c->upgrade.shared_dir);
        FUZZ_TERMINATED(c->upgrade.tftp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct netroot_config cfg, defaults;
        static struct config_diag diag;
        static int fd = -1;
        static char path[64];
        int r;

        if (fd < 0) {
                fd = memfd_create("agent.conf", 0);
                if (fd < 0)
                        abort();
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                config_set_defaults(&defaults);
        }
        if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
                abort();

        r = config_load(path, &cfg, &diag);
        FUZZ_TERMINATED(diag.error);
        FUZZ_TERMINATED(diag.warning);
        check_strings(&cfg);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL, "config_load: %d", r);
                FUZZ_CHECK(strncmp(diag.error, path, strlen(path)) == 0 &&
                               diag.error[strlen(path)] == ':' &&
                               diag.error[strlen(path) + 1] >= '1' &&
                               diag.error[strlen(path) + 1] <= '9',
                           "error does not name file:line: %s", diag.error);
                FUZZ_CHECK(memcmp(&cfg, &defaults, sizeof(cfg)) == 0,
                           "a refused file changed the settings: %s", diag.error);
                return 0;
        }
        FUZZ_CHECK(r == 0 && !diag.error[0], "config_load: %d %s", r, diag.error);
        FUZZ_CHECK((cfg.agent.boot_dir[0] == '/' || streq(cfg.agent.boot_dir, "auto")) &&
                       cfg.agent.run_dir[0] == '/' &&
                       cfg.agent.state_dir[0] == '/',
                   "a relative folder was accepted");
        FUZZ_CHECK(!cfg.agent.metrics_file[0] || cfg.agent.metrics_file[0] == '/', "metrics_file");
        FUZZ_CHECK(cfg.iscsi.fail_after >= 1 && cfg.iscsi.fail_after <= 100, "fail_after");
        FUZZ_CHECK(cfg.upgrade.keep >= 1 && cfg.upgrade.keep <= 100, "keep");
        FUZZ_CHECK(cfg.ipv6.check_interval_usec >= 1000000ULL &&
                       cfg.ipv6.check_interval_usec <= 3600000000ULL,
                   "check_interval %llu", (unsigned long long)cfg.ipv6.check_interval_usec);
        FUZZ_CHECK(cfg.iscsi.probe_interval_usec >= 10000ULL, "probe_interval");
        FUZZ_CHECK((unsigned)cfg.ipv6.mode <= IPV6_MODE_KEEP, "ipv6 mode");
        FUZZ_CHECK((unsigned)cfg.iscsi.probe <= PROBE_MODE_OFF, "probe mode");
        return 0;
}
