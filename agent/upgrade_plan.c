/* The upgrade's plan and preflight; see upgrade_plan.h. */
#include "upgrade_plan.h"

#include "beneath.h"
#include "dpkg.h"
#include "fileio.h"
#include "generation.h"
#include "mounts.h"
#include "packaging.h"
#include "rootpath.h"
#include "tryboot.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#define MIB         (1024ULL * 1024ULL)
#define MKINITRAMFS "/usr/sbin/mkinitramfs"
#define NEW_SUFFIX  ".netroot-new"

_printf_(2, 3) static int refuse(struct upgrade_plan *p, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(p->refusal, sizeof(p->refusal), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool file_at(const char *dir, const char *name)
{
        _cleanup_free_ char *p = NULL;
        struct stat st;

        return asprintf(&p, "%s/%s", dir, path_relative(name)) >= 0 && lstat(p, &st) == 0 &&
               S_ISREG(st.st_mode);
}

const char *upgrade_plan_edited(const struct upgrade_plan *p)
{
        if (p->trial)
                return TRYBOOT_TXT;
        if (!p->config_name[0])
                return "";
        return p->edit_src < p->view->files.n ? p->view->files.files[p->edit_src].name
                                              : "config.txt";
}

/* ---- the kernel to move to ---- */

/* Under apt, what booted before is what apt-pre saw: a package hook (raspi-firmware's z50) may
 * have pointed config.txt at the new kernel since, which would read as "NEW -> NEW". */
static void plan_before_from_apt_pre(struct upgrade_plan *p)
{
        struct gen_record rec;
        struct error e;

        if (!p->o->adopt_gen || gen_record_load(p->view->boot_dir, p->o->adopt_gen, &rec, &e) < 0 ||
            !rec.kernel_from[0])
                return;
        snprintf(p->kver_from, sizeof(p->kver_from), "%s", rec.kernel_from);
}

static int plan_version(struct upgrade_plan *p)
{
        const struct upgrade_options *o = p->o;
        const struct flavour *fl = &p->view->fl;

        if (o->kernel)
                snprintf(p->kver, sizeof(p->kver), "%s", o->kernel);
        else if (!fl->kind)
                snprintf(p->kver, sizeof(p->kver), "%s", fl->explicit_version);
        else if (flavour_newest_version(o->root, fl, p->kver, sizeof(p->kver)) < 0)
                return refuse(p,
                              "no kernel for %s under /lib/modules (versions ending in %s or %s); "
                              "pass --kernel",
                              fl->kind->image, fl->kind->suffix_raspbian, fl->kind->suffix_rpios);
        if (strchr(p->kver, '/') || p->kver[0] == '.' || strpbrk(p->kver, " \t\n,") || !p->kver[0])
                return refuse(p, "bad kernel version '%s'", p->kver);
        if (!flavour_version_matches(fl, p->kver))
                return refuse(p, "kernel %s does not fit this Pi's kernel file %s (%s)", p->kver,
                              fl->kernel_file, fl->description);
        if (fl->version_from_image && !streq(p->kver, fl->explicit_version))
                return refuse(p,
                              "config.txt line %u boots %s, which holds kernel %s (read from the "
                              "image); an initramfs for %s would not match it. Copy the %s "
                              "kernel over %s first",
                              p->view->res.kernel_line, fl->kernel_file, fl->explicit_version,
                              p->kver, p->kver, fl->kernel_file);
        if (!fl->kind && !streq(p->kver, fl->explicit_version))
                return refuse(p,
                              "config.txt line %u boots %s explicitly; an initramfs for %s would "
                              "not match it. Point kernel= at vmlinuz-%s first",
                              p->view->res.kernel_line, fl->kernel_file, p->kver, p->kver);
        if (!fl->kind && !fl->version_from_image) {
                char newest[FLAVOUR_VER_MAX];

                if (flavour_newest_version(o->root, fl, newest, sizeof(newest)) == 0 &&
                    strverscmp(newest, p->kver) > 0)
                        snprintf(p->newer_note, sizeof(p->newer_note),
                                 "kernel %s is installed too; config.txt names %s explicitly",
                                 newest, fl->kernel_file);
        }
        tryboot_kver_from_initrd_name(fl->initramfs_current, p->kver_from, sizeof(p->kver_from));
        /* An in-place file read now may hold the new kernel already (dpkg unpacked it). */
        if (!p->kver_from[0] && !fl->kind && !fl->version_from_image)
                snprintf(p->kver_from, sizeof(p->kver_from), "%s", fl->explicit_version);
        plan_before_from_apt_pre(p);
        return 0;
}

/* ---- where the new initramfs goes and which file the switch edits ---- */

/* trial_boot=tryboot: the new initramfs gets a name of its own, named only by tryboot.txt, so
 * nothing config.txt loads is ever replaced. */
static int plan_trial(struct upgrade_plan *p)
{
        _cleanup_free_ unsigned *gens = NULL;
        char name[FLAVOUR_NAME_MAX];
        size_t n;
        int r;

        r = gen_list(p->view->boot_dir, &gens, &n);
        /* Under apt the upgrade takes apt-pre's generation: its number is the trial's. */
        p->trial_gen = p->o->adopt_gen ? p->o->adopt_gen : r >= 0 && n ? gens[n - 1] + 1 : 1;
        if (r >= 0)
                r = tryboot_initrd_name(p->kver, p->trial_gen, name, sizeof(name));
        if (r < 0)
                return refuse(p, "trial initramfs name: %s", strerror(-r));
        snprintf(p->config_name, sizeof(p->config_name), "%s", name);
        snprintf(p->final, sizeof(p->final), "%s%s", p->view->res.os_prefix, name);
        for (size_t i = 0; i < p->view->res.n_initramfs; i++)
                if (streq(path_relative(p->view->res.initramfs[i]), p->final))
                        return refuse(p,
                                      "config.txt already boots %s, the trial initramfs name; run "
                                      "netrootctl history and retry",
                                      p->final);
        return 0;
}

/* The edit is computed now, on what was read: a refusal here changes nothing, and the switch
 * makes exactly this edit (after checking the file did not change meanwhile). */
static int plan_edit(struct upgrade_plan *p)
{
        struct bootcfg_diag *diag = malloc(sizeof(*diag));
        struct bootcfg_edit e;
        int r;

        if (!diag)
                return -ENOMEM;
        bootcfg_diag_init(diag, p->view->config_path);
        r = bootcfg_files_set_initramfs(&p->view->files, &p->view->pi, p->config_name, &e, diag);
        if (r < 0)
                refuse(p, "config.txt cannot be edited: %s",
                       bootcfg_diag_error(diag) ? bootcfg_diag_error(diag) : strerror(-r));
        else {
                p->edit_src = e.src;
                free(e.text);
        }
        free(diag);
        return r < 0 ? -EINVAL : 0;
}

/* Every name the upgrade writes, replaces or copies is a path inside the boot folder: a
 * config.txt with os_prefix=../x/ or an initramfs of ../../etc/shadow is refused here. */
static int plan_names(struct upgrade_plan *p)
{
        const char *names[] = {p->final, p->new_file, path_relative(p->view->res.cmdline),
                               upgrade_plan_edited(p)};

        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (names[i][0] && !name_inside(names[i]))
                        return refuse(p,
                                      "%s is not a file inside the boot folder (from config.txt's "
                                      "kernel, initramfs, cmdline or os_prefix): refused",
                                      names[i]);
        return 0;
}

static int plan_tftp(struct upgrade_plan *p)
{
        const struct upgrade_config *u = &p->o->cfg->upgrade;
        struct mount_table t;
        const struct mount_entry *m;
        char host[256];

        if (!p->o->fetch) {
                snprintf(p->tftp_note, sizeof(p->tftp_note), "off (no TFTP client)");
                return 0;
        }
        if (u->verify_tftp == VERIFY_TFTP_OFF) {
                snprintf(p->tftp_note, sizeof(p->tftp_note), "off (verify_tftp=off)");
                return 0;
        }
        if (!streq(u->tftp, "auto")) {
                snprintf(p->tftp_server, sizeof(p->tftp_server), "%s", u->tftp);
                return 0;
        }
        if (mounts_load(p->o->root, &t) == 0) {
                m = mounts_covering(&t, p->view->boot_sys);
                if (mounts_is_nfs(m) && mounts_nfs_server(m, host, sizeof(host)) == 0)
                        snprintf(p->tftp_server, sizeof(p->tftp_server), "%s", host);
                mounts_free(&t);
        }
        if (!p->tftp_server[0])
                snprintf(p->tftp_note, sizeof(p->tftp_note),
                         "no server known (tftp=auto and %s is not an NFS mount in /proc/mounts)",
                         p->view->boot_sys);
        return 0;
}

static void add_name(struct save_lists *s, bool copy, const char *name)
{
        const char *kept;

        if (!name || !name[0] || !name_inside(path_relative(name)) ||
            s->n_storage >= UPGRADE_SAVE_MAX)
                return;
        snprintf(s->storage[s->n_storage], sizeof(s->storage[0]), "%s", path_relative(name));
        kept = s->storage[s->n_storage++];
        if (copy && s->n_copy < UPGRADE_SAVE_MAX)
                s->copy[s->n_copy++] = kept;
        if (s->n_hash < UPGRADE_SAVE_MAX)
                s->hash[s->n_hash++] = kept;
}

void save_lists_make(const struct boot_view *v, const struct packaging *pkg, const char *final,
                     struct save_lists *s)
{
        static const char *const patterns[] = {"*.dtb", "bootcode.bin", "start*.elf", "fixup*.dat"};
        char(*extra)[256] = calloc(UPGRADE_SAVE_MAX, sizeof(*extra));
        size_t n_extra;
        struct dirent *de;
        DIR *d;

        memset(s, 0, sizeof(*s));
        for (size_t i = 0; i < v->files.n; i++)
                if (!v->files.files[i].missing)
                        add_name(s, true, v->files.files[i].name);
        add_name(s, true, v->res.cmdline);
        add_name(s, true, TRYBOOT_TXT);
        /* The initramfs the Pi boots now, and the file a switch replaces (absent ones are
         * skipped when the generation is made). */
        for (size_t i = 0; i < v->res.n_initramfs; i++)
                add_name(s, true, v->res.initramfs[i]);
        if (final && final[0])
                add_name(s, true, final);
        n_extra = pkg && extra ? pkg->files_to_save(v, extra, UPGRADE_SAVE_MAX) : 0;
        for (size_t i = 0; i < n_extra; i++)
                add_name(s, true, extra[i]);
        free(extra);
        add_name(s, false, v->res.kernel);
        d = opendir(v->boot_dir);
        if (!d)
                return;
        while ((de = readdir(d)))
                for (size_t i = 0; i < ARRAY_SIZE(patterns); i++)
                        if (fnmatch(patterns[i], de->d_name, 0) == 0) {
                                add_name(s, false, de->d_name);
                                break;
                        }
        closedir(d);
}

static int plan_identity_and_view(struct upgrade_plan *p)
{
        const struct upgrade_options *o = p->o;
        struct boot_view_options bo = {.root = o->root,
                                       .cfg = o->cfg,
                                       .model = o->model,
                                       .serial = o->serial,
                                       .flavour = true};
        char why[1024];
        int r;

        p->view = boot_view_new();
        if (!p->view)
                return -ENOMEM;
        r = boot_view_load(p->view, &bo);
        /* Before the flavour's verdict: such a layout names no kernel version to tell. */
        if ((r >= 0 || (r == -EINVAL && p->view->eval_r == 0)) &&
            packaging_unguarded(p->view, why, sizeof(why)))
                return refuse(p, "%s", why);
        if (r < 0) {
                refuse(p, "%s", p->view->error[0] ? p->view->error : strerror(-r));
                return r;
        }
        /* The two witnesses of the serial folder must agree: an edit in a folder the Pi does
         * not boot from would never reach it. */
        if (boot_view_serial_check(p->view, why, sizeof(why)) < 0)
                return refuse(p, "%s; refused before any change", why);
        p->pkg = packaging_detect(p->view);
        return 0;
}

int upgrade_plan_make(const struct upgrade_options *o, struct upgrade_plan *p)
{
        char why[1024] = "";
        _cleanup_free_ char *cur = NULL;
        struct stat st;
        int r;

        memset(p, 0, sizeof(*p));
        p->o = o;
        r = plan_identity_and_view(p);
        if (r < 0)
                return r;
        p->trial = o->cfg->upgrade.trial_boot == TRIAL_BOOT_TRYBOOT;
        /* Before the kernel choice: its refusals would hide this one's fix. */
        if (p->trial && p->view->res.initramfs_from == BOOTCFG_INITRAMFS_AUTO)
                return refuse(p,
                              "trial_boot=tryboot needs an initramfs line to switch in "
                              "tryboot.txt, but config.txt line %u sets auto_initramfs=1: the "
                              "firmware derives the initramfs name from the kernel file (%s), so "
                              "a trial initramfs cannot be named. Fix: set trial_boot = none in "
                              "[upgrade] of agent.conf, or replace auto_initramfs=1 by `initramfs "
                              "initrd.img-VERSION followkernel`",
                              p->view->res.auto_initramfs_line, p->view->fl.kernel_file);
        r = plan_version(p);
        if (r < 0)
                return r;
        r = p->pkg->refuse(p, why, sizeof(why));
        if (r < 0)
                return refuse(p, "%s", why);
        r = p->trial ? plan_trial(p) : p->pkg->plan_switch(p, why, sizeof(why));
        if (r < 0)
                return p->refusal[0] ? r : refuse(p, "%s", why);
        snprintf(p->new_file, sizeof(p->new_file), "%s%s", p->final, NEW_SUFFIX);
        if (p->config_name[0] && !p->trial) {
                r = plan_edit(p);
                if (r < 0)
                        return r;
        }
        r = plan_names(p);
        if (r < 0)
                return r;
        p->final_exists = file_at(p->view->boot_dir, p->final);
        cur = p->view->fl.initramfs_current[0]
                  ? boot_view_path(p->view, p->view->fl.initramfs_current)
                  : NULL;
        if (cur && stat(cur, &st) == 0)
                p->current_size = (unsigned long long)st.st_size;
        if (o->root) {
                _cleanup_free_ char *mk = root_path(o->root, MKINITRAMFS);
                p->chroot_build = mk && lstat(mk, &st) == 0 && S_ISREG(st.st_mode);
        }
        p->sys_kconfig = root_pathf(o->root, "/boot/config-%s", p->kver);
        if (!p->sys_kconfig)
                return -ENOMEM;
        if (o->cfg->upgrade.shared_dir[0]) {
                p->shared_dir = root_path(o->root, o->cfg->upgrade.shared_dir);
                if (!p->shared_dir)
                        return -ENOMEM;
        }
        save_lists_make(p->view, p->pkg, p->final_exists ? p->final : "", &p->save);
        return plan_tftp(p);
}

void upgrade_plan_free(struct upgrade_plan *p)
{
        if (p->view) {
                boot_view_free(p->view);
                free(p->view);
        }
        free(p->shared_dir);
        free(p->sys_kconfig);
        memset(p, 0, sizeof(*p));
}

/* ---- preflight ---- */

static _printf_(4, 5) void check_add(struct upgrade_plan *p, bool ok, const char *name,
                                     const char *fmt, ...)
{
        struct upgrade_check *c;
        va_list ap;

        if (p->n_checks >= UPGRADE_CHECKS_MAX)
                return;
        c = &p->checks[p->n_checks++];
        c->ok = ok;
        snprintf(c->name, sizeof(c->name), "%s", name);
        va_start(ap, fmt);
        vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
        va_end(ap);
}

bool upgrade_plan_ok(const struct upgrade_plan *p)
{
        for (size_t i = 0; i < p->n_checks; i++)
                if (!p->checks[i].ok)
                        return false;
        return !p->refusal[0];
}

static int running_kernel(const char *root, char *buf, size_t size)
{
        struct utsname u;

        if (root && !streq(root, "/") && root[0]) {
                _cleanup_free_ char *path = root_path(root, "/proc/sys/kernel/osrelease");
                return path ? file_read_value(path, buf, size) : -ENOMEM;
        }
        if (uname(&u) < 0)
                return -errno;
        snprintf(buf, size, "%s", u.release);
        return 0;
}

/* Probes by creating a file: access(2) says yes on NFS with root squash and on some read-only
 * binds where a write still fails. */
static int probe_writable(const char *dir)
{
        _cleanup_free_ char *path = NULL;
        int fd;

        if (asprintf(&path, "%s/.netroot-write-test.%d", dir, (int)getpid()) < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        close(fd);
        unlink(path);
        return 0;
}

/* Every name the upgrade writes, replaces or copies must be the thing itself: a symlink planted
 * in the boot folder (an NFS export other hosts can write) would make the agent write through
 * it, or copy what it points at into the exported generation. */
static const char *boot_symlink(const struct upgrade_plan *p)
{
        static const char *const fixed[] = {TRYBOOT_TXT, GEN_STORE};
        const struct boot_view *v = p->view;
        struct stat st;

        for (size_t i = 0; i < v->files.n + 4 + ARRAY_SIZE(fixed); i++) {
                const char *name = i < v->files.n        ? v->files.files[i].name
                                   : i == v->files.n     ? v->res.cmdline
                                   : i == v->files.n + 1 ? v->fl.kernel_file
                                   : i == v->files.n + 2 ? p->final
                                   : i == v->files.n + 3 ? p->new_file
                                                         : fixed[i - v->files.n - 4];
                _cleanup_free_ char *path = NULL;

                if (!name[0])
                        continue;
                path = boot_view_path(v, name);
                if (path && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
                        return name;
        }
        return NULL;
}

static void preflight_kernel(struct upgrade_plan *p)
{
        const struct upgrade_options *o = p->o;
        _cleanup_free_ char *mods = root_pathf(o->root, "/lib/modules/%s", p->kver);
        _cleanup_free_ char *iscsistart = root_path(o->root, "/usr/sbin/iscsistart");
        _cleanup_free_ char *procconf = root_path(o->root, "/proc/config.gz");
        char running[128] = "";
        struct stat st;

        if (mods && stat(mods, &st) == 0 && S_ISDIR(st.st_mode))
                check_add(p, true, "modules", "/lib/modules/%s present", p->kver);
        else
                check_add(p, false, "modules", "/lib/modules/%s missing: kernel %s not installed",
                          p->kver, p->kver);
        if (iscsistart && stat(iscsistart, &st) == 0 && S_ISREG(st.st_mode))
                check_add(p, true, "open-iscsi", "/usr/sbin/iscsistart present");
        else if (dpkg_installed(o->root, "open-iscsi", NULL, 0) == 1)
                check_add(p, true, "open-iscsi", "package open-iscsi installed");
        else
                check_add(p, false, "open-iscsi",
                          "not installed: the initramfs could not log in to the iSCSI root "
                          "(apt-get install open-iscsi)");
        if (file_at(p->view->boot_dir, p->view->fl.kernel_file))
                check_add(p, true, "kernel file", "%s present", p->view->fl.kernel_file);
        else
                check_add(p, false, "kernel file", "%s missing from %s", p->view->fl.kernel_file,
                          p->view->boot_dir);
        running_kernel(o->root, running, sizeof(running));
        if (stat(p->sys_kconfig, &st) == 0 && S_ISREG(st.st_mode))
                check_add(p, true, "kernel config", "/boot/config-%s present", p->kver);
        else if (streq(running, p->kver) && procconf && stat(procconf, &st) == 0) {
                p->kconfig_from_proc = true;
                check_add(p, true, "kernel config",
                          "/boot/config-%s missing; will be written from /proc/config.gz (%s is "
                          "the running kernel)",
                          p->kver, p->kver);
        } else
                check_add(p, false, "kernel config",
                          "/boot/config-%s missing and %s is not the running kernel with "
                          "/proc/config.gz (running: %s): mkinitramfs would fail with \"E: gzip "
                          "compression (CONFIG_RD_GZIP) not supported by kernel\". Fix: boot %s "
                          "once and rerun, or install the kernel's config file",
                          p->kver, p->kver, running[0] ? running : "unknown", p->kver);
        if (o->root && !p->chroot_build)
                check_add(p, false, "mkinitramfs", "%s%s missing: --root is no full system",
                          o->root, MKINITRAMFS);
        else if (!o->root && (stat(MKINITRAMFS, &st) < 0 || !S_ISREG(st.st_mode)))
                check_add(p, false, "mkinitramfs", "%s missing (apt-get install initramfs-tools)",
                          MKINITRAMFS);
}

static void preflight_folders(struct upgrade_plan *p)
{
        unsigned long long need, avail;
        struct statvfs sv;
        struct stat st;
        int r;

        /* The new initrd is built next to the old one, which stays until the switch. */
        need = 2 * (p->current_size ? p->current_size : 32 * MIB) + 16 * MIB;
        if (statvfs(p->view->boot_dir, &sv) < 0)
                check_add(p, false, "free space", "statvfs %s: %s", p->view->boot_dir,
                          strerror(errno));
        else {
                avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
                check_add(p, avail >= need, "free space", "%llu MiB free in %s, %llu MiB needed",
                          avail / MIB, p->view->boot_dir, (need + MIB - 1) / MIB);
        }
        r = probe_writable(p->view->boot_dir);
        if (r < 0)
                check_add(p, false, "writable", "cannot create files in %s: %s", p->view->boot_dir,
                          strerror(-r));
        else
                check_add(p, true, "writable", "%s", p->view->boot_dir);
        if (p->shared_dir) {
                if (stat(p->shared_dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        check_add(p, false, "shared firmware", "shared_dir %s: %s", p->shared_dir,
                                  errno ? strerror(errno) : "not a folder");
                else if ((r = probe_writable(p->shared_dir)) < 0)
                        check_add(p, false, "shared firmware",
                                  "shared_dir %s not writable (the lock and the backup go there): "
                                  "%s",
                                  p->shared_dir, strerror(-r));
                else
                        check_add(p, true, "shared firmware", "%s writable", p->shared_dir);
        }
        if (p->o->cfg->upgrade.verify_tftp == VERIFY_TFTP_REQUIRED && !p->tftp_server[0])
                check_add(p, false, "tftp", "verify_tftp=required but %s", p->tftp_note);
}

void upgrade_preflight(struct upgrade_plan *p)
{
        const char *link;

        if (p->refusal[0])
                return;
        link = boot_symlink(p);
        if (link)
                check_add(p, false, "boot files",
                          "%s/%s is a symlink: refusing to write through it or to copy what it "
                          "points at (put the file itself there)",
                          p->view->boot_dir, link);
        preflight_kernel(p);
        preflight_folders(p);
}
