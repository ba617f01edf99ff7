/* The upgrade's build and check steps: the new initramfs made next to the old one (mkinitramfs,
 * in the --root chroot when there is one, with progress and systemd's EXTEND_TIMEOUT), then
 * checked for an iSCSI root and hashed for the TFTP proof. */
#include "upgrade_step.h"

#include "beneath.h"
#include "child.h"
#include "fileio.h"
#include "generation.h"
#include "initrd.h"
#include "rootpath.h"
#include "testhooks.h"
#include "util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#define MKINITRAMFS      "/usr/sbin/mkinitramfs"
#define EXTEND_EVERY_SEC 10

struct build_tick {
        struct run *u;
        double last;
};

static void build_tick(void *userdata, double elapsed)
{
        struct build_tick *t = userdata;

        if (elapsed - t->last < EXTEND_EVERY_SEC)
                return;
        t->last = elapsed;
        /* systemd's start/stop timeout would kill a service that runs this. */
        if (getenv("NOTIFY_SOCKET"))
                sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%llu",
                           (unsigned long long)(EXTEND_EVERY_SEC * 3) * 1000000ULL);
        report_notef(t->u->rep, "mkinitramfs running, %.0f s", elapsed);
}

/* /proc/config.gz -> /boot/config-VER: mkinitramfs reads the kernel config to pick the
 * compression, and raspberrypi-kernel ships none (FACTS: raspberrypi/linux#5496). */
static int write_kconfig_from_proc(struct run *u)
{
        const struct upgrade_plan *p = u->p;
        _cleanup_free_ char *src = root_path(u->o->root, "/proc/config.gz"), *tmp = NULL;
        _cleanup_close_ int in = -1, out = -1;
        char *argv[] = {"gzip", "-dc", NULL};
        struct spawn_options so = {.argv = argv, .err_fd = SPAWN_NULL};
        struct spawn_result res;
        int r;

        if (!src || asprintf(&tmp, "%s.netroot-tmp", p->sys_kconfig) < 0)
                return upgrade_step_fail(u, "out of memory");
        in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return upgrade_step_fail(u, "%s: %s", src, strerror(errno));
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0)
                return upgrade_step_fail(u, "%s: %s", tmp, strerror(errno));
        so.in_fd = in;
        so.out_fd = out;
        r = spawn_run(&so, &res);
        if (r < 0 || !spawn_ok(&res) || fsync(out) < 0) {
                unlink(tmp);
                return upgrade_step_fail(u, "decompressing %s failed", src);
        }
        if (rename(tmp, p->sys_kconfig) < 0) {
                unlink(tmp);
                return upgrade_step_fail(u, "%s: %s", p->sys_kconfig, strerror(errno));
        }
        {
                _cleanup_free_ char *dir = strdup(p->sys_kconfig);
                _cleanup_close_ int dfd = -1;

                if (dir && strrchr(dir, '/')) {
                        *strrchr(dir, '/') = '\0';
                        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (dfd >= 0)
                                (void)fsync_dir(dfd);
                }
        }
        report_notef(u->rep, "/boot/config-%s written from /proc/config.gz", p->kver);
        return 0;
}

static int build_test_copy(struct run *u, const char *from, const char *out)
{
        _cleanup_close_ int src_dir = -1, bfd = -1;
        _cleanup_free_ char *dir = strdup(from);
        char *slash;
        const char *base;
        int r;

        if (!dir)
                return upgrade_step_fail(u, "out of memory");
        slash = strrchr(dir, '/');
        if (slash) {
                *slash = '\0';
                base = slash + 1;
        } else {
                base = dir;
        }
        src_dir = beneath_open_dir(slash ? (dir[0] ? dir : "/") : ".");
        bfd = beneath_open_dir(u->p->view->boot_dir);
        if (src_dir < 0 || bfd < 0)
                return upgrade_step_fail(u, "NETROOT_TEST_INITRD_FROM=%s: cannot open", from);
        r = beneath_copy(src_dir, base, bfd, out, 0644);
        if (r < 0)
                return upgrade_step_fail(u, "NETROOT_TEST_INITRD_FROM=%s: %s", from,
                                         file_strerror(r));
        report_notef(u->rep, "NETROOT_TEST_INITRD_FROM: copied %s", from);
        return 0;
}

static bool timespec_before(const struct timespec *a, const struct timespec *b)
{
        return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static bool under_apt(const struct run *u)
{
        return u->o->apt_started.tv_sec || u->o->apt_started.tv_nsec;
}

/* Under apt, initramfs-tools' kernel hook (postinst.d, before zz-netroot) has just run the same
 * mkinitramfs with the same configuration for this version: a second build costs as long again
 * (minutes on a Pi 3) for an equivalent file. Its initrd.img-VER is taken when it was written
 * during this apt run and after the modules' depmod; the check step judges it as it would judge
 * one built here. 1: taken, 0: build it here, <0: failed (said). */
static int take_packaged_initrd(struct run *u)
{
        const struct upgrade_plan *p = u->p;
        const struct timespec *since = &u->o->apt_started;
        _cleanup_free_ char *boot = NULL, *depfile = NULL;
        _cleanup_close_ int sysfd = -1, bfd = -1;
        char name[FLAVOUR_NAME_MAX];
        struct stat st, dep;
        struct timespec now;
        int r;

        if (!under_apt(u))
                return 0;
        boot = root_path(u->o->root, "/boot");
        depfile = root_pathf(u->o->root, "/lib/modules/%s/modules.dep", p->kver);
        if (!boot || !depfile)
                return upgrade_step_fail(u, "out of memory");
        snprintf(name, sizeof(name), "initrd.img-%s", p->kver);
        sysfd = beneath_open_dir(boot);
        if (sysfd < 0 || fstatat(sysfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return 0; /* INITRD=No, raspberrypi-kernel: nothing built */
        if (stat(depfile, &dep) < 0) {
                report_notef(u->rep, "/boot/%s: %s missing; building", name, depfile);
                return 0;
        }
        if (timespec_before(&st.st_mtim, since) || timespec_before(&st.st_mtim, &dep.st_mtim)) {
                report_notef(u->rep, "/boot/%s was not built in this apt run; building", name);
                return 0;
        }
        bfd = beneath_open_dir(p->view->boot_dir);
        if (bfd < 0)
                return upgrade_step_fail(u, "%s: %s", p->view->boot_dir, strerror(-bfd));
        r = beneath_copy(sysfd, name, bfd, p->new_file, 0644);
        if (r < 0)
                return upgrade_step_fail(u, "copying /boot/%s: %s", name, file_strerror(r));
        clock_gettime(CLOCK_REALTIME, &now);
        report_notef(u->rep,
                     "/boot/%s taken: update-initramfs built it in this apt run %.0f s ago "
                     "(not built a second time)",
                     name, (double)(now.tv_sec - st.st_mtim.tv_sec));
        return 1;
}

int upgrade_step_build(struct run *u)
{
        struct upgrade_plan *p = u->p;
        const char *from = testhook_env("NETROOT_TEST_INITRD_FROM");
        _cleanup_close_ int bfd = -1;
        _cleanup_free_ char *out_sys = NULL, *logp = NULL, *gdir = NULL;
        struct build_tick tick = {.u = u};
        struct spawn_result res;
        struct stat st;
        char how[64];
        int r;

        if (upgrade_journal(u, "build") < 0)
                return -1;
        bfd = beneath_open_dir(p->view->boot_dir);
        if (bfd < 0)
                return upgrade_step_fail(u, "%s: %s", p->view->boot_dir, strerror(-bfd));
        (void)beneath_unlink(bfd, p->new_file);
        if (p->kconfig_from_proc && write_kconfig_from_proc(u) < 0)
                return -1;
        if (from && from[0]) {
                /* Test hook: the crash and failure tests are not about mkinitramfs' 20 s. */
                r = build_test_copy(u, from, p->new_file);
                if (r < 0)
                        return r;
        } else if ((r = take_packaged_initrd(u)) != 0) {
                if (r < 0)
                        return r;
        } else {
                char *argv[] = {MKINITRAMFS, "-o", NULL, p->kver, NULL};
                struct spawn_options so = {.argv = argv,
                                           .chroot = p->chroot_build ? u->o->root : NULL,
                                           .tick_ms = 1000,
                                           .tick = build_tick,
                                           .userdata = &tick};

                gdir = gen_dir_path(p->view->boot_dir, u->gen);
                if (asprintf(&out_sys, "%s/%s", p->view->boot_sys, p->new_file) < 0 || !gdir ||
                    asprintf(&logp, "%s/mkinitramfs.log", gdir) < 0)
                        return upgrade_step_fail(u, "out of memory");
                argv[2] = out_sys;
                so.log_path = logp;
                r = spawn_run(&so, &res);
                if (r < 0)
                        return upgrade_step_fail(u, "cannot run %s: %s", MKINITRAMFS, strerror(-r));
                if (!spawn_ok(&res)) {
                        spawn_describe(&res, how, sizeof(how));
                        return upgrade_step_fail(u, "mkinitramfs %s %s: %s", p->kver, how,
                                                 res.tail[0] ? res.tail : "(no output)");
                }
                report_notef(u->rep, "mkinitramfs took %.1f s", res.seconds);
        }
        if (beneath_is_file(bfd, p->new_file) != 1)
                return upgrade_step_fail(u, "mkinitramfs succeeded but %s/%s is missing",
                                         p->view->boot_dir, p->new_file);
        if (testhook_env("NETROOT_FAULT_TRUNCATE") &&
            streq(testhook_env("NETROOT_FAULT_TRUNCATE"), "1")) {
                _cleanup_close_ int fd = openat_beneath(bfd, p->new_file, O_WRONLY, 0);

                if (fd >= 0 && fstat(fd, &st) == 0 && ftruncate(fd, st.st_size / 2) == 0)
                        report_notef(u->rep, "NETROOT_FAULT_TRUNCATE: %s cut to %lld bytes",
                                     p->new_file, (long long)(st.st_size / 2));
        }
        return 0;
}

/* ---- check -------------------------------------------------------------------------------------
 */

int upgrade_step_check(struct run *u)
{
        struct upgrade_plan *p = u->p;
        _cleanup_free_ char *out = boot_view_path(p->view, p->new_file);
        _cleanup_close_ int bfd = -1;
        char why[2048];
        int r;

        if (!out)
                return upgrade_step_fail(u, "out of memory");
        r = initrd_passes_check(u->o->root, out, p->kver, why, sizeof(why));
        if (r < 0)
                return upgrade_step_fail(u, "the new initramfs %s cannot be read: %s", out,
                                         why[0] ? why : strerror(-r));
        if (r == 0)
                return upgrade_step_fail(u, "the new initramfs %s fails the check: %s", out, why);
        bfd = beneath_open_dir(p->view->boot_dir);
        r = bfd < 0 ? bfd : beneath_sha256(bfd, p->new_file, u->new_sha);
        if (r < 0)
                return upgrade_step_fail(u, "hashing %s: %s", out, strerror(-r));
        return 0;
}

void upgrade_describe_build(const struct run *u, char *buf, size_t size)
{
        int n = snprintf(buf, size, "mkinitramfs -o %s/%s %s", u->p->view->boot_sys, u->p->new_file,
                         u->p->kver);

        if (under_apt(u) && n >= 0 && (size_t)n < size)
                snprintf(buf + n, size - n,
                         ", unless update-initramfs built /boot/initrd.img-%s in this apt run",
                         u->p->kver);
}

void upgrade_describe_check(const struct run *u, char *buf, size_t size)
{
        snprintf(buf, size, "checking %s for the iSCSI root", u->p->new_file);
}
