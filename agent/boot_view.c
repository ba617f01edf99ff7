#include "boot_view.h"

#include "mounts.h"
#include "rootpath.h"
#include "util.h"

#include <stdarg.h>

struct boot_view *boot_view_new(void)
{
        return calloc(1, sizeof(struct boot_view));
}

void boot_view_free(struct boot_view *v)
{
        if (!v)
                return;
        bootcfg_files_free(&v->files);
        free(v->boot_dir);
        free(v->config_path);
        v->boot_dir = NULL;
        v->config_path = NULL;
}

_printf_(2, 3) static void set_error(struct boot_view *v, const char *fmt, ...)
{
        va_list ap;

        if (v->error[0])
                return;
        va_start(ap, fmt);
        vsnprintf(v->error, sizeof(v->error), fmt, ap);
        va_end(ap);
}

char *boot_view_path(const struct boot_view *v, const char *name)
{
        char *p;

        return asprintf(&p, "%s/%s", v->boot_dir, path_relative(name)) < 0 ? NULL : p;
}

static void load_identity(struct boot_view *v, const struct boot_view_options *o)
{
        const struct agent_config *a = &o->cfg->agent;

        v->model_r = piinfo_model(o->root, o->model ?: a->model, v->model, sizeof(v->model));
        if (v->model_r < 0)
                set_error(v,
                          "cannot read the Pi model from /proc/device-tree/model: %s; pass "
                          "--model or set [agent] model=",
                          strerror(-v->model_r));
        v->serial_r = piinfo_serial(o->root, o->serial ?: a->serial, v->serial, sizeof(v->serial));
        if (v->serial_r < 0)
                set_error(v,
                          "cannot read the Pi serial from the Serial line of /proc/cpuinfo: %s; "
                          "pass --serial or set [agent] serial=",
                          v->serial_r == -ENODATA ? "no Serial line" : strerror(-v->serial_r));
        v->pi.model = v->model_r == 0 ? v->model : NULL;
        v->pi.serial = v->serial_r == 0 ? v->serial : NULL;
        v->pi.tryboot = o->tryboot;
}

static int load_boot_dir(struct boot_view *v, const struct boot_view_options *o)
{
        const char *dir = o->boot_dir ? o->boot_dir : o->cfg->agent.boot_dir;
        size_t n;

        snprintf(v->boot_sys, sizeof(v->boot_sys), "%s", str_empty(dir) ? "/boot" : dir);
        n = strlen(v->boot_sys);
        while (n > 1 && v->boot_sys[n - 1] == '/')
                v->boot_sys[--n] = '\0';
        v->boot_dir_auto = !o->boot_dir && o->cfg->agent.boot_dir_auto;
        /* An absolute folder lives inside the --root sandbox like every other path. */
        v->boot_dir = v->boot_sys[0] == '/' ? root_path(o->root, v->boot_sys) : strdup(v->boot_sys);
        return v->boot_dir ? 0 : -ENOMEM;
}

static void load_witness(struct boot_view *v, const struct boot_view_options *o)
{
        struct mount_table t;
        const struct mount_entry *m;

        if (v->boot_sys[0] != '/' || mounts_load(o->root, &t) < 0)
                return;
        m = mounts_covering(&t, v->boot_sys);
        if (mounts_is_nfs(m) && mounts_nfs_export(m)) {
                /* The folder below the mount point, if the boot folder is deeper. */
                const char *rest = v->boot_sys + strlen(m->target);
                struct mount_entry e = *m;
                char src[sizeof(v->nfs_source)];

                if (streq(m->target, "/"))
                        rest = v->boot_sys;
                snprintf(src, sizeof(src), "%s%s%s", m->source,
                         rest[0] && rest[0] != '/' ? "/" : "", rest);
                snprintf(v->nfs_source, sizeof(v->nfs_source), "%s", src);
                e.source = src;
                if (mounts_nfs_folder(&e, v->nfs_folder, sizeof(v->nfs_folder)) < 0)
                        v->nfs_folder[0] = '\0';
        }
        mounts_free(&t);
}

static void load_flavour(struct boot_view *v, const struct boot_view_options *o)
{
        char why[512];

        v->flavour_r = flavour_detect(o->root, v->boot_dir, &v->res, &v->fl, why, sizeof(why));
        if (v->flavour_r < 0) {
                set_error(v, "%s", why);
                return;
        }
        /* vmlinuz-VER, or a file of its own name: the version flavour_detect() found. */
        if (!v->fl.kind)
                snprintf(v->kver, sizeof(v->kver), "%s", v->fl.explicit_version);
        else
                (void)flavour_newest_version(o->root, &v->fl, v->kver, sizeof(v->kver));
}

int boot_view_load(struct boot_view *v, const struct boot_view_options *o)
{
        int r;

        memset(v, 0, sizeof(*v));
        v->files_r = v->eval_r = v->flavour_r = -ENODATA;
        load_identity(v, o);
        r = load_boot_dir(v, o);
        if (r < 0)
                return r;
        v->main_name = o->tryboot ? "tryboot.txt" : "config.txt";
        v->config_path = boot_view_path(v, v->main_name);
        if (!v->config_path)
                return -ENOMEM;
        load_witness(v, o);
        bootcfg_diag_init(&v->diag, v->config_path);
        v->files_r = bootcfg_files_load(&v->files, v->boot_dir, v->main_name, &v->diag);
        if (v->files_r < 0) {
                set_error(v, "%s", bootcfg_diag_error(&v->diag) ?: strerror(-v->files_r));
                return v->files_r;
        }
        if (v->model_r < 0)
                return v->eval_r = v->model_r;
        v->eval_r = bootcfg_evaluate_files(&v->files, &v->pi, &v->res, &v->diag);
        if (v->eval_r < 0) {
                set_error(v, "%s cannot be evaluated: %s", v->config_path, strerror(-v->eval_r));
                return v->eval_r;
        }
        if (o->flavour)
                load_flavour(v, o);
        if (bootcfg_diag_error(&v->diag)) {
                set_error(v, "%s", bootcfg_diag_error(&v->diag));
                return -EINVAL;
        }
        return o->flavour && v->flavour_r < 0 ? v->flavour_r : 0;
}

int boot_view_serial_check(const struct boot_view *v, char *why, size_t size)
{
        if (v->serial_r < 0 || !v->nfs_folder[0]) {
                snprintf(why, size, "%s",
                         v->serial_r < 0 ? "the serial is unknown"
                                         : "the boot folder is not on NFS");
                return 0;
        }
        if (streq(v->nfs_folder, v->serial)) {
                snprintf(why, size, "%s is %s, folder %s: this Pi's serial folder", v->boot_sys,
                         v->nfs_source, v->serial);
                return 1;
        }
        snprintf(why, size,
                 "%s is mounted from %s (folder %s), but this Pi's bootloader asks the TFTP "
                 "server for folder %s (serial %s): the Pi boots files other than those in %s",
                 v->boot_sys, v->nfs_source, v->nfs_folder, v->serial, v->serial, v->boot_sys);
        return -EXDEV;
}
