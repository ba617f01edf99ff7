/* netrootctl bootcfg: what this Pi boots from its TFTP folder (kernel, initramfs, command line),
 * and the one edit the agent makes to config.txt: pointing this Pi's initramfs line at a new
 * file, only after that file has been checked. */
#include "bootcfg.h"
#include "cmdline.h"
#include "ctl.h"
#include "fileio.h"
#include "initrd.h"
#include "json.h"
#include "piinfo.h"
#include "rootpath.h"
#include "strbuf.h"
#include "util.h"

#include <getopt.h>
#include <sys/stat.h>

#define CONFIG_TXT_MAX  (1024 * 1024)
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

/* Everything read from the Pi and its boot folder before deciding anything. */
struct bootcfg_env {
        char model[PIINFO_MODEL_MAX];
        char serial[PIINFO_SERIAL_MAX];
        char *boot_dir;
        char *config_path;
        char *text;
        size_t len;
        struct bootcfg_target pi;
        struct bootcfg_diag diag;
        struct bootcfg_result res;
};

static void env_done(struct bootcfg_env *env)
{
        free(env->boot_dir);
        free(env->config_path);
        free(env->text);
}

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: netrootctl bootcfg show [--json] [--tryboot] [PI OPTIONS]\n"
                "       netrootctl bootcfg set-initramfs FILE [--dry-run] [--force] "
                "[--kernel VER] [PI OPTIONS]\n\n"
                "PI OPTIONS: --model M     model string instead of /proc/device-tree/model\n"
                "            --serial S    serial instead of the one in /proc/cpuinfo\n"
                "            --boot-dir D  boot folder instead of [agent] boot_dir\n\n"
                "show exits 1 when a file the Pi would load is missing from the boot folder.\n"
                "set-initramfs FILE names the file as config.txt does (relative to os_prefix);\n"
                "it must exist and pass the initrd check unless --force. --dry-run prints the\n"
                "change and exits as the real run would.\n");
}

/* A boot file name from config.txt as a path: a leading "/" means the boot folder's top. */
static char *boot_file_path(const char *boot_dir, const char *name)
{
        char *p;

        while (*name == '/')
                name++;
        return asprintf(&p, "%s/%s", boot_dir, name) < 0 ? NULL : p;
}

static bool boot_file_exists(const char *boot_dir, const char *name)
{
        _cleanup_free_ char *path = boot_file_path(boot_dir, name);
        struct stat st;

        return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int read_pi_identity(struct ctl_context *ctx, const struct bootcfg_opts *o,
                            struct bootcfg_env *env)
{
        int r;

        r = piinfo_model(ctx->root, o->model ?: ctx->cfg.agent.model, env->model,
                         sizeof(env->model));
        if (r < 0) {
                fprintf(stderr,
                        "netrootctl: cannot read the Pi model from /proc/device-tree/model: %s; "
                        "pass --model or set [agent] model=\n",
                        strerror(-r));
                return r;
        }
        r = piinfo_serial(ctx->root, o->serial ?: ctx->cfg.agent.serial, env->serial,
                          sizeof(env->serial));
        if (r < 0) {
                fprintf(stderr,
                        "netrootctl: cannot read the Pi serial from the Serial line of "
                        "/proc/cpuinfo: %s; pass --serial or set [agent] serial=\n",
                        r == -ENODATA ? "no Serial line" : strerror(-r));
                return r;
        }
        env->pi.model = env->model;
        env->pi.serial = env->serial;
        env->pi.tryboot = o->tryboot;
        return 0;
}

static int resolve_boot_dir(struct ctl_context *ctx, const struct bootcfg_opts *o,
                            struct bootcfg_env *env)
{
        const char *dir = o->boot_dir ? o->boot_dir : ctx->cfg.agent.boot_dir;

        /* An absolute folder lives inside the --root sandbox like every other path. */
        env->boot_dir = dir[0] == '/' ? root_path(ctx->root, dir) : strdup(dir);
        return env->boot_dir ? 0 : -ENOMEM;
}

/* With the tryboot flag set the firmware reads tryboot.txt instead of config.txt. */
static int load_env(struct ctl_context *ctx, const struct bootcfg_opts *o, struct bootcfg_env *env)
{
        int r;

        r = read_pi_identity(ctx, o, env);
        if (r < 0)
                return r;
        r = resolve_boot_dir(ctx, o, env);
        if (r < 0)
                return r;
        env->config_path = boot_file_path(env->boot_dir, o->tryboot ? "tryboot.txt" : "config.txt");
        if (!env->config_path)
                return -ENOMEM;
        r = file_read_regular(env->config_path, CONFIG_TXT_MAX, &env->text, &env->len);
        if (r < 0) {
                fprintf(stderr, "netrootctl: cannot read %s: %s\n", env->config_path,
                        file_strerror(r));
                return r;
        }
        if (text_nul_line(env->text, env->len)) {
                fprintf(stderr,
                        "netrootctl: %s:%u: NUL byte: the file is damaged (a write cut short?); "
                        "restore it (netrootctl rollback) or fix it\n",
                        env->config_path, text_nul_line(env->text, env->len));
                return -EBADMSG;
        }
        bootcfg_diag_init(&env->diag, env->config_path);
        return bootcfg_evaluate(env->text, env->len, &env->pi, &env->res, &env->diag);
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

static void load_cmdline(const struct bootcfg_env *env, struct show_cmdline *sc)
{
        _cleanup_free_ char *path = boot_file_path(env->boot_dir, env->res.cmdline);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        memset(sc, 0, sizeof(*sc));
        sc->exists = boot_file_exists(env->boot_dir, env->res.cmdline);
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

static void put_line_or_null(struct strbuf *sb, unsigned line)
{
        if (line)
                sb_printf(sb, "%u", line);
        else
                sb_puts(sb, "null");
}

static bool show_json_initramfs(struct strbuf *sb, const struct bootcfg_env *env)
{
        const struct bootcfg_result *res = &env->res;
        bool all_there = true;

        sb_puts(sb, ",\n  \"initramfs\": {\"source\": ");
        json_put_string(sb, initramfs_source(res->initramfs_from));
        sb_puts(sb, ", \"address\": ");
        json_put_string(sb, res->initramfs_addr);
        sb_puts(sb, ", \"lines\": [");
        for (size_t i = 0; i < res->n_deciding; i++)
                sb_printf(sb, "%s%u", i ? ", " : "", res->deciding[i]);
        sb_puts(sb, "], \"files\": [");
        for (size_t i = 0; i < res->n_initramfs; i++) {
                bool e = boot_file_exists(env->boot_dir, res->initramfs[i]);
                all_there &= e;
                sb_puts(sb, i ? ", {\"file\": " : "{\"file\": ");
                json_put_string(sb, res->initramfs[i]);
                sb_printf(sb, ", \"exists\": %s}", e ? "true" : "false");
        }
        sb_puts(sb, "]}");
        return all_there;
}

static void show_json_cmdline(struct strbuf *sb, const struct bootcfg_env *env,
                              const struct show_cmdline *sc)
{
        bool first = true;

        sb_puts(sb, ",\n  \"cmdline\": {\"file\": ");
        json_put_string(sb, env->res.cmdline);
        sb_puts(sb, ", \"line\": ");
        put_line_or_null(sb, env->res.cmdline_line);
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

static bool show_json(const struct bootcfg_env *env, const struct show_cmdline *sc)
{
        const struct bootcfg_result *res = &env->res;
        struct strbuf sb = {0};
        bool kernel_there = boot_file_exists(env->boot_dir, res->kernel), ok;

        sb_puts(&sb, "{\n  \"model\": ");
        json_put_string(&sb, env->model);
        sb_puts(&sb, ",\n  \"board\": ");
        json_put_string(&sb, res->board);
        sb_puts(&sb, ",\n  \"serial\": ");
        json_put_string(&sb, env->serial);
        sb_printf(&sb,
                  ",\n  \"tryboot\": %s,\n  \"boot_dir\": ", env->pi.tryboot ? "true" : "false");
        json_put_string(&sb, env->boot_dir);
        sb_puts(&sb, ",\n  \"config\": ");
        json_put_string(&sb, env->config_path);
        sb_puts(&sb, ",\n  \"kernel\": {\"file\": ");
        json_put_string(&sb, res->kernel);
        sb_puts(&sb, ", \"line\": ");
        put_line_or_null(&sb, res->kernel_line);
        sb_printf(&sb, ", \"exists\": %s}", kernel_there ? "true" : "false");
        sb_printf(&sb,
                  ",\n  \"arm_64bit\": %s,\n  \"os_prefix\": ", res->arm_64bit ? "true" : "false");
        json_put_string(&sb, res->os_prefix);
        ok = show_json_initramfs(&sb, env) && kernel_there && sc->exists;
        show_json_cmdline(&sb, env, sc);
        sb_printf(&sb, ",\n  \"ok\": %s,\n  \"warnings\": [", ok ? "true" : "false");
        for (size_t i = 0; i < env->diag.n; i++) {
                sb_puts(&sb, i ? ",\n    " : "\n    ");
                json_put_string(&sb, env->diag.msgs[i].text);
        }
        sb_puts(&sb, env->diag.n ? "\n  ]\n}\n" : "]\n}\n");
        if (!sb.oom)
                fputs(sb_str(&sb), stdout);
        sb_free(&sb);
        return ok;
}

static const char *presence(bool exists)
{
        return exists ? "present" : "MISSING";
}

static void where(char *buf, size_t size, unsigned line)
{
        if (line)
                snprintf(buf, size, "config line %u", line);
        else
                snprintf(buf, size, "default");
}

static bool show_text_initramfs(const struct bootcfg_env *env)
{
        const struct bootcfg_result *res = &env->res;
        bool all_there = true;

        if (res->initramfs_from == BOOTCFG_INITRAMFS_NONE) {
                printf("Initramfs:  none\n");
                return true;
        }
        printf("Initramfs:  from %s, %s", initramfs_source(res->initramfs_from),
               res->n_deciding > 1 ? "lines" : "line");
        for (size_t i = 0; i < res->n_deciding; i++)
                printf("%s%u", i ? ", " : " ", res->deciding[i]);
        printf("%s%s\n", res->initramfs_addr[0] ? ", address " : "", res->initramfs_addr);
        for (size_t i = 0; i < res->n_initramfs; i++) {
                bool e = boot_file_exists(env->boot_dir, res->initramfs[i]);
                all_there &= e;
                printf("            %s  %s\n", res->initramfs[i], presence(e));
        }
        return all_there;
}

static void show_text_cmdline(const struct bootcfg_env *env, const struct show_cmdline *sc)
{
        char w[64];

        where(w, sizeof(w), env->res.cmdline_line);
        printf("Cmdline:    %s (%s)  %s\n", env->res.cmdline, w, presence(sc->exists));
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

static bool show_text(const struct bootcfg_env *env, const struct show_cmdline *sc)
{
        const struct bootcfg_result *res = &env->res;
        bool kernel_there = boot_file_exists(env->boot_dir, res->kernel), ok;
        char w[64];

        printf("Pi:         %s (%s), serial %s%s\n", env->model, res->board, env->serial,
               env->pi.tryboot ? ", tryboot" : "");
        printf("Boot dir:   %s\n", env->boot_dir);
        printf("Config:     %s\n", env->config_path);
        if (res->os_prefix[0])
                printf("os_prefix:  %s (config line %u)\n", res->os_prefix, res->os_prefix_line);
        where(w, sizeof(w), res->kernel_line);
        printf("Kernel:     %s (%s)  %s\n", res->kernel, w, presence(kernel_there));
        printf("arm_64bit:  %d\n", res->arm_64bit);
        ok = show_text_initramfs(env) && kernel_there && sc->exists;
        show_text_cmdline(env, sc);
        if (env->diag.n) {
                printf("Warnings:\n");
                print_diag(stdout, &env->diag, "  ");
        }
        return ok;
}

static int do_show(struct ctl_context *ctx, const struct bootcfg_opts *o)
{
        struct bootcfg_env env = {0};
        struct show_cmdline sc;
        bool ok;
        int r;

        r = load_env(ctx, o, &env);
        if (r < 0) {
                env_done(&env);
                return CTL_EXIT_USAGE;
        }
        load_cmdline(&env, &sc);
        ok = o->json ? show_json(&env, &sc) : show_text(&env, &sc);
        cmdline_free(&sc.cl);
        env_done(&env);
        return ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

/* ---- set-initramfs -------------------------------------------------------------------------- */

/* initrd.img-6.1.21-v7+ was built for 6.1.21-v7+: the default for --kernel. */
static const char *kver_from_name(const char *file)
{
        const char *base = strrchr(file, '/');

        base = base ? base + 1 : file;
        return strncmp(base, "initrd.img-", 11) == 0 && base[11] ? base + 11 : NULL;
}

/* Returns true when FILE may be put in place: present and passing the initrd check. */
static bool initramfs_acceptable(struct ctl_context *ctx, const struct bootcfg_opts *o,
                                 const struct bootcfg_env *env, const char *file)
{
        char name[BOOTCFG_NAME_MAX + 64], why[1024] = "";
        _cleanup_free_ char *path = NULL;
        int r;

        if (file[0] == '/')
                snprintf(name, sizeof(name), "%s", file);
        else
                snprintf(name, sizeof(name), "%s%s", env->res.os_prefix, file);
        path = boot_file_path(env->boot_dir, name);
        if (!path)
                return false;
        if (o->force) {
                fprintf(stderr, "netrootctl: --force: %s not checked\n", path);
                return true;
        }
        if (!boot_file_exists(env->boot_dir, name)) {
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
        return r == -EINVAL || r == -ENOMEM ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
}

static int write_config(const struct bootcfg_env *env, const char *data, size_t len)
{
        struct stat st;
        mode_t mode = 0644;
        int r;

        /* Keep the file's mode: the TFTP server must still be able to read it. */
        if (stat(env->config_path, &st) == 0)
                mode = st.st_mode & 07777;
        r = file_write_atomic(env->config_path, data, len, mode);
        if (r < 0)
                fprintf(stderr, "netrootctl: cannot write %s: %s\n", env->config_path,
                        strerror(-r));
        return r;
}

static void print_change(const struct bootcfg_env *env, const char *data, size_t len, bool dry_run)
{
        struct strbuf sb = {0};

        printf("--- %s\n+++ %s%s\n", env->config_path, env->config_path,
               dry_run ? " (dry run, not written)" : "");
        bootcfg_diff(env->text, env->len, data, len, &sb);
        fputs(sb_str(&sb), stdout);
        sb_free(&sb);
}

static int do_set_initramfs(struct ctl_context *ctx, const struct bootcfg_opts *o, const char *file)
{
        struct bootcfg_env env = {0};
        struct bootcfg_diag diag;
        _cleanup_free_ char *out = NULL;
        size_t out_len;
        int r, rc;

        if (load_env(ctx, o, &env) < 0) {
                env_done(&env);
                return CTL_EXIT_USAGE;
        }
        bootcfg_diag_init(&diag, env.config_path);
        r = bootcfg_set_initramfs(env.text, env.len, &env.pi, file, &out, &out_len, &diag);
        print_diag(stderr, &diag, "netrootctl: ");
        if (r < 0) {
                if (!bootcfg_diag_error(&diag))
                        fprintf(stderr, "netrootctl: %s\n", strerror(-r));
                env_done(&env);
                return exit_for_edit_error(r);
        }
        /* Checked before anything is shown as done: a refused change prints no diff. */
        rc = initramfs_acceptable(ctx, o, &env, file) ? CTL_EXIT_OK : CTL_EXIT_FAILED;
        if (rc == CTL_EXIT_OK && r == 1 && !o->dry_run && write_config(&env, out, out_len) < 0)
                rc = CTL_EXIT_FAILED;
        if (r == 0 && (rc == CTL_EXIT_OK || o->dry_run))
                printf("%s: this Pi already boots initramfs %s\n", env.config_path, file);
        else if (r == 1 && (rc == CTL_EXIT_OK || o->dry_run))
                print_change(&env, out, out_len, o->dry_run);
        if (o->dry_run && rc != CTL_EXIT_OK)
                printf("dry run: the change would be refused\n");
        env_done(&env);
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
