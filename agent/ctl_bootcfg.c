/* netrootctl bootcfg: what this Pi boots from its TFTP folder (kernel, initramfs, command line),
 * as the firmware reads config.txt and the files it includes, and the one edit the agent makes:
 * pointing this Pi's initramfs line at a new file, only after that file has been checked, in
 * whichever file that line lives. */
#include "boot_view.h"
#include "bootcfg.h"
#include "cmdline.h"
#include "ctl.h"
#include "fileio.h"
#include "initrd.h"
#include "json.h"
#include "strbuf.h"
#include "util.h"

#include <getopt.h>
#include <sys/stat.h>

#define CMDLINE_TXT_MAX (64 * 1024)

struct bootcfg_opts {
        bool json;
        bool dry_run;
        bool force;
        bool tryboot;
        const char *model;
        const char *serial;
        const char *boot_dir;
        const char *kver;
};

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl bootcfg show [--json] [--tryboot] [PI OPTIONS]\n"
                "       netrootctl bootcfg set-initramfs FILE [--dry-run] [--force] "
                "[--kernel VER] [PI OPTIONS]\n\n"
                "PI OPTIONS: --model M     model string instead of /proc/device-tree/model\n"
                "            --serial S    serial instead of the one in /proc/cpuinfo\n"
                "            --boot-dir D  boot folder instead of [agent] boot_dir\n\n"
                "config.txt is read as the firmware reads it: included files are followed.\n"
                "show exits 1 when a file the Pi would load is missing from the boot folder.\n"
                "set-initramfs FILE names the file as config.txt does (relative to os_prefix);\n"
                "it must exist and pass the initrd check unless --force. The deciding line is\n"
                "changed in the file where it lives (an included file, say). --dry-run prints\n"
                "the change and exits as the real run would.\n");
}

static bool boot_file_exists(const struct boot_view *v, const char *name)
{
        _cleanup_free_ char *path = boot_view_path(v, name);
        struct stat st;

        return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* With the tryboot flag set the firmware reads tryboot.txt instead of config.txt. Returns 0,
 * or a negative errno after saying why. */
static int load_view(struct ctl_context *ctx, const struct bootcfg_opts *o, struct boot_view *v)
{
        struct boot_view_options bo = {
            .root = ctx->root,
            .cfg = &ctx->cfg,
            .model = o->model,
            .serial = o->serial,
            .boot_dir = o->boot_dir,
            .tryboot = o->tryboot,
        };
        int r = boot_view_load(v, &bo);

        /* An error inside the files (an include loop) still leaves an evaluation to show. */
        if (r < 0 && !(r == -EINVAL && v->eval_r == 0)) {
                fprintf(stderr, "netrootctl: %s\n", v->error[0] ? v->error : strerror(-r));
                return r;
        }
        return 0;
}

static void print_diag(FILE *out, const struct bootcfg_diag *diag, const char *prefix)
{
        for (size_t i = 0; i < diag->n; i++)
                fprintf(out, "%s%s\n", prefix, diag->msgs[i].text);
        if (diag->dropped)
                fprintf(out, "%s… and %zu more\n", prefix, diag->dropped);
}

/* ---- show ----------------------------------------------------------------------------------- */

struct show_cmdline {
        bool exists;
        bool readable;
        struct cmdline cl;
};

static void load_cmdline(const struct boot_view *v, struct show_cmdline *sc)
{
        _cleanup_free_ char *path = boot_view_path(v, v->res.cmdline);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        memset(sc, 0, sizeof(*sc));
        sc->exists = boot_file_exists(v, v->res.cmdline);
        if (!path || !sc->exists)
                return;
        r = file_read_regular(path, CMDLINE_TXT_MAX, &data, &len);
        if (r < 0) {
                fprintf(stderr, "netrootctl: cannot read %s: %s\n", path, file_strerror(r));
                return;
        }
        /* The firmware hands the kernel a C string: everything after a NUL is lost. */
        if (text_nul_line(data, len)) {
                fprintf(stderr,
                        "netrootctl: %s:%u: NUL byte: the kernel would see the command line cut "
                        "there; the file is damaged\n",
                        path, text_nul_line(data, len));
                return;
        }
        sc->readable = cmdline_parse(data, len, &sc->cl) == 0;
}

static bool show_param(const struct cmdline_param *p)
{
        return p->value && (streq(p->key, "root") || cmdline_is_iscsi_key(p->key));
}

static const char *initramfs_source(enum bootcfg_initramfs_from f)
{
        switch (f) {
        case BOOTCFG_INITRAMFS_LINE:
                return "initramfs";
        case BOOTCFG_INITRAMFS_RAMFSFILE:
                return "ramfsfile";
        case BOOTCFG_INITRAMFS_AUTO:
                return "auto_initramfs";
        default:
                return "none";
        }
}

static const char *src_name(const struct boot_view *v, unsigned src)
{
        return src < v->files.n ? v->files.files[src].name : v->main_name;
}

/* "line": N or null, "in": the file holding it. */
static void put_where(struct strbuf *sb, const struct boot_view *v, unsigned src, unsigned line)
{
        if (line)
                sb_printf(sb, "\"line\": %u, \"in\": ", line);
        else
                sb_puts(sb, "\"line\": null, \"in\": ");
        json_put_string(sb, line ? src_name(v, src) : "");
}

static bool show_json_initramfs(struct strbuf *sb, const struct boot_view *v)
{
        const struct bootcfg_result *res = &v->res;
        bool all_there = true;

        sb_puts(sb, ",\n  \"initramfs\": {\"source\": ");
        json_put_string(sb, initramfs_source(res->initramfs_from));
        sb_puts(sb, ", \"address\": ");
        json_put_string(sb, res->initramfs_addr);
        sb_puts(sb, ", \"lines\": [");
        for (size_t i = 0; i < res->n_deciding; i++)
                sb_printf(sb, "%s%u", i ? ", " : "", res->deciding[i]);
        sb_puts(sb, "], \"in\": [");
        for (size_t i = 0; i < res->n_deciding; i++) {
                sb_puts(sb, i ? ", " : "");
                json_put_string(sb, src_name(v, res->deciding_src[i]));
        }
        sb_puts(sb, "], \"files\": [");
        for (size_t i = 0; i < res->n_initramfs; i++) {
                bool e = boot_file_exists(v, res->initramfs[i]);
                all_there &= e;
                sb_puts(sb, i ? ", {\"file\": " : "{\"file\": ");
                json_put_string(sb, res->initramfs[i]);
                sb_printf(sb, ", \"exists\": %s}", e ? "true" : "false");
        }
        sb_puts(sb, "]}");
        return all_there;
}

static void show_json_cmdline(struct strbuf *sb, const struct boot_view *v,
                              const struct show_cmdline *sc)
{
        bool first = true;

        sb_puts(sb, ",\n  \"cmdline\": {\"file\": ");
        json_put_string(sb, v->res.cmdline);
        sb_puts(sb, ", ");
        put_where(sb, v, v->res.cmdline_src, v->res.cmdline_line);
        sb_printf(sb, ", \"exists\": %s, \"root\": ", sc->exists ? "true" : "false");
        if (sc->readable && cmdline_get(&sc->cl, "root")) {
                _cleanup_free_ char *m = cmdline_masked_value("root", cmdline_get(&sc->cl, "root"));
                json_put_string(sb, m ? m : "");
        } else {
                sb_puts(sb, "null");
        }
        sb_puts(sb, ", \"iscsi\": [");
        for (size_t i = 0; sc->readable && i < sc->cl.n; i++) {
                const struct cmdline_param *p = &sc->cl.params[i];
                _cleanup_free_ char *m = NULL;

                if (!p->value || !cmdline_is_iscsi_key(p->key))
                        continue;
                m = cmdline_masked_value(p->key, p->value);
                sb_puts(sb, first ? "{\"key\": " : ", {\"key\": ");
                json_put_string(sb, p->key);
                sb_puts(sb, ", \"value\": ");
                json_put_string(sb, m ? m : "");
                sb_puts(sb, "}");
                first = false;
        }
        sb_puts(sb, "]}");
}

static void show_json_files(struct strbuf *sb, const struct boot_view *v)
{
        sb_puts(sb, ",\n  \"files\": [");
        for (size_t i = 0; i < v->files.n; i++) {
                sb_puts(sb, i ? ", {\"name\": " : "{\"name\": ");
                json_put_string(sb, v->files.files[i].name);
                sb_printf(sb, ", \"exists\": %s}", v->files.files[i].missing ? "false" : "true");
        }
        sb_puts(sb, "]");
}

static bool show_json(const struct boot_view *v, const struct show_cmdline *sc)
{
        const struct bootcfg_result *res = &v->res;
        struct strbuf sb = {0};
        bool kernel_there = boot_file_exists(v, res->kernel), ok;

        sb_puts(&sb, "{\n  \"model\": ");
        json_put_string(&sb, v->model);
        sb_puts(&sb, ",\n  \"board\": ");
        json_put_string(&sb, res->board);
        sb_puts(&sb, ",\n  \"serial\": ");
        json_put_string(&sb, v->serial);
        sb_printf(&sb, ",\n  \"tryboot\": %s,\n  \"boot_dir\": ", v->pi.tryboot ? "true" : "false");
        json_put_string(&sb, v->boot_dir);
        sb_printf(&sb, ",\n  \"boot_dir_auto\": %s", v->boot_dir_auto ? "true" : "false");
        sb_puts(&sb, ",\n  \"config\": ");
        json_put_string(&sb, v->config_path);
        show_json_files(&sb, v);
        sb_puts(&sb, ",\n  \"kernel\": {\"file\": ");
        json_put_string(&sb, res->kernel);
        sb_puts(&sb, ", ");
        put_where(&sb, v, res->kernel_src, res->kernel_line);
        sb_printf(&sb, ", \"exists\": %s}", kernel_there ? "true" : "false");
        sb_printf(&sb,
                  ",\n  \"arm_64bit\": %s,\n  \"os_prefix\": ", res->arm_64bit ? "true" : "false");
        json_put_string(&sb, res->os_prefix);
        sb_printf(&sb, ",\n  \"os_prefix_ignored\": %s", res->os_prefix_ignored ? "true" : "false");
        ok = show_json_initramfs(&sb, v) && kernel_there && sc->exists &&
             !bootcfg_diag_error(&v->diag);
        show_json_cmdline(&sb, v, sc);
        sb_printf(&sb, ",\n  \"ok\": %s,\n  \"warnings\": [", ok ? "true" : "false");
        for (size_t i = 0; i < v->diag.n; i++) {
                sb_puts(&sb, i ? ",\n    " : "\n    ");
                json_put_string(&sb, v->diag.msgs[i].text);
        }
        sb_puts(&sb, v->diag.n ? "\n  ]\n}\n" : "]\n}\n");
        if (!sb.oom)
                fputs(sb_str(&sb), stdout);
        sb_free(&sb);
        return ok;
}

static const char *presence(bool exists)
{
        return exists ? "present" : "MISSING";
}

static void where(const struct boot_view *v, unsigned src, unsigned line, char *buf, size_t size)
{
        if (line)
                snprintf(buf, size, "%s line %u", src_name(v, src), line);
        else
                snprintf(buf, size, "default");
}

static bool show_text_initramfs(const struct boot_view *v)
{
        const struct bootcfg_result *res = &v->res;
        bool all_there = true;

        if (res->initramfs_from == BOOTCFG_INITRAMFS_NONE) {
                printf("Initramfs:  none\n");
                return true;
        }
        printf("Initramfs:  from %s,", initramfs_source(res->initramfs_from));
        for (size_t i = 0; i < res->n_deciding; i++)
                printf("%s%s line %u", i ? "," : "", src_name(v, res->deciding_src[i]),
                       res->deciding[i]);
        printf("%s%s\n", res->initramfs_addr[0] ? ", address " : "", res->initramfs_addr);
        for (size_t i = 0; i < res->n_initramfs; i++) {
                bool e = boot_file_exists(v, res->initramfs[i]);
                all_there &= e;
                printf("            %s  %s\n", res->initramfs[i], presence(e));
        }
        return all_there;
}

static void show_text_cmdline(const struct boot_view *v, const struct show_cmdline *sc)
{
        char w[BOOTCFG_NAME_MAX + 32];

        where(v, v->res.cmdline_src, v->res.cmdline_line, w, sizeof(w));
        printf("Cmdline:    %s (%s)  %s\n", v->res.cmdline, w, presence(sc->exists));
        if (sc->readable && sc->cl.lines > 1)
                printf("            warning: %u lines; the command line must be one line\n",
                       sc->cl.lines);
        for (size_t i = 0; sc->readable && i < sc->cl.n; i++) {
                const struct cmdline_param *p = &sc->cl.params[i];
                _cleanup_free_ char *m = NULL;

                if (!show_param(p))
                        continue;
                m = cmdline_masked_value(p->key, p->value);
                printf("            %s=%s\n", p->key, m ? m : "");
        }
}

static void show_text_files(const struct boot_view *v)
{
        if (v->files.n < 2)
                return;
        printf("Includes:  ");
        for (size_t i = 1; i < v->files.n; i++)
                printf(" %s%s", v->files.files[i].name,
                       v->files.files[i].missing ? " (MISSING: skipped)" : "");
        printf("\n");
}

static bool show_text(const struct boot_view *v, const struct show_cmdline *sc)
{
        const struct bootcfg_result *res = &v->res;
        bool kernel_there = boot_file_exists(v, res->kernel), ok;
        char w[BOOTCFG_NAME_MAX + 32];

        printf("Pi:         %s (%s), serial folder %s%s\n", v->model, res->board, v->serial,
               v->pi.tryboot ? ", tryboot" : "");
        printf("Boot dir:   %s%s\n", v->boot_dir, v->boot_dir_auto ? " (boot_dir = auto)" : "");
        printf("Config:     %s\n", v->config_path);
        show_text_files(v);
        if (res->os_prefix_set[0]) {
                where(v, res->os_prefix_src, res->os_prefix_line, w, sizeof(w));
                printf("os_prefix:  %s (%s)%s\n", res->os_prefix_set, w,
                       res->os_prefix_ignored ? " IGNORED: kernel or .dtb not under it" : "");
        }
        where(v, res->kernel_src, res->kernel_line, w, sizeof(w));
        printf("Kernel:     %s (%s)  %s\n", res->kernel, w, presence(kernel_there));
        printf("arm_64bit:  %d\n", res->arm_64bit);
        ok = show_text_initramfs(v) && kernel_there && sc->exists && !bootcfg_diag_error(&v->diag);
        show_text_cmdline(v, sc);
        if (v->diag.n) {
                printf("Warnings:\n");
                print_diag(stdout, &v->diag, "  ");
        }
        return ok;
}

static int do_show(struct ctl_context *ctx, const struct bootcfg_opts *o)
{
        struct boot_view *v = boot_view_new();
        struct show_cmdline sc;
        bool ok;

        if (!v)
                return CTL_EXIT_FAILED;
        if (load_view(ctx, o, v) < 0) {
                boot_view_free(v);
                free(v);
                return CTL_EXIT_USAGE;
        }
        load_cmdline(v, &sc);
        ok = o->json ? show_json(v, &sc) : show_text(v, &sc);
        cmdline_free(&sc.cl);
        boot_view_free(v);
        free(v);
        return ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

/* ---- set-initramfs -------------------------------------------------------------------------- */

/* initrd.img-6.1.21-v7+ was built for 6.1.21-v7+: the default for --kernel. */
static const char *kver_from_name(const char *file)
{
        const char *base = path_base(file);
        return strncmp(base, "initrd.img-", 11) == 0 && base[11] ? base + 11 : NULL;
}

/* Returns true when FILE may be put in place: present and passing the initrd check. */
static bool initramfs_acceptable(struct ctl_context *ctx, const struct bootcfg_opts *o,
                                 const struct boot_view *v, const char *file)
{
        char name[BOOTCFG_NAME_MAX + 64], why[1024] = "";
        _cleanup_free_ char *path = NULL;
        int r;

        if (file[0] == '/')
                snprintf(name, sizeof(name), "%s", file);
        else
                snprintf(name, sizeof(name), "%s%s", v->res.os_prefix, file);
        path = boot_view_path(v, name);
        if (!path)
                return false;
        if (o->force) {
                fprintf(stderr, "netrootctl: --force: %s not checked\n", path);
                return true;
        }
        if (!boot_file_exists(v, name)) {
                fprintf(stderr, "netrootctl: refused: %s does not exist (--force overrides)\n",
                        path);
                return false;
        }
        r = initrd_passes_check(ctx->root, path, o->kver ? o->kver : kver_from_name(file), why,
                                sizeof(why));
        if (r == 1)
                return true;
        fprintf(stderr, "netrootctl: refused: %s %s: %s (--force overrides)\n", path,
                r == 0 ? "fails the initrd check" : "cannot be checked",
                why[0] ? why : strerror(-r));
        return false;
}

static int exit_for_edit_error(int r)
{
        return r == -ENOMEM ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
}

static int write_edit(const char *path, const struct bootcfg_edit *e)
{
        struct stat st;
        mode_t mode = 0644;
        int r;

        /* Keep the file's mode: the TFTP server must still be able to read it. */
        if (stat(path, &st) == 0)
                mode = st.st_mode & 07777;
        r = file_write_atomic(path, e->text, e->len, mode);
        if (r < 0)
                fprintf(stderr, "netrootctl: cannot write %s: %s\n", path, file_strerror(r));
        return r;
}

static void print_change(const struct boot_view *v, const char *path, const struct bootcfg_edit *e,
                         bool dry_run)
{
        const struct bootcfg_file *f = &v->files.files[e->src];
        struct strbuf sb = {0};

        printf("--- %s\n+++ %s%s\n", path, path, dry_run ? " (dry run, not written)" : "");
        bootcfg_diff(f->text, f->len, e->text, e->len, &sb);
        fputs(sb_str(&sb), stdout);
        sb_free(&sb);
}

static int do_set_initramfs(struct ctl_context *ctx, const struct bootcfg_opts *o, const char *file)
{
        struct boot_view *v = boot_view_new();
        struct bootcfg_diag *diag = malloc(sizeof(*diag));
        struct bootcfg_edit edit = {0};
        _cleanup_free_ char *path = NULL;
        int r, rc = CTL_EXIT_USAGE;

        if (!v || !diag)
                goto out;
        if (load_view(ctx, o, v) < 0)
                goto out;
        bootcfg_diag_init(diag, v->config_path);
        r = bootcfg_files_set_initramfs(&v->files, &v->pi, file, &edit, diag);
        print_diag(stderr, diag, "netrootctl: ");
        if (r < 0) {
                if (!bootcfg_diag_error(diag))
                        fprintf(stderr, "netrootctl: %s\n", strerror(-r));
                rc = r == -EINVAL && !bootcfg_diag_error(&v->diag) ? CTL_EXIT_USAGE
                                                                   : exit_for_edit_error(r);
                goto out;
        }
        path = boot_view_path(v, v->files.files[edit.src].name);
        if (!path)
                goto out;
        /* Checked before anything is shown as done: a refused change prints no diff. */
        rc = initramfs_acceptable(ctx, o, v, file) ? CTL_EXIT_OK : CTL_EXIT_FAILED;
        if (rc == CTL_EXIT_OK && r == 1 && !o->dry_run && write_edit(path, &edit) < 0)
                rc = CTL_EXIT_FAILED;
        if (r == 0 && (rc == CTL_EXIT_OK || o->dry_run))
                printf("%s: this Pi already boots initramfs %s\n", v->config_path, file);
        else if (r == 1 && (rc == CTL_EXIT_OK || o->dry_run))
                print_change(v, path, &edit, o->dry_run);
        if (o->dry_run && rc != CTL_EXIT_OK)
                printf("dry run: the change would be refused\n");
out:
        free(edit.text);
        free(diag);
        boot_view_free(v);
        free(v);
        return rc;
}

/* ---- entry ---------------------------------------------------------------------------------- */

static int parse_options(int argc, char **argv, struct bootcfg_opts *o)
{
        static const struct option options[] = {
            {"json", no_argument, NULL, 'j'},           {"dry-run", no_argument, NULL, 'n'},
            {"force", no_argument, NULL, 'f'},          {"tryboot", no_argument, NULL, 't'},
            {"model", required_argument, NULL, 'm'},    {"serial", required_argument, NULL, 's'},
            {"boot-dir", required_argument, NULL, 'b'}, {"kernel", required_argument, NULL, 'k'},
            {"help", no_argument, NULL, 'h'},           {},
        };
        int c;

        /* optind = 0 makes glibc start afresh: netrootctl's own "+" (stop at the subcommand)
         * would otherwise stick and options after "show" or FILE would not be seen. */
        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'j':
                        o->json = true;
                        break;
                case 'n':
                        o->dry_run = true;
                        break;
                case 'f':
                        o->force = true;
                        break;
                case 't':
                        o->tryboot = true;
                        break;
                case 'm':
                        o->model = optarg;
                        break;
                case 's':
                        o->serial = optarg;
                        break;
                case 'b':
                        o->boot_dir = optarg;
                        break;
                case 'k':
                        o->kver = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        return 0;
}

int ctl_bootcfg(struct ctl_context *ctx, int argc, char **argv)
{
        struct bootcfg_opts o = {0};
        const char *action;
        int r;

        r = parse_options(argc, argv, &o);
        if (r != 0)
                return r > 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        action = optind < argc ? argv[optind] : NULL;
        if (action && streq(action, "show") && optind + 1 == argc)
                return do_show(ctx, &o);
        if (action && streq(action, "set-initramfs") && optind + 2 == argc) {
                if (o.tryboot || o.json) {
                        fprintf(stderr, "netrootctl: set-initramfs edits config.txt only; "
                                        "--tryboot and --json do not apply\n");
                        return CTL_EXIT_USAGE;
                }
                return do_set_initramfs(ctx, &o, argv[optind + 1]);
        }
        usage(stderr);
        return CTL_EXIT_USAGE;
}
