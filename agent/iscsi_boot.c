#include "iscsi_boot.h"
#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>

#define FILE_MAX    (64 * 1024)
#define CMDLINE_MAX (16 * 1024) /* COMMAND_LINE_SIZE is 4096 on arm, 2048 on x86 */

enum key {
        KEY_INITIATOR,
        KEY_TARGET_NAME,
        KEY_TARGET_IP,
        KEY_TARGET_PORT,
        KEY_TARGET_GROUP,
        KEY_USERNAME,
        KEY_PASSWORD,
        KEY_IN_USERNAME,
        KEY_IN_PASSWORD,
        KEY_NONE,
};

/* The variable names of open-iscsi's local-top script, without the ISCSI_ prefix. */
static const char *const key_names[] = {
    [KEY_INITIATOR] = "INITIATOR",       [KEY_TARGET_NAME] = "TARGET_NAME",
    [KEY_TARGET_IP] = "TARGET_IP",       [KEY_TARGET_PORT] = "TARGET_PORT",
    [KEY_TARGET_GROUP] = "TARGET_GROUP", [KEY_USERNAME] = "USERNAME",
    [KEY_PASSWORD] = "PASSWORD",         [KEY_IN_USERNAME] = "IN_USERNAME",
    [KEY_IN_PASSWORD] = "IN_PASSWORD",
};

struct parse_ctx {
        struct iscsi_boot *b;
        char *err;
        size_t err_size;
};

static int fail(struct parse_ctx *c, const char *fmt, ...) _printf_(2, 3);

static int fail(struct parse_ctx *c, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (c->err && c->err_size)
                vsnprintf(c->err, c->err_size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* NAME is "ISCSI_TARGET_NAME" (UPPER) or "iscsi_target_name" (!UPPER). */
static enum key key_lookup(const char *name, size_t len, bool upper)
{
        const char *prefix = upper ? "ISCSI_" : "iscsi_";

        if (len <= 6 || strncmp(name, prefix, 6) != 0)
                return KEY_NONE;
        name += 6;
        len -= 6;
        for (unsigned k = 0; k < ARRAY_SIZE(key_names); k++) {
                const char *want = key_names[k];
                bool same = strlen(want) == len;

                for (size_t i = 0; same && i < len; i++)
                        same = (upper ? want[i] : tolower((unsigned char)want[i])) == name[i];
                if (same)
                        return (enum key)k;
        }
        return KEY_NONE;
}

static char *key_field(struct iscsi_boot *b, enum key k)
{
        switch (k) {
        case KEY_INITIATOR:
                return b->initiator;
        case KEY_TARGET_NAME:
                return b->target_name;
        case KEY_TARGET_IP:
                return b->target_ip;
        case KEY_USERNAME:
                return b->username;
        case KEY_PASSWORD:
                return b->password;
        case KEY_IN_USERNAME:
                return b->in_username;
        case KEY_IN_PASSWORD:
                return b->in_password;
        default:
                return NULL;
        }
}

/* An empty number means "not given", like an empty shell variable. */
static int parse_number(const char *v, unsigned long max, unsigned long *out)
{
        if (!*v)
                return 1;
        if (parse_uint(v, out) < 0 || *out > max)
                return -EINVAL;
        return 0;
}

/* Stores VALUE for K. WHERE prefixes errors ("FILE:LINE" or "/proc/cmdline"). Secret values
 * never appear in an error. */
static int set_key(struct parse_ctx *c, const char *where, enum key k, const char *value,
                   unsigned source)
{
        unsigned long n = 0;
        char *field = key_field(c->b, k);
        int r;

        if (field) {
                if (strlen(value) >= ISCSI_BOOT_VALUE_MAX)
                        return fail(c, "%s: ISCSI_%s is longer than %d bytes", where, key_names[k],
                                    ISCSI_BOOT_VALUE_MAX - 1);
                strcpy(field, value);
        } else if (k == KEY_TARGET_PORT) {
                r = parse_number(value, 65535, &n);
                if (r < 0 || (r == 0 && n == 0))
                        return fail(c, "%s: ISCSI_TARGET_PORT=%s is not a port number (1-65535)",
                                    where, value);
                c->b->target_port = r ? 0 : (unsigned)n;
        } else if (k == KEY_TARGET_GROUP) {
                r = parse_number(value, 65535, &n);
                if (r < 0)
                        return fail(c,
                                    "%s: ISCSI_TARGET_GROUP=%s is not a portal group tag "
                                    "(0-65535)",
                                    where, value);
                c->b->target_group = r ? -1 : (int)n;
        }
        c->b->sources |= source;
        return 0;
}

/* ---- iscsi.initramfs: a shell fragment of assignments ---- */

/* Reads one shell word at *P into OUT (quotes removed). Refuses what only a shell could
 * evaluate: $ expansions and backticks. */
static int shell_word(const char **p, char *out, size_t size, const char **why)
{
        const char *s = *p;
        size_t n = 0;
        char quote = 0;

        for (; *s && (quote || !isspace((unsigned char)*s)); s++) {
                char ch = *s;

                if (!quote && (ch == ';' || ch == '#'))
                        break;
                if (quote != '\'' && (ch == '$' || ch == '`')) {
                        *why = "uses a shell expansion ($ or `), which only a shell can evaluate";
                        return -EINVAL;
                }
                if (ch == quote) {
                        quote = 0;
                        continue;
                }
                if (!quote && (ch == '\'' || ch == '"')) {
                        quote = ch;
                        continue;
                }
                if (ch == '\\' && quote != '\'' && s[1] && (!quote || strchr("$`\"\\", s[1])))
                        ch = *++s;
                if (n + 1 >= size) {
                        *why = "is too long";
                        return -E2BIG;
                }
                out[n++] = ch;
        }
        if (quote) {
                *why = "has an unterminated quote";
                return -EINVAL;
        }
        out[n] = '\0';
        *p = s;
        return 0;
}

/* A line is ignored unless it assigns one of our ISCSI_* variables; the rest of the script
 * (comments, other variables, ISCSI_AUTO, …) is not ours to judge. */
static int file_line(struct parse_ctx *c, const char *file, unsigned lineno, const char *line)
{
        char value[ISCSI_BOOT_VALUE_MAX], where[300];
        const char *p = line + strspn(line, " \t"), *name, *why = NULL;
        enum key k;
        size_t len;
        int r;

        if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
                p += 6 + strspn(p + 6, " \t");
        name = p;
        len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
        if (p[len] != '=')
                return 0;
        k = key_lookup(name, len, true);
        if (k == KEY_NONE)
                return 0;
        snprintf(where, sizeof(where), "%s:%u", file, lineno);
        p += len + 1;
        if (shell_word(&p, value, sizeof(value), &why) < 0) {
                explicit_bzero(value, sizeof(value));
                return fail(c, "%s: ISCSI_%s %s", where, key_names[k], why);
        }
        p += strspn(p, " \t;");
        if (*p && *p != '#') {
                explicit_bzero(value, sizeof(value));
                return fail(c, "%s: unexpected text after ISCSI_%s=…", where, key_names[k]);
        }
        r = set_key(c, where, k, value, ISCSI_BOOT_FROM_FILE);
        explicit_bzero(value, sizeof(value));
        return r;
}

static int parse_file(struct parse_ctx *c, const char *text, const char *file)
{
        unsigned lineno = 0;

        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                char line[1024];
                int r;

                lineno++;
                if (n >= sizeof(line))
                        return fail(c, "%s:%u: line longer than %zu bytes", file, lineno,
                                    sizeof(line) - 1);
                memcpy(line, p, n);
                line[n] = '\0';
                r = file_line(c, file, lineno, line);
                explicit_bzero(line, sizeof(line));
                if (r < 0)
                        return r;
                p += n;
                if (*p == '\n')
                        p++;
        }
        return 0;
}

/* ---- the kernel command line ---- */

/* Splits the next parameter like the kernel does: spaces separate, double quotes group, and a
 * quoted value ("key=\"a b\"") loses its quotes. Returns false at the end. */
static bool next_param(const char **p, char *out, size_t size)
{
        const char *s = *p;
        size_t n = 0;
        bool quote = false;

        /* The same white space that ends a parameter (isspace(): also \r, \v, \f), or a
         * CR from a DOS-edited cmdline.txt would stop the scan forever. */
        while (isspace((unsigned char)*s))
                s++;
        if (!*s)
                return false;
        for (; *s && (quote || !isspace((unsigned char)*s)); s++) {
                if (*s == '"') {
                        quote = !quote;
                        continue;
                }
                if (n + 1 < size)
                        out[n++] = *s;
        }
        out[n] = '\0';
        *p = s;
        return true;
}

enum cmdline_pass { PASS_ENV, PASS_KEYS };

static int cmdline_pass(struct parse_ctx *c, const char *cmdline, enum cmdline_pass pass)
{
        char param[ISCSI_BOOT_VALUE_MAX + 32];
        bool after_dashes = false;
        int r = 0;

        for (const char *p = cmdline; r == 0 && next_param(&p, param, sizeof(param));) {
                const char *eq = strchr(param, '=');
                enum key k;

                if (streq(param, "--"))
                        after_dashes = true; /* the rest is init's argv, not its environment */
                if (!eq)
                        continue;
                if (pass == PASS_ENV && after_dashes)
                        continue;
                k = key_lookup(param, (size_t)(eq - param), pass == PASS_ENV);
                if (k != KEY_NONE)
                        r = set_key(c, ISCSI_BOOT_CMDLINE_PATH, k, eq + 1,
                                    pass == PASS_ENV ? ISCSI_BOOT_FROM_CMDLINE_ENV
                                                     : ISCSI_BOOT_FROM_CMDLINE_KEY);
        }
        explicit_bzero(param, sizeof(param));
        return r;
}

/* Copies the text before the next SEP in *P into OUT and moves past SEP. */
static bool take_field(const char **p, char sep, char *out, size_t size)
{
        const char *end = strchr(*p, sep);
        size_t n;

        if (!end)
                return false;
        n = (size_t)(end - *p);
        if (n >= size)
                return false;
        memcpy(out, *p, n);
        out[n] = '\0';
        *p = end + 1;
        return true;
}

/* "user:pass" or "user:pass:inuser:inpass". */
static int root_arg_auth(struct parse_ctx *c, const char *auth)
{
        char f[4][ISCSI_BOOT_VALUE_MAX];
        const char *p = auth;
        unsigned n = 0;
        int r = 0;

        while (n < 4 && take_field(&p, ':', f[n], sizeof(f[n])))
                n++;
        if (n < 4 && strlen(p) < sizeof(f[n]))
                strcpy(f[n++], p);
        else
                n = 5; /* too many fields, or one too long */
        if (n != 2 && n != 4)
                r = fail(c,
                         "%s: root=iscsi: credentials must be user:password or "
                         "user:password:in_user:in_password",
                         ISCSI_BOOT_CMDLINE_PATH);
        else {
                strcpy(c->b->username, f[0]);
                strcpy(c->b->password, f[1]);
                if (n == 4) {
                        strcpy(c->b->in_username, f[2]);
                        strcpy(c->b->in_password, f[3]);
                }
        }
        explicit_bzero(f, sizeof(f));
        return r;
}

/* IP:PROTO:PORT:LUN:TARGET; IP may be [IPv6]; TARGET keeps its own colons. */
static int root_arg_portal(struct parse_ctx *c, const char *p)
{
        char ip[ISCSI_BOOT_VALUE_MAX], proto[16], port[16], lun[16];
        bool ok;

        if (*p == '[') {
                p++;
                ok = take_field(&p, ']', ip, sizeof(ip)) && *p++ == ':';
        } else
                ok = take_field(&p, ':', ip, sizeof(ip));
        ok = ok && take_field(&p, ':', proto, sizeof(proto)) &&
             take_field(&p, ':', port, sizeof(port)) && take_field(&p, ':', lun, sizeof(lun));
        if (!ok || !*p || strlen(p) >= ISCSI_BOOT_VALUE_MAX)
                return fail(c, "%s: root=iscsi: expected [user:pass@]IP:6:PORT:LUN:TARGET",
                            ISCSI_BOOT_CMDLINE_PATH);
        if (*proto && !streq(proto, "6"))
                return fail(c, "%s: root=iscsi: protocol %s is not TCP (6)",
                            ISCSI_BOOT_CMDLINE_PATH, proto);
        if (set_key(c, ISCSI_BOOT_CMDLINE_PATH, KEY_TARGET_PORT, port, ISCSI_BOOT_FROM_ROOT_ARG) <
            0)
                return -EINVAL;
        strcpy(c->b->target_ip, ip);
        strcpy(c->b->lun, lun);
        strcpy(c->b->target_name, p);
        return 0;
}

static int root_arg(struct parse_ctx *c, const char *cmdline)
{
        char param[4 * ISCSI_BOOT_VALUE_MAX], last[4 * ISCSI_BOOT_VALUE_MAX] = "";
        const char *v, *at;
        int r = 0;

        /* The kernel takes the last root=. */
        for (const char *p = cmdline; next_param(&p, param, sizeof(param));) {
                if (streq(param, "--"))
                        break;
                if (strncmp(param, "root=", 5) == 0)
                        strcpy(last, param + 5);
        }
        explicit_bzero(param, sizeof(param));
        if (strncmp(last, "iscsi:", 6) != 0)
                return 0;
        v = last + 6;
        /* open-iscsi's initramfs ends the credentials at the FIRST '@' ("${x%%@*}"), so that is
         * what the Pi will do, whatever the admin meant. */
        at = strchr(v, '@');
        if (at && strchr(at + 1, '@')) {
                explicit_bzero(last, sizeof(last));
                return fail(c,
                            "%s: root=iscsi: the credentials hold '@': open-iscsi's initramfs "
                            "ends them at the first '@' and takes the rest as the portal, so it "
                            "never logs in. Put the password in ISCSI_PASSWORD= instead",
                            ISCSI_BOOT_CMDLINE_PATH);
        }
        if (at && at > v) {
                char auth[sizeof(last)];

                memcpy(auth, v, (size_t)(at - v));
                auth[at - v] = '\0';
                r = root_arg_auth(c, auth);
                explicit_bzero(auth, sizeof(auth));
        }
        if (r == 0)
                r = root_arg_portal(c, at ? at + 1 : v);
        if (r == 0)
                c->b->sources |= ISCSI_BOOT_FROM_ROOT_ARG;
        explicit_bzero(last, sizeof(last));
        return r;
}

/* ---- public ---- */

void iscsi_boot_init(struct iscsi_boot *b)
{
        memset(b, 0, sizeof(*b));
        b->target_group = -1;
}

void iscsi_boot_clear(struct iscsi_boot *b)
{
        explicit_bzero(b, sizeof(*b));
        b->target_group = -1;
}

int iscsi_boot_parse(const char *file_text, const char *file_name, const char *cmdline,
                     struct iscsi_boot *out, char *err, size_t err_size)
{
        struct iscsi_boot tmp;
        struct parse_ctx c = {.b = &tmp, .err = err, .err_size = err_size};
        int r = 0;

        if (err && err_size)
                err[0] = '\0';
        iscsi_boot_init(&tmp);
        if (cmdline)
                r = cmdline_pass(&c, cmdline, PASS_ENV);
        if (r == 0 && file_text)
                r = parse_file(&c, file_text, file_name ? file_name : ISCSI_BOOT_INITRAMFS_PATH);
        if (r == 0 && cmdline)
                r = cmdline_pass(&c, cmdline, PASS_KEYS);
        if (r == 0 && cmdline)
                r = root_arg(&c, cmdline);
        if (r < 0) {
                iscsi_boot_clear(&tmp);
                iscsi_boot_clear(out);
                return r;
        }
        *out = tmp;
        iscsi_boot_clear(&tmp);
        return out->target_name[0] ? 1 : 0;
}

static int read_optional(const char *root, const char *abs, size_t max, char **text)
{
        _cleanup_free_ char *path = root_path(root, abs);
        int r;

        *text = NULL;
        if (!path)
                return -ENOMEM;
        r = file_read_all(path, max, text, NULL);
        return r == -ENOENT ? 0 : r;
}

static void free_secret_text(char *text)
{
        if (text) {
                explicit_bzero(text, strlen(text));
                free(text);
        }
}

int iscsi_boot_load(const char *root, struct iscsi_boot *out, char *err, size_t err_size)
{
        char *file = NULL, *cmdline = NULL;
        int r;

        iscsi_boot_clear(out);
        r = read_optional(root, ISCSI_BOOT_INITRAMFS_PATH, FILE_MAX, &file);
        if (r < 0) {
                snprintf(err, err_size, "%s: %s", ISCSI_BOOT_INITRAMFS_PATH, strerror(-r));
                return r;
        }
        r = read_optional(root, ISCSI_BOOT_CMDLINE_PATH, CMDLINE_MAX, &cmdline);
        if (r < 0)
                snprintf(err, err_size, "%s: %s", ISCSI_BOOT_CMDLINE_PATH, strerror(-r));
        else
                r = iscsi_boot_parse(file, ISCSI_BOOT_INITRAMFS_PATH, cmdline, out, err, err_size);
        free_secret_text(file);
        free_secret_text(cmdline);
        return r;
}

const char *iscsi_boot_mask(const char *secret)
{
        return str_empty(secret) ? "(none)" : "********";
}
