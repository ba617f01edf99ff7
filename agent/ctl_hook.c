/* netrootctl hook: the package's entry points from dpkg and apt (hooks/zz-netroot,
 * hooks/netroot-apt-pre, hooks/netroot-apt-post). None of them may make apt fail a kernel install
 * for an upgrade that was refused or rolled back: only a boot folder the Pi may not boot from is
 * an error. Each holds the boot lock (bootlock.h) for its whole run.
 *
 *   kernel-postinst VER [IMAGE]  /etc/kernel/postinst.d: the guarded upgrade to VER, when VER is
 *                                the flavour this Pi boots; under apt it takes apt-pre's
 *                                generation as its backup
 *   apt-pre [--apt-pid PID] [PKG[:ACTION]...]
 *                                before dpkg runs (installs AND removals): the boot folder saved
 *                                as a generation, and a marker naming it and the apt run
 *   apt-post                     after dpkg: the boot folder checked, put back to the marker's
 *                                generation when it would not boot, a summary, the marker gone
 *   kernel-postrm VER            /etc/kernel/postrm.d, and
 *   initramfs-post-update VER [FILE]
 *                                /etc/initramfs/post-update.d: after Debian's raspi-firmware hook
 *                                (z50-raspi-firmware, which rewrites cmdline.txt from scratch),
 *                                cmdline.txt repaired from a generation when it lost the iSCSI
 *                                login (cmdline_repair.h); kernel-postinst and apt-post do it too
 *   check                        the boot check alone (read only) */
#include "boot_view.h"
#include "bootcheck.h"
#include "bootlock.h"
#include "cluster_lock.h"
#include "cmdline_repair.h"
#include "ctl.h"
#include "dpkg.h"
#include "fileio.h"
#include "firmware_set.h"
#include "generation.h"
#include "kvfile.h"
#include "modules_copy.h"
#include "log.h"
#include "msgid.h"
#include "packaging.h"
#include "rollback.h"
#include "rootpath.h"
#include "tftp_fetch.h"
#include "txn.h"
#include "upgrade.h"
#include "util.h"

#include <sys/stat.h>
#include <time.h>

/* Fixed (not [agent] run_dir): the apt hooks test for it without starting any program. */
#define HOOK_MARKER    "/run/netroot/apt-kernel"
#define HOOK_LOCK_WAIT 60
/* The boot lock: a hook waits for a running `netrootctl upgrade` rather than skip its job. */
#define HOOK_BOOT_LOCK_WAIT 900

struct marker {
        unsigned gen;        /* the generation apt-pre saved, 0 when it could not */
        long apt_pid;        /* the apt process of this run */
        char apt_start[32];  /* its start time (field 22 of /proc/PID/stat): pid reuse */
        char packages[1024]; /* what apt was changing */
        char created[32];
};

static const struct kv_field marker_fields[] = {
    KV_UINT_FIELD(struct marker, gen, 0),      KV_LONG_FIELD(struct marker, apt_pid, 0),
    KV_STR_FIELD(struct marker, apt_start, 0), KV_STR_FIELD(struct marker, packages, 0),
    KV_STR_FIELD(struct marker, created, 0),
};

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl hook kernel-postinst VERSION [IMAGE]\n"
                "       netrootctl hook apt-pre [--apt-pid PID] [PACKAGE[:ACTION]...]\n"
                "       netrootctl hook apt-post\n"
                "       netrootctl hook kernel-postrm VERSION\n"
                "       netrootctl hook initramfs-post-update VERSION [FILE]\n"
                "       netrootctl hook check\n\n"
                "Entry points of the package's kernel and apt hooks. kernel-postinst runs the\n"
                "guarded upgrade to VERSION when it is the flavour this Pi boots; apt-pre saves\n"
                "the boot folder as a generation before dpkg installs or removes kernel or boot\n"
                "packages; apt-post checks the boot folder afterwards and rolls back to that\n"
                "generation when it would not boot. kernel-postrm and initramfs-post-update (and\n"
                "the others) put cmdline.txt back from a generation when Debian's raspi-firmware\n"
                "hook dropped the iSCSI login. check is the boot check alone.\n"
                "Exit 0 unless the boot folder is left in a state the Pi may not boot from.\n");
}

static void print_block(const char *title, const char *const *lines, size_t n)
{
        printf("\n"
               "**********************************************************************\n"
               "netroot: %s\n",
               title);
        for (size_t i = 0; i < n; i++)
                if (lines[i] && lines[i][0])
                        printf("netroot:   %s\n", lines[i]);
        printf("**********************************************************************\n\n");
        fflush(stdout);
}

/* ---- the marker of an apt run ------------------------------------------------------------------
 */

/* Field 22 of /proc/PID/stat (after the ")" that ends the command name): the process's start. */
/* A PID is this kernel's: read from the machine's own /proc even under --root (a sandbox's
 * /proc, if any, is files, not processes). */
static int proc_start(const char *root, long pid, char *buf, size_t size)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *p;
        int field = 2;

        (void)root;
        buf[0] = '\0';
        if (asprintf(&path, "/proc/%ld/stat", pid) < 0)
                return -ENOMEM;
        if (file_read_all(path, 4096, &text, NULL) < 0)
                return -ESRCH;
        p = strrchr(text, ')');
        for (; p && *p && field < 22; p++)
                if (*p == ' ')
                        field++;
        if (!p || field != 22)
                return -EBADMSG;
        snprintf(buf, size, "%.*s", (int)strcspn(p, " "), p);
        return 0;
}

/* APT runs each Pre-Install-Pkgs command through `sh -c`, so the hook's $PPID is that shell,
 * which exits right after the hook: the marker must name apt itself. PID's command name and its
 * parent (fields 2 and 4 of /proc/PID/stat); a shell is stepped over, at most a few times. */
static long apt_ancestor(const char *root, long pid)
{
        for (int depth = 0; pid > 1 && depth < 4; depth++) {
                _cleanup_free_ char *path = root_pathf(root, "/proc/%ld/stat", pid), *text = NULL;
                const char *open_paren, *close_paren;
                char comm[32];
                long ppid;

                if (!path || file_read_all(path, 4096, &text, NULL) < 0)
                        break;
                open_paren = strchr(text, '(');
                close_paren = strrchr(text, ')');
                if (!open_paren || !close_paren || close_paren < open_paren ||
                    sscanf(close_paren + 1, " %*c %ld", &ppid) != 1)
                        break;
                snprintf(comm, sizeof(comm), "%.*s", (int)(close_paren - open_paren - 1),
                         open_paren + 1);
                if (!streq(comm, "sh") && !streq(comm, "dash") && !streq(comm, "bash"))
                        break;
                pid = ppid;
        }
        return pid;
}

/* 1 when a marker of a live apt run is there, 0 when none (a stale one, left by an apt that was
 * killed, is removed: it must not switch off every later backup until the next reboot). */
static int marker_read(struct ctl_context *ctx, struct marker *m)
{
        _cleanup_free_ char *p = root_path(ctx->root, HOOK_MARKER);
        char now[32];
        struct error e;
        int r;

        memset(m, 0, sizeof(*m));
        if (!p)
                return -ENOMEM;
        r = kv_load(p, 64 * 1024, marker_fields, ARRAY_SIZE(marker_fields), m, &e);
        if (r == -ENOENT)
                return 0;
        if (r < 0 || (m->apt_pid > 0 && (proc_start(ctx->root, m->apt_pid, now, sizeof(now)) < 0 ||
                                         !streq(now, m->apt_start)))) {
                printf("netroot: %s: %s; removed\n", HOOK_MARKER,
                       r < 0 ? error_text(&e) : "left by an apt run that is gone");
                (void)file_remove(p);
                return 0;
        }
        return 1;
}

static int marker_write(struct ctl_context *ctx, const struct marker *m)
{
        _cleanup_free_ char *p = root_path(ctx->root, HOOK_MARKER), *dir = NULL;
        struct error e;
        int r;

        if (!p || !(dir = root_path(ctx->root, "/run/netroot")))
                return -ENOMEM;
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return r;
        return kv_save(p, marker_fields, ARRAY_SIZE(marker_fields), m, 0644, &e);
}

/* When apt-pre wrote the marker: before dpkg ran anything of this apt run. */
static struct timespec marker_time(struct ctl_context *ctx)
{
        _cleanup_free_ char *p = root_path(ctx->root, HOOK_MARKER);
        struct stat st;

        if (!p || stat(p, &st) < 0)
                return (struct timespec){0};
        return st.st_mtim;
}

static int marker_remove(struct ctl_context *ctx)
{
        _cleanup_free_ char *p = root_path(ctx->root, HOOK_MARKER);

        return p ? file_remove(p) : -ENOMEM;
}

/* ---- the view ----------------------------------------------------------------------------------
 */

static struct boot_view *view_load(struct ctl_context *ctx, char *why, size_t size)
{
        struct boot_view_options bo = {.root = ctx->root, .cfg = &ctx->cfg, .flavour = true};
        struct boot_view *v = boot_view_new();
        int r;

        if (!v) {
                snprintf(why, size, "out of memory");
                return NULL;
        }
        r = boot_view_load(v, &bo);
        if (r < 0 && !(r == -EINVAL && v->eval_r == 0))
                snprintf(why, size, "%s", v->error[0] ? v->error : strerror(-r));
        return v;
}

static void view_free(struct boot_view *v)
{
        boot_view_free(v);
        free(v);
}

/* Whether this Pi's packaging is one the agent does not guard (WHY says why). */
static bool unguarded_now(struct ctl_context *ctx, char *why, size_t size)
{
        char err[256] = "";
        struct boot_view *v = view_load(ctx, err, sizeof(err));
        bool r = v && !err[0] && packaging_unguarded(v, why, size);

        if (v)
                view_free(v);
        return r;
}

/* 1 bootable, 0 not, <0 unreadable; WHY says which (bootcheck.h: the Pi's boot as a whole). */
static int check_now(struct ctl_context *ctx, char *why, size_t size)
{
        return boot_check_root(ctx->root, &ctx->cfg, NULL, why, size);
}

static void recover(struct ctl_context *ctx)
{
        _cleanup_free_ char *boot = root_path(ctx->root, ctx->cfg.agent.boot_dir);
        struct strbuf done = {0};
        struct error e = {0};
        struct txn t;
        int r;

        if (!boot)
                return;
        r = txn_recover(boot, &t, &done, &e);
        if (r > 0)
                printf(
                    "netroot: an interrupted upgrade to %s (generation %u) was rolled back: %s\n",
                    t.kernel, t.gen, sb_str(&done));
        else if (r < 0)
                printf("netroot: WARNING: an interrupted upgrade could not be rolled back: %s\n",
                       error_text(&e));
        sb_free(&done);
}

static int take_lock(struct ctl_context *ctx, const char *what, struct boot_lock *l)
{
        struct error e;
        int r = boot_lock_take(ctx->root, ctx->cfg.agent.run_dir, what, HOOK_BOOT_LOCK_WAIT, l, &e);

        if (r < 0)
                printf("netroot: WARNING: %s\n", error_text(&e));
        return r;
}

/* ---- apt-pre: the boot folder saved as a generation ---------------------------------------------
 */

static int backup_shared(struct ctl_context *ctx, const struct boot_view *v, struct gen_record *rec,
                         char *why, size_t size)
{
        _cleanup_free_ char *shared = root_path(ctx->root, ctx->cfg.upgrade.shared_dir);
        struct cluster_lock lock = {0};
        struct cluster_lock_holder h = {0};
        struct firmware_set set;
        char bdir[4096], err[512] = "";
        size_t sl;
        int r, rr;

        if (!shared)
                return -ENOMEM;
        r = cluster_lock_acquire(&lock, shared, v->serial, 600, HOOK_LOCK_WAIT, &h);
        if (r == -EBUSY) {
                snprintf(why, size, "shared firmware locked by %s@%s pid %ld", h.serial, h.host,
                         h.pid);
                return r;
        }
        if (r < 0) {
                snprintf(why, size, "cannot lock the shared firmware in %s: %s", shared,
                         strerror(-r));
                return r;
        }
        r = firmware_set_backup_locked(shared, v->serial, &lock, bdir, sizeof(bdir), &set, err,
                                       sizeof(err));
        rr = cluster_lock_release(&lock);
        if (r >= 0 && rr < 0) {
                /* Checked right before the backup got its name, lost afterwards: the backup is
                 * complete, but say so. */
                printf("netroot: WARNING: releasing the shared firmware lock in %s: %s\n", shared,
                       rr == -ESTALE ? "it was no longer ours (taken over after its TTL)"
                                     : strerror(-rr));
        }
        if (r < 0) {
                snprintf(why, size, "backing up the shared firmware in %s: %s", shared,
                         err[0] ? err : strerror(-r));
                return r;
        }
        sl = strlen(shared);
        snprintf(rec->shared_backup, sizeof(rec->shared_backup), "%s",
                 strncmp(bdir, shared, sl) == 0 && bdir[sl] == '/' ? bdir + sl + 1 : bdir);
        return 0;
}

/* Whether dpkg may delete /lib/modules/KVER in this apt run: one of the run's packages
 * (PACKAGES, apt-pre's "NAME:ACTION ..." list) ships it (Raspbian's raspberrypi-kernel deletes
 * the old version's at unpack). A modules directory no package of the run owns stays as it is:
 * copying it (a Debian kernel's is 400 MB) would keep nothing a rollback needs. Without a list
 * (a truncated one, or none) it is copied. */
static bool run_may_delete_modules(const char *root, const char *packages, bool complete,
                                   const char *kver)
{
        _cleanup_free_ char *lib = NULL, *usr = NULL, *list = NULL;
        char *save = NULL;

        if (!complete || !packages || !packages[0])
                return true;
        list = strdup(packages);
        if (!list || asprintf(&lib, "/lib/modules/%s", kver) < 0 ||
            asprintf(&usr, "/usr/lib/modules/%s", kver) < 0)
                return true;
        for (char *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                char *colon = strchr(tok, ':');

                if (colon)
                        *colon = '\0';
                if (dpkg_lists_path(root, tok, lib) != 0 || dpkg_lists_path(root, tok, usr) != 0)
                        return true;
        }
        return false;
}

/* The boot folder as generation *GEN, status good: it is what the Pi booted to run apt. The same
 * files an upgrade keeps, as copies (never links: a package that rewrites a file in place must
 * not change its backup). */
static int backup_generation(struct ctl_context *ctx, const struct boot_view *v, const char *reason,
                             const char *packages, bool packages_complete, unsigned *gen, char *why,
                             size_t size)
{
        const struct packaging *pkg = packaging_detect(v);
        struct save_lists *s = calloc(1, sizeof(*s));
        struct gen_record rec = {0};
        char kver[FLAVOUR_VER_MAX];
        struct error e;
        int r;

        if (!s)
                return -ENOMEM;
        boot_kernel_version(ctx->root, v, kver, sizeof(kver));
        save_lists_make(v, pkg, "", s);
        r = gen_begin(v->boot_dir, gen, &e);
        if (r < 0) {
                snprintf(why, size, "%s", error_text(&e));
                free(s);
                return r;
        }
        if (ctx->cfg.upgrade.shared_dir[0]) {
                r = backup_shared(ctx, v, &rec, why, size);
                if (r < 0)
                        goto fail;
        }
        /* In place (kernel7.img & co.): the package about to run overwrites the kernel, DTBs
         * and overlays (copies, by the packaging row) and deletes /lib/modules/VER. */
        if (packaging_in_place(v) && kver[0] &&
            run_may_delete_modules(ctx->root, packages, packages_complete, kver)) {
                r = modules_save(ctx->root, kver, v->boot_dir, *gen, true, &e);
                if (r < 0) {
                        snprintf(why, size, "keeping /lib/modules/%s: %s", kver, error_text(&e));
                        goto fail;
                }
        }
        snprintf(rec.kernel_from, sizeof(rec.kernel_from), "%s", kver);
        snprintf(rec.kernel_to, sizeof(rec.kernel_to), "%s", kver);
        if (v->res.n_initramfs) {
                const char *cur = v->res.initramfs[0];

                while (*cur == '/')
                        cur++;
                snprintf(rec.initramfs_from, sizeof(rec.initramfs_from), "%s", cur);
                snprintf(rec.initramfs_to, sizeof(rec.initramfs_to), "%s", cur);
                snprintf(rec.final, sizeof(rec.final), "%s", cur);
                rec.final_existed = true;
        }
        rec.status = GEN_GOOD;
        snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
        snprintf(rec.packaging, sizeof(rec.packaging), "%s", pkg->name);
        snprintf(rec.model, sizeof(rec.model), "%s", v->model);
        snprintf(rec.serial, sizeof(rec.serial), "%s", v->serial);
        snprintf(rec.cmdline_name, sizeof(rec.cmdline_name), "%s",
                 v->res.cmdline[0] == '/' ? v->res.cmdline + 1 : v->res.cmdline);
        (void)gethostname(rec.host, sizeof(rec.host) - 1);
        r = gen_commit(v->boot_dir, *gen, s->copy, s->n_copy, s->hash, s->n_hash, &rec, &e);
        if (r < 0) {
                snprintf(why, size, "%s", error_text(&e));
                goto fail;
        }
        free(s);
        return 0;
fail:
        (void)gen_abort(v->boot_dir, *gen);
        free(s);
        return r;
}

static int hook_apt_pre(struct ctl_context *ctx, int argc, char **argv)
{
        struct boot_lock lock = BOOT_LOCK_INIT;
        struct boot_view *v = NULL;
        struct marker m = {0};
        char why[1024] = "", reason[GEN_VALUE_MAX];
        bool packages_complete = true;
        size_t used = 0;
        int i = 0, r;

        if (argc >= 2 && streq(argv[0], "--apt-pid")) {
                unsigned long pid;

                if (parse_uint(argv[1], &pid) == 0)
                        m.apt_pid = apt_ancestor(ctx->root, (long)pid);
                i = 2;
        }
        for (; i < argc; i++) {
                int k = snprintf(m.packages + used, sizeof(m.packages) - used, "%s%s",
                                 used ? " " : "", argv[i]);
                if (k > 0 && (size_t)k < sizeof(m.packages) - used)
                        used += (size_t)k;
                else
                        packages_complete = false;
        }
        if (take_lock(ctx, "netrootctl hook apt-pre", &lock) < 0)
                return CTL_EXIT_OK; /* never stop apt for a backup */
        /* Several dpkg runs in one apt run: the first one's backup is the one to go back to. */
        if (marker_read(ctx, &(struct marker){0}) == 1) {
                boot_lock_release(&lock);
                return CTL_EXIT_OK;
        }
        recover(ctx);
        v = view_load(ctx, why, sizeof(why));
        if (v && !why[0] && packaging_unguarded(v, why, sizeof(why))) {
                /* Said once per apt run, here; no marker, so the later hooks stay silent. */
                printf("netroot: NOTE: %s in this run: %s\n",
                       m.packages[0] ? m.packages : "kernel packages", why);
                view_free(v);
                boot_lock_release(&lock);
                fflush(stdout);
                return CTL_EXIT_OK;
        }
        if (v && !why[0]) {
                snprintf(reason, sizeof(reason), "boot folder before apt changed %.400s",
                         m.packages[0] ? m.packages : "kernel packages");
                r = backup_generation(ctx, v, reason, m.packages, packages_complete, &m.gen, why,
                                      sizeof(why));
                if (r < 0)
                        m.gen = 0;
        }
        if (!m.gen)
                printf("netroot: WARNING: no backup of the boot folder before this apt run: %s\n",
                       why);
        else
                printf("netroot: %s in this run: boot folder %s saved as generation %u\n",
                       m.packages[0] ? m.packages : "kernel packages", v->boot_dir, m.gen);
        if (v)
                view_free(v);
        /* An apt run that cannot be seen (no /proc) cannot be told from a dead one later: the
         * marker then names no process and lives until apt-post. */
        if (m.apt_pid > 0 && proc_start(ctx->root, m.apt_pid, m.apt_start, sizeof(m.apt_start)) < 0)
                m.apt_pid = 0;
        {
                time_t now = time(NULL);
                struct tm tm;

                gmtime_r(&now, &tm);
                strftime(m.created, sizeof(m.created), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        r = marker_write(ctx, &m);
        if (r < 0)
                printf("netroot: WARNING: cannot write %s: %s\n", HOOK_MARKER, strerror(-r));
        boot_lock_release(&lock);
        fflush(stdout);
        return CTL_EXIT_OK;
}

/* ---- apt-post and the kernel hook: check, roll back when needed ---------------------------------
 */

static int rollback_to(struct ctl_context *ctx, const char *boot_dir, unsigned gen, char *why,
                       size_t size)
{
        _cleanup_free_ char *shared = NULL;
        struct rollback_options o = {
            .boot_dir = boot_dir, .root = ctx->root, .to = gen, .have_boot_lock = true};
        struct rollback_result res;
        static const struct report_ops ops = {.note = NULL};
        struct report rep = {.ops = &ops};
        int r;

        if (ctx->cfg.upgrade.shared_dir[0]) {
                shared = root_path(ctx->root, ctx->cfg.upgrade.shared_dir);
                o.shared_dir = shared;
        }
        r = rollback_run(&o, &rep, &res);
        if (r < 0)
                snprintf(why, size, "%s", res.reason);
        return r;
}

static void say_repaired(const struct logger *log, const struct cmdline_repair *rep,
                         const char *where, const char *fixline)
{
        char line[1400], title[400];
        const char *lines[] = {rep->broken, line, fixline};

        snprintf(line, sizeof(line), "put back from generation %u: %s", rep->gen, rep->detail);
        snprintf(title, sizeof(title),
                 "REPAIRED %s: raspi-firmware's hook (%s) dropped the iSCSI login", rep->name,
                 where);
        print_block(title, lines, ARRAY_SIZE(lines));
        if (log) /* NULL: no journal here (a chroot, --root) */
                log_event(log, LOG_WARNING, MSGID_CMDLINE_REPAIRED, NULL,
                          "%s repaired after raspi-firmware's hook (%s): %s; put back from "
                          "generation %u; lasting fix: netrootctl doctor --fix",
                          rep->name, where, rep->broken, rep->gen);
}

/* Debian's raspi-firmware hook rewrote cmdline.txt (it runs before us in postinst.d, postrm.d
 * and post-update.d): repaired from a generation when it lost the iSCSI login, said on the apt
 * console and in the journal. When it cannot be repaired, GEN (the apt run's backup; 0: the
 * newest generation) is restored. Returns 0 when cmdline.txt logs into the root (as found, or
 * repaired, or after the restore), -1 when the Pi may not boot. Only for raspi-firmware Pis. */
static int repair_cmdline(struct ctl_context *ctx, const char *where, unsigned gen)
{
        _cleanup_free_ char *boot = root_path(ctx->root, ctx->cfg.agent.boot_dir);
        struct cmdline_repair rep;
        struct logger events;
        const struct logger *log = ctl_events_logger(&events);
        struct boot_view *v;
        char why[1024] = "", rb[1300], line[1400], fixline[600];
        bool raspi;
        int r;

        v = view_load(ctx, why, sizeof(why));
        if (!v)
                return 0;
        raspi = v->fl.raspi_firmware_evidence[0] != '\0';
        view_free(v);
        if (!raspi || !boot)
                return 0;
        r = cmdline_repair_run(ctx->root, &ctx->cfg, &rep);
        if (r < 0) {
                printf("netroot: WARNING: cannot check cmdline.txt after raspi-firmware's hook: "
                       "%s\n",
                       rep.detail[0] ? rep.detail : strerror(-r));
                return 0;
        }
        snprintf(fixline, sizeof(fixline),
                 "lasting fix: netrootctl doctor --fix (writes the iSCSI parameters into %s and "
                 "ROOTPART into %s, so raspi-firmware's hook keeps them)",
                 RASPI_EXTRA_CMDLINE, RASPI_FIRMWARE_DEFAULTS);
        if (rep.outcome == CMDLINE_REPAIR_NOT_NEEDED)
                return 0;
        if (rep.outcome == CMDLINE_REPAIR_DONE) {
                say_repaired(log, &rep, where, fixline);
                return 0;
        }
        /* Impossible: the boot folder goes back to the generation before this apt run. */
        rb[0] = '\0';
        if (rollback_to(ctx, boot, gen, rb, sizeof(rb)) == 0 &&
            check_now(ctx, why, sizeof(why)) == 1) {
                char target[32] = "the newest generation";

                if (gen)
                        snprintf(target, sizeof(target), "generation %u", gen);
                snprintf(line, sizeof(line), "%s; boot folder put back to %s: %s", rep.detail,
                         target, why);
                r = 0;
        } else {
                snprintf(line, sizeof(line), "%s; restoring the previous generation failed: %s",
                         rep.detail, rb[0] ? rb : why);
                r = -1;
        }
        {
                const char *lines[] = {rep.broken, line, fixline,
                                       r < 0 ? "the Pi may NOT boot: fix cmdline.txt before "
                                               "rebooting (netrootctl hook check)"
                                             : "the new kernel is NOT set up; the Pi boots what "
                                               "it booted before"};
                char title[400];

                snprintf(title, sizeof(title),
                         "CRITICAL: %s lost the iSCSI login (raspi-firmware's hook, %s) and "
                         "cannot be repaired",
                         rep.name, where);
                print_block(title, lines, ARRAY_SIZE(lines));
        }
        if (log)
                log_event(log, LOG_CRIT, MSGID_CMDLINE_UNREPAIRABLE, NULL,
                          "%s lost the iSCSI login (raspi-firmware's hook, %s): %s; %s", rep.name,
                          where, rep.broken, line);
        return r;
}

/* The boot folder is checked; when it would not boot and GEN (the apt run's backup) exists, it is
 * put back. Returns 1 bootable (as found or after the rollback), 0 the Pi may not boot. */
static int ensure_bootable(struct ctl_context *ctx, unsigned gen, bool *rolled, char *state,
                           size_t size)
{
        _cleanup_free_ char *boot = root_path(ctx->root, ctx->cfg.agent.boot_dir);
        char why[2048], rb[1300];
        int r;

        *rolled = false;
        if (!boot)
                return 0;
        r = check_now(ctx, why, sizeof(why));
        if (r == 1) {
                snprintf(state, size, "%s", why);
                return 1;
        }
        printf("netroot: the boot folder %s would not boot: %s\n", boot, why);
        if (!gen) {
                snprintf(state, size, "%s (no backup of this apt run to go back to)", why);
                return 0;
        }
        printf("netroot: putting back generation %u, saved before this apt run\n", gen);
        fflush(stdout);
        if (rollback_to(ctx, boot, gen, rb, sizeof(rb)) < 0) {
                snprintf(state, size, "%s; the rollback to generation %u failed: %s", why, gen, rb);
                return 0;
        }
        *rolled = true;
        r = check_now(ctx, why, sizeof(why));
        snprintf(state, size, "%s", why);
        return r == 1;
}

/* Debian's raspi-firmware hook copies the NEWEST kernel into the boot folder on every initramfs
 * rebuild (a trigger: open-iscsi's, or any package's), also a kernel the guard refused in an
 * earlier apt run and whose initramfs now passes: the Pi then boots a kernel nobody confirmed.
 * Such a switch is as unproven as an upgrade, so the generation apt-pre saved becomes pending
 * for it and the boot confirmation (with its timeout and on_bad) judges it. This run's upgrade,
 * or a pending generation for the kernel that now boots, already covers it; an earlier pending
 * generation for another kernel (an upgrade not yet booted) is superseded, as a second upgrade
 * supersedes it: the pending file names the generation whose kernel the next boot runs.
 * 1: made pending (LINE says so), 0: nothing to do, <0: recording failed (LINE says why). */
static int pend_switched_kernel(struct ctl_context *ctx, const char *boot, unsigned gen, char *line,
                                size_t size)
{
        struct logger events;
        const struct logger *log = ctl_events_logger(&events);
        struct gen_pending pend;
        struct gen_record rec;
        struct boot_view *v;
        char kver[FLAVOUR_VER_MAX] = "", err[256] = "";
        struct error e;
        int r;

        if (!gen || gen_record_load(boot, gen, &rec, &e) < 0)
                return 0;
        v = view_load(ctx, err, sizeof(err));
        if (!v)
                return -ENOMEM;
        if (!err[0])
                boot_kernel_version(ctx->root, v, kver, sizeof(kver));
        view_free(v);
        if (!kver[0] || !rec.kernel_from[0] || streq(kver, rec.kernel_from))
                return 0;
        if (gen_pending_read(boot, &pend, &e) == 0 && (pend.gen == gen || streq(pend.kernel, kver)))
                return 0;
        snprintf(rec.kernel_to, sizeof(rec.kernel_to), "%s", kver);
        rec.status = GEN_PENDING;
        snprintf(rec.reason, sizeof(rec.reason),
                 "this apt run switched the boot folder to kernel %s without upgrading it "
                 "(raspi-firmware's hook copies the newest kernel on an initramfs rebuild): "
                 "waiting for the boot confirmation",
                 kver);
        r = gen_record_save(boot, &rec, &e);
        if (r >= 0)
                r = gen_pending_write(boot, gen, kver, &e);
        if (r < 0) {
                snprintf(line, size, "the switch to kernel %s is not recorded as pending: %s", kver,
                         error_text(&e));
                return r;
        }
        snprintf(line, size,
                 "this apt run switched the boot folder from kernel %s to %s (raspi-firmware's "
                 "hook, an initramfs rebuild): generation %u pending until the boot is confirmed "
                 "after the reboot",
                 rec.kernel_from, kver, gen);
        if (log)
                log_event(log, LOG_NOTICE, MSGID_UPGRADE_DONE, NULL,
                          "kernel %s set to boot by raspi-firmware's hook in an apt run (was %s); "
                          "generation %u pending until the boot is confirmed",
                          kver, rec.kernel_from, gen);
        return 1;
}

static int hook_apt_post(struct ctl_context *ctx)
{
        _cleanup_free_ char *boot = root_path(ctx->root, ctx->cfg.agent.boot_dir);
        struct boot_lock lock = BOOT_LOCK_INIT;
        struct gen_pending pend;
        struct marker m;
        struct error e;
        char state[2400], pend_line[512] = "", back_line[256] = "", switch_line[768] = "";
        bool rolled;
        int r, switched;

        if (!boot)
                return CTL_EXIT_FAILED;
        if (take_lock(ctx, "netrootctl hook apt-post", &lock) < 0)
                return CTL_EXIT_FAILED;
        if (marker_read(ctx, &m) != 1) {
                boot_lock_release(&lock);
                return CTL_EXIT_OK; /* not a run that touched kernel packages */
        }
        recover(ctx);
        (void)repair_cmdline(ctx, "apt run", m.gen);
        r = ensure_bootable(ctx, m.gen, &rolled, state, sizeof(state));
        if (m.gen)
                snprintf(back_line, sizeof(back_line),
                         "backup before this apt run: generation %u (netrootctl rollback --to %u)",
                         m.gen, m.gen);
        if (!r) {
                const char *lines[] = {state, back_line,
                                       "the Pi may NOT boot: fix the boot folder, then run "
                                       "netrootctl doctor; netrootctl history lists generations"};
                print_block("CRITICAL: the boot folder is not bootable after this apt run", lines,
                            ARRAY_SIZE(lines));
                boot_lock_release(&lock);
                return CTL_EXIT_FAILED; /* the marker stays: the next apt run checks again */
        }
        switched =
            rolled ? 0 : pend_switched_kernel(ctx, boot, m.gen, switch_line, sizeof(switch_line));
        if (switched < 0)
                printf("netroot: WARNING: %s\n", switch_line);
        else if (!rolled && !switched && gen_pending_read(boot, &pend, &e) == 0)
                snprintf(pend_line, sizeof(pend_line),
                         "generation %u (kernel %s) pending until the boot is confirmed after the "
                         "reboot",
                         pend.gen, pend.kernel);
        if (rolled) {
                const char *lines[] = {state, back_line, "see netrootctl history"};
                print_block("WARNING: boot folder put back to its state before this apt run", lines,
                            ARRAY_SIZE(lines));
        } else {
                printf("netroot: boot folder checked after this apt run: %s\n", state);
                if (switched > 0)
                        printf("netroot: %s\n", switch_line);
                else if (pend_line[0])
                        printf("netroot: %s\n", pend_line);
                if (back_line[0])
                        printf("netroot: %s\n", back_line);
        }
        r = marker_remove(ctx);
        if (r < 0)
                printf("netroot: cannot remove %s: %s\n", HOOK_MARKER, strerror(-r));
        boot_lock_release(&lock);
        fflush(stdout);
        return CTL_EXIT_OK;
}

static int after_failed_upgrade(struct ctl_context *ctx, const char *ver,
                                const struct upgrade_result *res, unsigned gen)
{
        char state[2400], failed[1400], title[300], still[2500];
        bool rolled;
        int r;

        if (res->outcome == UPGRADE_ROLLBACK_FAILED) {
                snprintf(state, sizeof(state), "the journal of the failed upgrade is kept: %s",
                         res->rollback[0] ? res->rollback : res->reason);
                const char *lines[] = {"the upgrade failed and its ROLLBACK FAILED (see above)",
                                       state,
                                       "the Pi may NOT boot: run netrootctl history and "
                                       "netrootctl rollback before rebooting"};
                print_block("CRITICAL: boot folder in an unknown state", lines, ARRAY_SIZE(lines));
                return CTL_EXIT_FAILED;
        }
        if (res->outcome == UPGRADE_ROLLED_BACK)
                snprintf(failed, sizeof(failed), "step %s failed: %.1200s", res->failed_step,
                         res->reason);
        else
                snprintf(failed, sizeof(failed),
                         "refused before anything was changed: %.1200s (the FAIL lines above say "
                         "why)",
                         res->reason);
        r = ensure_bootable(ctx, gen, &rolled, state, sizeof(state));
        if (!r) {
                const char *lines[] = {failed, state,
                                       "the Pi may NOT boot: run netrootctl history and "
                                       "netrootctl rollback before rebooting"};
                snprintf(title, sizeof(title), "CRITICAL: kernel %s not set up, boot folder broken",
                         ver);
                print_block(title, lines, ARRAY_SIZE(lines));
                return CTL_EXIT_FAILED;
        }
        snprintf(title, sizeof(title),
                 "WARNING: kernel %s is installed but the Pi will NOT boot it", ver);
        snprintf(still, sizeof(still), "the Pi still boots its old kernel: %s", state);
        {
                const char *lines[] = {failed, still,
                                       "details: netrootctl history; after fixing: netrootctl "
                                       "upgrade --kernel VERSION"};
                print_block(title, lines, ARRAY_SIZE(lines));
        }
        return CTL_EXIT_OK;
}

static int hook_kernel_postinst(struct ctl_context *ctx, const char *ver)
{
        struct upgrade_options o = {
            .root = ctx->root,
            .cfg = &ctx->cfg,
            .kernel = ver,
            .lock_wait_sec = HOOK_LOCK_WAIT,
            .have_boot_lock = true,
            .command = "netrootctl hook kernel-postinst",
            .fetch = tftp_fetch_sha256,
        };
        struct ctl_term term = {.out = stdout};
        struct report rep = {.ops = &ctl_upgrade_report_ops, .userdata = &term};
        struct boot_lock lock = BOOT_LOCK_INIT;
        struct upgrade_result res;
        struct boot_view *v;
        struct logger events;
        struct marker m;
        char why[1024] = "";
        int rc;

        if (take_lock(ctx, "netrootctl hook kernel-postinst", &lock) < 0) {
                printf("netroot: kernel %s: not switched to (the boot folder is busy)\n", ver);
                return CTL_EXIT_OK;
        }
        if (marker_read(ctx, &m) != 1)
                m.gen = 0;
        else
                o.apt_started = marker_time(ctx);
        /* raspi-firmware's z50 hook ran just before this one and rewrote cmdline.txt. */
        if (repair_cmdline(ctx, "kernel postinst", m.gen) < 0) {
                boot_lock_release(&lock);
                return CTL_EXIT_FAILED;
        }
        v = view_load(ctx, why, sizeof(why));
        if (!v || why[0]) {
                printf("netroot: kernel %s: not switched to: %s\n", ver, why);
                goto done_ok;
        }
        if (packaging_unguarded(v, NULL, 0))
                goto done_ok; /* apt-pre said why, once */
        if (!packaging_detect(v)->postinst_applies(v, ver, why, sizeof(why))) {
                printf("netroot: %s; skipped\n", why);
                goto done_ok;
        }
        printf("netroot: kernel %s installed: guarded upgrade of %s\n", ver, v->boot_dir);
        fflush(stdout);
        view_free(v);
        v = NULL;
        o.adopt_gen = m.gen;
        o.events = ctl_events_logger(&events);
        (void)upgrade_run(&o, &rep, &res);
        fflush(stdout);
        fflush(stderr);
        if (res.outcome == UPGRADE_DONE) {
                printf("netroot: the Pi boots kernel %s after the next reboot\n", ver);
                goto done_ok;
        }
        rc = after_failed_upgrade(ctx, ver, &res, m.gen);
        boot_lock_release(&lock);
        return rc;
done_ok:
        if (v)
                view_free(v);
        boot_lock_release(&lock);
        return CTL_EXIT_OK;
}

/* kernel-postrm, initramfs-post-update: after raspi-firmware's hook of the same place. Under apt
 * (a marker), apt-post gives the verdict on the whole run; alone (update-initramfs by hand), the
 * boot folder is checked here and a failure said. */
static int hook_after_raspi(struct ctl_context *ctx, const char *where)
{
        struct boot_lock lock = BOOT_LOCK_INIT;
        struct marker m;
        char why[2048];
        int r;

        if (take_lock(ctx, where, &lock) < 0)
                return CTL_EXIT_OK;
        if (marker_read(ctx, &m) != 1)
                m.gen = 0;
        r = repair_cmdline(ctx, where, m.gen);
        if (r == 0 && !m.gen && !unguarded_now(ctx, why, sizeof(why)) &&
            check_now(ctx, why, sizeof(why)) == 0)
                printf("netroot: WARNING: after %s the boot folder would not boot: %s (netrootctl "
                       "history; netrootctl rollback)\n",
                       where, why);
        boot_lock_release(&lock);
        fflush(stdout);
        return r < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

/* Who this Pi is, for the NAS (fleet), written beside the generations only when the hook saved
 * or switched the boot folder: a hook that refused it (a FIFO at config.txt) leaves it as it was.
 */
static void record_identity_if_saved(struct ctl_context *ctx)
{
        _cleanup_free_ char *boot = root_path(ctx->root, ctx->cfg.agent.boot_dir);
        _cleanup_free_ char *store = NULL;
        struct stat st;

        if (!boot || asprintf(&store, "%s/%s", boot, GEN_STORE) < 0)
                return;
        if (lstat(store, &st) == 0 && S_ISDIR(st.st_mode))
                ctl_record_identity(ctx, NULL, NULL, "hook");
}

int ctl_hook(struct ctl_context *ctx, int argc, char **argv)
{
        char why[2048];
        int r;

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
        }
        if (streq(argv[1], "kernel-postinst")) {
                if (argc < 3 || argc > 4 || !argv[2][0]) {
                        usage(stderr);
                        return CTL_EXIT_USAGE;
                }
                r = hook_kernel_postinst(ctx, argv[2]);
                record_identity_if_saved(ctx);
                return r;
        }
        if (streq(argv[1], "apt-pre")) {
                r = hook_apt_pre(ctx, argc - 2, argv + 2);
                record_identity_if_saved(ctx);
                return r;
        }
        if (streq(argv[1], "apt-post") && argc == 2)
                return hook_apt_post(ctx);
        if (streq(argv[1], "kernel-postrm") && argc == 3)
                return hook_after_raspi(ctx, "kernel postrm");
        if (streq(argv[1], "initramfs-post-update") && (argc == 3 || argc == 4))
                return hook_after_raspi(ctx, "initramfs post-update");
        if (streq(argv[1], "check") && argc == 2) {
                if (unguarded_now(ctx, why, sizeof(why))) {
                        printf("not judged: %s\n", why);
                        return CTL_EXIT_OK;
                }
                r = check_now(ctx, why, sizeof(why));
                printf("%s: %s\n", r == 1 ? "consistent" : "NOT bootable", why);
                return r == 1 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
        }
        usage(stderr);
        return CTL_EXIT_USAGE;
}
