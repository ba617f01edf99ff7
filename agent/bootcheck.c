#include "bootcheck.h"

#include "beneath.h"
#include "cmdline.h"
#include "config.h"
#include "fileio.h"
#include "generation.h"
#include "initrd.h"
#include "iscsi_boot.h"
#include "packaging.h"
#include "rootpath.h"
#include "session.h"
#include "util.h"

#include <limits.h>
#include <sys/stat.h>

#define CMDLINE_MAX (64 * 1024)

static bool is_file(const char *path)
{
        struct stat st;

        return path && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
        struct stat st;

        return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* /lib/modules/VER on the root (or /usr/lib/modules/VER: merged /usr). */
static int modules_present(const char *root, const char *kver)
{
        _cleanup_free_ char *a = root_pathf(root, "/lib/modules/%s", kver);
        _cleanup_free_ char *b = root_pathf(root, "/usr/lib/modules/%s", kver);

        if (!a || !b)
                return -ENOMEM;
        return is_dir(a) || is_dir(b);
}

static unsigned port_or_default(unsigned port)
{
        return port ? port : 3260;
}

/* root=VALUE resolves: root=iscsi: (the initramfs finds the disk itself), the running kernel's
 * own root= (it found the root with it), or a device present under /dev (by-uuid, by-partuuid,
 * by-label links, or a node). LIVE_ROOT may be NULL. */
static int root_resolves(const char *root, const char *value, const char *live_root,
                         const char *live_dev, char *why, size_t size)
{
        const char *by = NULL, *key = value;
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (strncmp(value, "iscsi:", 6) == 0)
                return 1;
        if (live_root && streq(value, live_root))
                return 1;
        if (strncmp(value, "UUID=", 5) == 0)
                by = "/dev/disk/by-uuid/", key = value + 5;
        else if (strncmp(value, "PARTUUID=", 9) == 0)
                by = "/dev/disk/by-partuuid/", key = value + 9;
        else if (strncmp(value, "LABEL=", 6) == 0)
                by = "/dev/disk/by-label/", key = value + 6;
        else if (strncmp(value, "/dev/", 5) == 0)
                by = "/dev/", key = value + 5;
        if (by && *key && !strstr(key, "..")) {
                path = root_pathf(root, "%s%s", by, key);
                if (!path)
                        return -ENOMEM;
                if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
                        return 1;
        }
        snprintf(why, size,
                 "root=%s does not resolve: not the running root's root= (%s) and no such "
                 "device%s%s",
                 value, live_root ? live_root : "unknown",
                 live_dev && live_dev[0] ? "; / is on " : "", live_dev ? live_dev : "");
        return 0;
}

/* The login in cmdline text NAME (B) is the running root's: the kernel session's target (or
 * LIVE_TARGET from the live command line), and LIVE's portal and initiator when known. */
static int same_login(const char *name, const struct iscsi_boot *b, const struct iscsi_boot *live,
                      const char *live_target, char *why, size_t size)
{
        if (live_target && !streq(b->target_name, live_target)) {
                snprintf(why, size, "%s logs into target %s, the running root is on %s", name,
                         b->target_name, live_target);
                return 0;
        }
        if (live && live->target_ip[0] &&
            (!streq(b->target_ip, live->target_ip) ||
             port_or_default(b->target_port) != port_or_default(live->target_port))) {
                snprintf(why, size, "%s logs into %s:%u, the running root came from %s:%u", name,
                         b->target_ip, port_or_default(b->target_port), live->target_ip,
                         port_or_default(live->target_port));
                return 0;
        }
        if (live && live->initiator[0] && b->initiator[0] &&
            !streq(b->initiator, live->initiator)) {
                snprintf(why, size, "%s logs in as %s, the running root as %s", name, b->initiator,
                         live->initiator);
                return 0;
        }
        return 1;
}

/* TEXT's root= resolves (root_resolves); on success WHY says what logs in where. */
static int check_root_arg(const char *root, const char *text, const char *name,
                          const struct iscsi_boot *b, const char *live_root, const char *live_dev,
                          char *why, size_t size)
{
        struct cmdline cl = {0};
        const char *root_arg;
        int r = cmdline_parse(text, strlen(text), &cl);

        if (r < 0)
                return r;
        root_arg = cmdline_get(&cl, "root");
        if (!root_arg || !root_arg[0]) {
                snprintf(why, size, "%s has no root=: the kernel does not know its root", name);
                r = 0;
        } else {
                r = root_resolves(root, root_arg, live_root, live_dev, why, size);
        }
        if (r == 0 && root_arg && root_arg[0] && strlen(why) + strlen(name) + 3 < size) {
                char tmp[1024];

                snprintf(tmp, sizeof(tmp), "%s: %s", name, why);
                snprintf(why, size, "%s", tmp);
        }
        if (r == 1)
                snprintf(why, size, "%s logs into %s at %s:%u, root=%s", name, b->target_name,
                         b->target_ip, port_or_default(b->target_port),
                         strncmp(root_arg, "iscsi:", 6) == 0 ? "iscsi:..." : root_arg);
        cmdline_free(&cl);
        return r;
}

int boot_check_cmdline(const char *root, const char *text, const char *name, char *why, size_t size)
{
        _cleanup_free_ char *frag_path = root_path(root, ISCSI_BOOT_INITRAMFS_PATH);
        _cleanup_free_ char *live_path = root_path(root, ISCSI_BOOT_CMDLINE_PATH);
        _cleanup_free_ char *frag = NULL, *live_text = NULL;
        struct iscsi_boot *b = NULL, *live = NULL;
        struct cmdline live_cl = {0};
        struct session_locator loc;
        struct session_snapshot *snap = NULL;
        const char *live_root = NULL, *live_target;
        char err[ISCSI_BOOT_ERROR_MAX];
        int r, have_live;

        if (!frag_path || !live_path)
                return -ENOMEM;
        b = calloc(1, sizeof(*b));
        live = calloc(1, sizeof(*live));
        snap = calloc(1, sizeof(*snap));
        if (!b || !live || !snap) {
                r = -ENOMEM;
                goto out;
        }
        (void)file_read_all(frag_path, CMDLINE_MAX, &frag, NULL);
        iscsi_boot_init(b);
        r = iscsi_boot_parse(frag, ISCSI_BOOT_INITRAMFS_PATH, text, b, err, sizeof(err));
        if (r < 0) {
                snprintf(why, size, "%s: %s", name, err);
                r = 0;
                goto out;
        }
        if (r == 0 || !b->target_ip[0]) {
                snprintf(why, size,
                         "%s carries no iSCSI login (no ISCSI_TARGET_NAME/ISCSI_TARGET_IP nor "
                         "root=iscsi:): the initramfs cannot log into the root disk",
                         name);
                r = 0;
                goto out;
        }
        /* The running root: its kernel command line (with the same fragment), and the kernel's
         * session for "/" when there is one (its target name wins: it is what is logged in). */
        iscsi_boot_init(live);
        have_live = 0;
        if (file_read_all(live_path, CMDLINE_MAX, &live_text, NULL) >= 0) {
                if (iscsi_boot_parse(frag, ISCSI_BOOT_INITRAMFS_PATH, live_text, live, err,
                                     sizeof(err)) > 0)
                        have_live = 1;
                if (cmdline_parse(live_text, strlen(live_text), &live_cl) == 0)
                        live_root = cmdline_get(&live_cl, "root");
        }
        session_locator_init(&loc, have_live ? live->target_name : NULL);
        live_target = have_live ? live->target_name : NULL;
        if (session_read(root, &loc, snap) == 1 && snap->targetname[0])
                live_target = snap->targetname;
        r = same_login(name, b, have_live ? live : NULL, live_target, why, size);
        if (r == 1)
                r = check_root_arg(root, text, name, b, live_root, snap->root_dev, why, size);
out:
        cmdline_free(&live_cl);
        if (b)
                iscsi_boot_clear(b);
        if (live)
                iscsi_boot_clear(live);
        free(b);
        free(live);
        free(snap);
        return r;
}

void boot_kernel_version(const char *root, const struct boot_view *v, char *ver, size_t size)
{
        _cleanup_free_ unsigned *gens = NULL;
        _cleanup_close_ int bfd = -1;
        char live[SHA256_HEX_SIZE];
        const char *kname = v->res.kernel;
        size_t n = 0;

        (void)root;
        snprintf(ver, size, "%s", v->kver);
        if (!packaging_in_place(v))
                return;
        while (*kname == '/')
                kname++;
        bfd = beneath_open_dir(v->boot_dir);
        if (bfd < 0 || beneath_sha256(bfd, kname, live) < 0 || gen_list(v->boot_dir, &gens, &n) < 0)
                return;
        for (size_t k = n; k-- > 0;) {
                struct gen_record rec;
                struct gen_copies c;
                struct error e;
                int i;

                if (gen_record_load(v->boot_dir, gens[k], &rec, &e) < 0 || !rec.kernel_from[0])
                        continue;
                if (gen_copies_load(v->boot_dir, gens[k], false, &rec, &c, &e) < 0)
                        continue;
                i = gen_copies_find(&c, kname);
                if (i >= 0 && streq(c.m.e[i].sha256, live)) {
                        snprintf(ver, size, "%s", rec.kernel_from);
                        gen_copies_free(&c);
                        return;
                }
                gen_copies_free(&c);
        }
}

int boot_check(const char *root, const struct boot_view *v, char *why, size_t size)
{
        char kver[FLAVOUR_VER_MAX];

        _cleanup_free_ char *kernel = NULL, *cmdline = NULL, *text = NULL;
        char cw[1024];
        int r;

        if (v->eval_r < 0) {
                snprintf(why, size, "%s", v->error[0] ? v->error : strerror(-v->eval_r));
                return v->eval_r;
        }
        if (bootcfg_diag_error(&v->diag)) {
                snprintf(why, size, "%s", bootcfg_diag_error(&v->diag));
                return 0;
        }
        kernel = boot_view_path(v, v->res.kernel);
        if (!kernel)
                return -ENOMEM;
        boot_kernel_version(root, v, kver, sizeof(kver));
        if (!is_file(kernel)) {
                snprintf(why, size, "config.txt boots kernel %s, which is missing", v->res.kernel);
                return 0;
        }
        if (v->res.n_initramfs == 0) {
                snprintf(why, size,
                         "config.txt loads no initramfs: the iSCSI root cannot be mounted");
                return 0;
        }
        if (kver[0]) {
                r = modules_present(root, kver);
                if (r < 0)
                        return r;
                if (!r) {
                        snprintf(why, size,
                                 "config.txt boots %s (kernel %s), but /lib/modules/%s is not on "
                                 "the root: it would boot without its modules",
                                 v->res.kernel, kver, kver);
                        return 0;
                }
        }
        for (size_t i = 0; i < v->res.n_initramfs; i++) {
                _cleanup_free_ char *f = boot_view_path(v, v->res.initramfs[i]);
                char w[2048];

                if (!f)
                        return -ENOMEM;
                if (!is_file(f)) {
                        snprintf(why, size, "config.txt loads initramfs %s, which is missing",
                                 v->res.initramfs[i]);
                        return 0;
                }
                r = initrd_passes_check(root, f, kver[0] ? kver : NULL, w, sizeof(w));
                if (r != 1) {
                        snprintf(why, size, "initramfs %s %s%s%s: %s", v->res.initramfs[i],
                                 r == 0 ? "fails the iSCSI root check" : "cannot be read",
                                 kver[0] ? " for kernel " : "", kver, w);
                        return 0;
                }
        }
        cmdline = boot_view_path(v, v->res.cmdline);
        if (!cmdline)
                return -ENOMEM;
        r = file_read_regular(cmdline, CMDLINE_MAX, &text, NULL);
        if (r < 0) {
                snprintf(why, size, "config.txt's command line %s: %s", v->res.cmdline,
                         file_strerror(r));
                return 0;
        }
        r = boot_check_cmdline(root, text, v->res.cmdline, cw, sizeof(cw));
        if (r != 1) {
                snprintf(why, size, "%s", cw);
                return r < 0 ? r : 0;
        }
        snprintf(why, size,
                 "config.txt boots %s with initramfs %s (kernel %s: passes the iSCSI root check, "
                 "modules on the root); %s",
                 v->res.kernel, v->res.initramfs[0], kver[0] ? kver : "version unknown", cw);
        return 1;
}

int boot_check_root(const char *root, const struct netroot_config *cfg, const char *boot_dir,
                    char *why, size_t size)
{
        struct boot_view_options bo = {
            .root = root, .cfg = cfg, .boot_dir = boot_dir, .flavour = true};
        struct boot_view *v = boot_view_new();
        int r;

        if (!v) {
                snprintf(why, size, "out of memory");
                return -ENOMEM;
        }
        r = boot_view_load(v, &bo);
        if (r < 0 && !(r == -EINVAL && v->eval_r == 0)) {
                snprintf(why, size, "%s", v->error[0] ? v->error : strerror(-r));
                r = r < 0 ? r : -EINVAL;
        } else {
                r = v->files_r < 0 || v->eval_r < 0 ? -EINVAL : boot_check(root, v, why, size);
                if (r == -EINVAL && !why[0])
                        snprintf(why, size, "%s", v->error);
        }
        boot_view_free(v);
        free(v);
        return r;
}
