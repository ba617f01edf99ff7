/* netrootctl doctor's runner: the table of checks (name, group, function), the context they
 * share, loaded once, and the helpers of the check files (doctor_check.h). */
#include "doctor.h"
#include "doctor_check.h"
#include "doctor_packaging.h"

#include "fileio.h"
#include "iscsi_boot.h"
#include "rootpath.h"
#include "status_doc.h"

#include <stdarg.h>
#include <sys/stat.h>

/* One row per check, in the order they run and are shown. */
static const struct doctor_check_def checks[] = {
    {"otp-boot-bit", "boot", doctor_check_otp},
    {"boot-mount", "boot", doctor_check_boot_mount},
    {"serial-folder", "boot", doctor_check_serial_folder},
    {"config-initramfs", "boot", doctor_check_config_initramfs},
    {"cmdline-iscsi", "iscsi", doctor_check_cmdline_iscsi},
    {"cmdline-root", "iscsi", doctor_check_cmdline_root},
    {"fstab-sd-card", "boot", doctor_check_fstab_sd},
    {"fstab-root", "boot", doctor_check_fstab_root},
    {"fstab-boot", "boot", doctor_check_fstab_boot},
    {"dhcpcd", "net", doctor_check_dhcpcd},
    {"ifupdown", "net", doctor_check_ifupdown},
    {"iscsid", "iscsi", doctor_check_iscsid},
    {"recovery-timeout", "iscsi", doctor_check_recovery_tmo},
    {"initrd-setting", "kernel", doctor_check_initrd_setting},
    {"kernel-config", "kernel", doctor_check_kernel_config},
    {"raspi-firmware", "kernel", doctor_check_raspi_firmware},
    {"raspi-fw-folder", "kernel", doctor_check_raspi_fw_folder},
    {"raspi-fw-cmdline", "kernel", doctor_check_raspi_fw_cmdline},
    {"led", "boot", doctor_check_led},
    {"ipv6", "net", doctor_check_ipv6},
};

_Static_assert(ARRAY_SIZE(checks) <= DOCTOR_CHECKS_MAX, "DOCTOR_CHECKS_MAX is too small");

size_t doctor_check_count(void)
{
        return ARRAY_SIZE(checks);
}

const struct doctor_check_def *doctor_check_def(size_t i)
{
        return i < ARRAY_SIZE(checks) ? &checks[i] : NULL;
}

static bool doctor_selects(const char *only, const struct doctor_check_def *d)
{
        return !only || streq(only, d->name) || streq(only, d->group);
}

bool doctor_known(const char *only)
{
        for (size_t i = 0; i < ARRAY_SIZE(checks); i++)
                if (doctor_selects(only, &checks[i]))
                        return true;
        return false;
}

/* ---- results ---- */

void doctor_say(struct doctor_check *ck, enum doctor_result r, const char *fmt, ...)
{
        va_list ap;

        ck->result = r;
        ck->fix[0] = '\0';
        va_start(ap, fmt);
        vsnprintf(ck->detail, sizeof(ck->detail), fmt, ap);
        va_end(ap);
}

/* ---- reading under --root ---- */

void doctor_fix(struct doctor_check *ck, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(ck->fix, sizeof(ck->fix), fmt, ap);
        va_end(ap);
}

/* Appends "; "-separated items to BUF. */
void doctor_appendf(char *buf, size_t size, const char *fmt, ...)
{
        size_t len = strlen(buf);
        va_list ap;

        if (len && len + 2 < size) {
                memcpy(buf + len, "; ", 3);
                len += 2;
        }
        if (len + 1 >= size)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
}

int doctor_read_rooted(const char *root, const char *abs, size_t max, char **out)
{
        _cleanup_free_ char *p = root_path(root, abs);

        *out = NULL;
        if (!p)
                return -ENOMEM;
        return file_read_all(p, max, out, NULL);
}

bool doctor_rooted_exists(const char *root, const char *abs)
{
        _cleanup_free_ char *p = root_path(root, abs);
        struct stat st;

        return p && lstat(p, &st) == 0;
}

bool doctor_is_regular(const char *path)
{
        struct stat st;

        return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *doctor_boot_file(const struct doctor_ctx *c, const char *name)
{
        return boot_view_path(c->v, name);
}

const char *doctor_serial_or_placeholder(const struct doctor_ctx *c)
{
        return c->v->serial_r == 0 ? c->v->serial : "<serial>";
}

bool doctor_is_nfs(const char *type)
{
        return streq(type, "nfs") || streq(type, "nfs4");
}

/* "host:/tftpboot/511e57f7" -> "/tftpboot/511e57f7"; IPv6 servers come in brackets. */
const char *doctor_nfs_export_path(const char *src)
{
        struct mount_entry m = {.source = (char *)src};

        return mounts_nfs_export(&m);
}

bool doctor_path_ends_in(const char *path, const char *last)
{
        size_t len = strlen(path), ll = strlen(last);

        while (len > 1 && path[len - 1] == '/')
                len--;
        return len > ll && path[len - ll - 1] == '/' && strncmp(path + len - ll, last, ll) == 0;
}

const char *doctor_disk_link(const char *spec, const char **key)
{
        static const struct {
                const char *prefix, *dir;
        } links[] = {
            {"UUID=", "/dev/disk/by-uuid/"},
            {"PARTUUID=", "/dev/disk/by-partuuid/"},
            {"LABEL=", "/dev/disk/by-label/"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(links); i++)
                if (strncmp(spec, links[i].prefix, strlen(links[i].prefix)) == 0) {
                        *key = spec + strlen(links[i].prefix);
                        return links[i].dir;
                }
        return NULL;
}

static void load_kver(struct doctor_ctx *c)
{
        _cleanup_free_ char *p = root_path(c->root, "/proc/sys/kernel/osrelease");

        if (!p || file_read_value(p, c->kver, sizeof(c->kver)) < 0 || strchr(c->kver, '/'))
                c->kver[0] = '\0';
}

static void load_bootcfg(struct doctor_ctx *c, const struct doctor_options *opt)
{
        struct boot_view_options bo = {
            .root = c->root,
            .cfg = c->cfg,
            .model = opt->model,
            .serial = opt->serial,
        };

        (void)boot_view_load(c->v, &bo);
        c->boot_sys = c->v->boot_sys;
        snprintf(c->cmdline_name, sizeof(c->cmdline_name), "%s",
                 c->v->eval_r == 0 && c->v->res.cmdline[0] ? c->v->res.cmdline : "cmdline.txt");
}

static void load_cmdlines(struct doctor_ctx *c)
{
        _cleanup_free_ char *path = doctor_boot_file(c, c->cmdline_name);
        size_t len;

        c->cmdline_r =
            path ? file_read_all(path, DOCTOR_SMALL_FILE_MAX, &c->cmdline_text, &len) : -ENOMEM;
        if (c->cmdline_r == 0)
                c->cl_ok = cmdline_parse(c->cmdline_text, len, &c->cl) == 0;
        if (doctor_read_rooted(c->root, "/proc/cmdline", DOCTOR_SMALL_FILE_MAX, &c->proc_cmdline) ==
            0)
                c->pcl_ok = cmdline_parse(c->proc_cmdline, strlen(c->proc_cmdline), &c->pcl) == 0;
}

static void load_session(struct doctor_ctx *c)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        iscsi_boot_init(&b);
        if (iscsi_boot_load(c->root, &b, err, sizeof(err)) < 0)
                b.target_name[0] = '\0';
        session_locator_init(&c->loc, b.target_name);
        iscsi_boot_clear(&b);
        c->snap_r = session_read(c->root, &c->loc, &c->snap);
}

/* netrootd's status.json through the one reader of its schema; none (or unreadable) leaves
 * c->status NULL and the checks read sysfs and procfs instead. */
static void load_status(struct doctor_ctx *c)
{
        char err[128];

        if (status_doc_load(c->root, c->cfg->agent.run_dir, &c->sdoc, err, sizeof(err)) == 0)
                c->status = c->sdoc.json;
}

static int ctx_load(struct doctor_ctx *c, const struct doctor_options *opt)
{
        const struct mount_entry *m;

        c->root = opt->root;
        c->cfg = opt->cfg;
        c->vcgencmd = opt->vcgencmd;
        c->sandbox = !str_empty(opt->root) && !streq(opt->root, "/");
        c->v = boot_view_new();
        if (!c->v)
                return -ENOMEM;
        load_bootcfg(c, opt);
        if (!c->v->boot_dir)
                return -ENOMEM;
        if (mounts_load(c->root, &c->mounts) == -ENOMEM)
                return -ENOMEM;
        m = mounts_at(&c->mounts, "/");
        snprintf(c->root_fstype, sizeof(c->root_fstype), "%s", m ? m->fstype : "");
        load_kver(c);
        load_cmdlines(c);
        load_session(c);
        c->fstab_r = doctor_read_rooted(c->root, "/etc/fstab", DOCTOR_SMALL_FILE_MAX, &c->fstab);
        load_status(c);
        return 0;
}

static void ctx_free(struct doctor_ctx *c)
{
        boot_view_free(c->v);
        free(c->v);
        mounts_free(&c->mounts);
        free(c->cmdline_text);
        free(c->proc_cmdline);
        free(c->fstab);
        if (c->cl_ok)
                cmdline_free(&c->cl);
        if (c->pcl_ok)
                cmdline_free(&c->pcl);
        status_doc_free(&c->sdoc);
}

const char *doctor_result_to_string(enum doctor_result r)
{
        switch (r) {
        case DOCTOR_OK:
                return "ok";
        case DOCTOR_WARN:
                return "warn";
        case DOCTOR_FAIL:
                return "fail";
        default:
                return "skip";
        }
}

bool doctor_report_ok(const struct doctor_report *rep)
{
        for (size_t i = 0; i < rep->n; i++)
                if (rep->checks[i].result == DOCTOR_FAIL)
                        return false;
        return true;
}

int doctor_run(const struct doctor_options *opt, struct doctor_report *rep)
{
        struct doctor_ctx *c;
        int r;

        memset(rep, 0, sizeof(*rep));
        if (opt->only && !doctor_known(opt->only))
                return -ENOENT;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        r = ctx_load(c, opt);
        for (size_t i = 0; r == 0 && i < ARRAY_SIZE(checks); i++) {
                struct doctor_check *ck = &rep->checks[rep->n];

                if (!doctor_selects(opt->only, &checks[i]))
                        continue;
                snprintf(ck->name, sizeof(ck->name), "%s", checks[i].name);
                snprintf(ck->group, sizeof(ck->group), "%s", checks[i].group);
                /* A check that forgot to say something must not pass for ok. */
                doctor_say(ck, DOCTOR_WARN, "the check gave no result");
                checks[i].fn(c, ck);
                rep->n++;
        }
        ctx_free(c);
        free(c);
        return r;
}
