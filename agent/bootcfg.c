#include "bootcfg.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <strings.h>

/* ---- diagnostics ---------------------------------------------------------------------------- */

void bootcfg_diag_init(struct bootcfg_diag *diag, const char *file)
{
        memset(diag, 0, sizeof(*diag));
        snprintf(diag->file, sizeof(diag->file), "%s", str_empty(file) ? "config.txt" : file);
}

const char *bootcfg_diag_error(const struct bootcfg_diag *diag)
{
        for (size_t i = 0; i < diag->n; i++)
                if (diag->msgs[i].error)
                        return diag->msgs[i].text;
        return NULL;
}

_printf_(4, 5) static void diag_add(struct bootcfg_diag *diag, unsigned line, bool error,
                                    const char *fmt, ...)
{
        struct bootcfg_msg *m;
        const char *file;
        char body[BOOTCFG_MSG_LEN];
        va_list ap;

        if (!diag)
                return;
        if (diag->n >= BOOTCFG_MSG_MAX) {
                diag->dropped++;
                /* The reason of a refusal must survive a file full of warnings: it takes the
                 * last slot. */
                if (!error)
                        return;
                diag->n--;
        }
        va_start(ap, fmt);
        vsnprintf(body, sizeof(body), fmt, ap);
        va_end(ap);
        file = diag->file[0] ? diag->file : "config.txt";
        m = &diag->msgs[diag->n++];
        m->line = line;
        m->error = error;
        if (line > 0)
                snprintf(m->text, sizeof(m->text), "%s:%u: %s", file, line, body);
        else
                snprintf(m->text, sizeof(m->text), "%s: %s", file, body);
}

/* ---- boards and filters --------------------------------------------------------------------- */

enum board {
        B_UNKNOWN,
        B_PI1,
        B_CM1,
        B_PI0,
        B_PI0W,
        B_PI02,
        B_PI2,
        B_PI3,
        B_PI3P,
        B_CM3,
        B_CM3P,
        B_PI4,
        B_PI400,
        B_CM4,
        B_CM4S,
        B_PI5,
        B_PI500,
        B_CM5,
};

#define BIT(b) (1u << (b))

/* Ordered: a longer model name must come before its prefix ("Zero 2" before "Zero"). */
static const struct {
        const char *prefix; /* after "Raspberry Pi " */
        enum board board;
        const char *name;
} model_table[] = {
    {"Compute Module 5", B_CM5, "cm5"},
    {"Compute Module 4S", B_CM4S, "cm4s"},
    {"Compute Module 4", B_CM4, "cm4"},
    {"Compute Module 3 Plus", B_CM3P, "cm3+"},
    {"Compute Module 3", B_CM3, "cm3"},
    {"Compute Module", B_CM1, "cm1"},
    {"Zero 2", B_PI02, "pi02"},
    {"Zero W", B_PI0W, "pi0w"},
    {"Zero", B_PI0, "pi0"},
    {"400", B_PI400, "pi400"},
    {"500", B_PI500, "pi500"},
    {"5 ", B_PI5, "pi5"},
    {"4 ", B_PI4, "pi4"},
    {"3 Model B Plus", B_PI3P, "pi3+"},
    {"3 Model A Plus", B_PI3P, "pi3+"},
    {"3 ", B_PI3, "pi3"},
    {"2 ", B_PI2, "pi2"},
    {"Model ", B_PI1, "pi1"},
};

/* Which boards each model filter selects; several boards "also see" a parent filter's
 * sections (a 3B+ reads [pi3], a Zero 2 W reads [pi0w] and [pi0]). */
static const struct {
        const char *filter;
        unsigned boards;
} model_filters[] = {
    {"pi1", BIT(B_PI1) | BIT(B_CM1)},
    {"pi2", BIT(B_PI2)},
    {"pi3", BIT(B_PI3) | BIT(B_PI3P) | BIT(B_CM3) | BIT(B_CM3P)},
    {"pi3+", BIT(B_PI3P)},
    {"pi4", BIT(B_PI4) | BIT(B_PI400) | BIT(B_CM4) | BIT(B_CM4S)},
    {"pi400", BIT(B_PI400)},
    {"cm4", BIT(B_CM4)},
    {"cm4s", BIT(B_CM4S)},
    {"pi0", BIT(B_PI0) | BIT(B_PI0W) | BIT(B_PI02)},
    {"pi0w", BIT(B_PI0W) | BIT(B_PI02)},
    {"pi02", BIT(B_PI02)},
    {"pi5", BIT(B_PI5) | BIT(B_PI500) | BIT(B_CM5)},
    {"pi500", BIT(B_PI500)},
    {"cm5", BIT(B_CM5)},
};

static enum board board_from_model(const char *model, const char **name)
{
        static const char vendor[] = "Raspberry Pi ";

        *name = NULL;
        if (!model || strncmp(model, vendor, strlen(vendor)) != 0)
                return B_UNKNOWN;
        model += strlen(vendor);
        for (size_t i = 0; i < ARRAY_SIZE(model_table); i++) {
                if (strncmp(model, model_table[i].prefix, strlen(model_table[i].prefix)) == 0) {
                        *name = model_table[i].name;
                        return model_table[i].board;
                }
        }
        return B_UNKNOWN;
}

const char *bootcfg_board_name(const char *model)
{
        const char *name;

        board_from_model(model, &name);
        return name;
}

static const char *default_kernel(enum board b, bool arm_64bit)
{
        switch (b) {
        case B_PI5:
        case B_PI500:
        case B_CM5:
                return "kernel_2712.img";
        default:
                break;
        }
        if (arm_64bit)
                return "kernel8.img";
        switch (b) {
        case B_PI1:
        case B_CM1:
        case B_PI0:
        case B_PI0W:
                return "kernel.img";
        case B_PI4:
        case B_PI400:
        case B_CM4:
        case B_CM4S:
                return "kernel7l.img";
        default:
                return "kernel7.img";
        }
}

/* Filters of one type replace each other; filters of different types are ANDed. */
enum filter_type {
        F_MODEL,
        F_SERIAL,
        F_TRYBOOT,
        F_GPIO,
        F_EDID,
        F_NONE,
        F_OTHER,
        F_COUNT,
};

struct filter_state {
        bool active[F_COUNT];
        bool match[F_COUNT];
};

static bool filter_applies(const struct filter_state *fs)
{
        for (int t = 0; t < F_COUNT; t++)
                if (fs->active[t] && !fs->match[t])
                        return false;
        return true;
}

static void filter_set(struct filter_state *fs, enum filter_type t, bool match)
{
        fs->active[t] = true;
        fs->match[t] = match;
}

/* Accepts "511e57f7", "00000000511e57f7", "0x511e57f7". */
static bool parse_serial(const char *s, size_t n, uint64_t *out)
{
        uint64_t v = 0;

        if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                s += 2;
                n -= 2;
        }
        if (n == 0 || n > 16)
                return false;
        for (size_t i = 0; i < n; i++) {
                int c = tolower((unsigned char)s[i]);
                if (!isxdigit(c))
                        return false;
                v = (v << 4) | (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
        }
        *out = v;
        return true;
}

/* ---- lines ---------------------------------------------------------------------------------- */

struct line {
        const char *p;
        size_t off; /* of the first byte within the text */
        size_t len; /* without "\n" or "\r\n" */
        size_t eol; /* 0, 1 or 2 */
        unsigned no;
};

static bool next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
        const char *nl;

        if (*pos >= len)
                return false;
        l->p = text + *pos;
        l->off = *pos;
        l->no++;
        nl = memchr(l->p, '\n', len - *pos);
        l->len = nl ? (size_t)(nl - l->p) : len - *pos;
        l->eol = nl ? 1 : 0;
        if (nl && l->len > 0 && l->p[l->len - 1] == '\r') {
                l->len--;
                l->eol = 2;
        }
        *pos += l->len + l->eol;
        return true;
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t';
}

/* A [start, end) view of the text. */
struct span {
        const char *p;
        size_t n;
};

static struct span span_trim(const char *p, size_t n)
{
        while (n > 0 && isspace((unsigned char)*p)) {
                p++;
                n--;
        }
        while (n > 0 && isspace((unsigned char)p[n - 1]))
                n--;
        return (struct span){p, n};
}

static bool span_eq(struct span s, const char *lit)
{
        return strlen(lit) == s.n && strncmp(s.p, lit, s.n) == 0;
}

static bool span_caseeq(struct span s, const char *lit)
{
        return strlen(lit) == s.n && strncasecmp(s.p, lit, s.n) == 0;
}

static bool span_has_prefix(struct span s, const char *lit)
{
        size_t n = strlen(lit);
        return s.n >= n && strncasecmp(s.p, lit, n) == 0;
}

static bool span_copy(struct span s, char *buf, size_t size)
{
        size_t n = s.n < size - 1 ? s.n : size - 1;

        memcpy(buf, s.p, n);
        buf[n] = '\0';
        return n == s.n;
}

/* ---- evaluation ----------------------------------------------------------------------------- */

struct eval {
        const char *text;
        size_t len;
        enum board board;
        bool have_serial;
        uint64_t serial;
        bool tryboot;
        struct filter_state fs;
        struct bootcfg_result *res;
        struct bootcfg_diag *diag;
        char initramfs_list[BOOTCFG_NAME_MAX]; /* raw, before os_prefix */
        unsigned initramfs_line;
};

/* Returns false when NAME is not a model filter. */
static bool eval_model_filter(struct eval *ev, struct span name)
{
        for (size_t i = 0; i < ARRAY_SIZE(model_filters); i++) {
                if (span_caseeq(name, model_filters[i].filter)) {
                        filter_set(&ev->fs, F_MODEL,
                                   ev->board != B_UNKNOWN &&
                                       (model_filters[i].boards & BIT(ev->board)));
                        return true;
                }
        }
        return false;
}

static void eval_filter(struct eval *ev, const struct line *l, struct span body)
{
        const char *close = memchr(body.p, ']', body.n);
        struct span name;
        uint64_t serial;

        if (!close) {
                diag_add(ev->diag, l->no, false, "filter line without ']'; ignored");
                return;
        }
        name = span_trim(body.p + 1, (size_t)(close - body.p - 1));
        if (span_caseeq(name, "all")) {
                memset(&ev->fs, 0, sizeof(ev->fs));
                return;
        }
        /* Only [all] lifts [none]: it keeps unused settings around, not a model choice. */
        if (span_caseeq(name, "none")) {
                filter_set(&ev->fs, F_NONE, false);
                return;
        }
        if (span_caseeq(name, "tryboot")) {
                filter_set(&ev->fs, F_TRYBOOT, ev->tryboot);
                return;
        }
        if (span_has_prefix(name, "0x")) {
                if (!parse_serial(name.p, name.n, &serial)) {
                        diag_add(ev->diag, l->no, false,
                                 "[%.*s] is not a serial number; section treated as not "
                                 "matching",
                                 (int)name.n, name.p);
                        filter_set(&ev->fs, F_SERIAL, false);
                        return;
                }
                if (!ev->have_serial)
                        diag_add(ev->diag, l->no, false,
                                 "serial filter [%.*s] but this Pi's serial is unknown; treated "
                                 "as not matching",
                                 (int)name.n, name.p);
                filter_set(&ev->fs, F_SERIAL, ev->have_serial && serial == ev->serial);
                return;
        }
        /* These depend on the hardware state at boot (pins, monitor), which a netbooting,
         * headless Pi cannot be asked for here: assume the section is skipped and say so. */
        if (span_has_prefix(name, "gpio")) {
                diag_add(ev->diag, l->no, false,
                         "[%.*s] depends on a GPIO level at boot; section assumed not to apply",
                         (int)name.n, name.p);
                filter_set(&ev->fs, F_GPIO, false);
                return;
        }
        if (span_has_prefix(name, "EDID=")) {
                diag_add(ev->diag, l->no, false,
                         "[%.*s] depends on the monitor at boot; section assumed not to apply",
                         (int)name.n, name.p);
                filter_set(&ev->fs, F_EDID, false);
                return;
        }
        if (eval_model_filter(ev, name))
                return;
        diag_add(ev->diag, l->no, false, "unknown filter [%.*s]; section treated as not matching",
                 (int)name.n, name.p);
        filter_set(&ev->fs, F_OTHER, false);
}

static bool parse_flag(struct span v, bool *out)
{
        char buf[32];
        char *end;
        long n;

        if (!span_copy(v, buf, sizeof(buf)) || !buf[0])
                return false;
        errno = 0;
        n = strtol(buf, &end, 0);
        if (errno || *end)
                return false;
        *out = n != 0;
        return true;
}

static void set_name(struct eval *ev, unsigned no, struct span v, char *dst, unsigned *dst_line,
                     const char *key)
{
        if (!span_copy(v, dst, BOOTCFG_NAME_MAX))
                diag_add(ev->diag, no, false, "%s value too long; cut to %d bytes", key,
                         BOOTCFG_NAME_MAX - 1);
        *dst_line = no;
}

/* Records an initramfs file list (an `initramfs` line or ramfsfile=) as the deciding one. */
static void set_initramfs(struct eval *ev, unsigned no, struct span files, struct span addr,
                          enum bootcfg_initramfs_from from)
{
        struct bootcfg_result *res = ev->res;

        if (!span_copy(files, ev->initramfs_list, sizeof(ev->initramfs_list)))
                diag_add(ev->diag, no, false, "initramfs file list too long; cut");
        span_copy(addr, res->initramfs_addr, sizeof(res->initramfs_addr));
        res->initramfs_from = from;
        res->initramfs_span_start = (size_t)(files.p - ev->text);
        res->initramfs_span_end = res->initramfs_span_start + files.n;
        ev->initramfs_line = no;
}

/* `initramfs FILE[,FILE…] ADDR`: the one command without "=". */
static void eval_initramfs_cmd(struct eval *ev, const struct line *l, struct span rest,
                               bool applies)
{
        struct span files, addr;
        const char *p = rest.p, *end = rest.p + rest.n;

        while (p < end && is_blank(*p))
                p++;
        if (p < end && *p == '=') {
                diag_add(ev->diag, l->no, false,
                         "'initramfs=' is not understood by the firmware (the syntax is "
                         "'initramfs FILE followkernel', without '='); line ignored");
                return;
        }
        files.p = p;
        while (p < end && !is_blank(*p))
                p++;
        files.n = (size_t)(p - files.p);
        while (p < end && is_blank(*p))
                p++;
        addr.p = p;
        while (p < end && !is_blank(*p))
                p++;
        addr.n = (size_t)(p - addr.p);
        if (files.n == 0) {
                diag_add(ev->diag, l->no, false, "initramfs without a file name; ignored");
                return;
        }
        if (addr.n == 0)
                diag_add(ev->diag, l->no, false,
                         "initramfs without a load address ('followkernel' expected)");
        if (applies)
                set_initramfs(ev, l->no, files, addr, BOOTCFG_INITRAMFS_LINE);
}

static void eval_setting(struct eval *ev, const struct line *l, struct span key, struct span v)
{
        struct bootcfg_result *res = ev->res;
        bool flag;

        if (span_eq(key, "kernel")) {
                set_name(ev, l->no, v, res->kernel, &res->kernel_line, "kernel");
        } else if (span_eq(key, "cmdline")) {
                set_name(ev, l->no, v, res->cmdline, &res->cmdline_line, "cmdline");
        } else if (span_eq(key, "os_prefix")) {
                set_name(ev, l->no, v, res->os_prefix, &res->os_prefix_line, "os_prefix");
        } else if (span_eq(key, "arm_64bit") || span_eq(key, "auto_initramfs")) {
                bool is_arm = span_eq(key, "arm_64bit");
                if (!parse_flag(v, &flag)) {
                        diag_add(ev->diag, l->no, false, "%.*s=%.*s is not a number; ignored",
                                 (int)key.n, key.p, (int)v.n, v.p);
                        return;
                }
                *(is_arm ? &res->arm_64bit : &res->auto_initramfs) = flag;
                *(is_arm ? &res->arm_64bit_line : &res->auto_initramfs_line) = l->no;
        } else if (span_eq(key, "ramfsfile")) {
                set_initramfs(ev, l->no, v, (struct span){v.p + v.n, 0},
                              BOOTCFG_INITRAMFS_RAMFSFILE);
        }
}

static void eval_line(struct eval *ev, const struct line *l)
{
        struct span s = span_trim(l->p, l->len);
        const char *eq;
        bool applies;

        if (l->len > BOOTCFG_LINE_MAX)
                diag_add(ev->diag, l->no, false,
                         "line is %zu characters long; the firmware reads only the first %d",
                         l->len, BOOTCFG_LINE_MAX);
        if (s.n == 0 || s.p[0] == '#')
                return;
        if (s.p[0] == '[') {
                eval_filter(ev, l, s);
                return;
        }
        applies = filter_applies(&ev->fs);
        if (span_has_prefix(s, "include") && s.n > 7 && is_blank(s.p[7])) {
                diag_add(ev->diag, l->no, false,
                         "include is not read by bootcode.bin on a netbooting Pi 3; %.*s not "
                         "followed",
                         (int)span_trim(s.p + 7, s.n - 7).n, span_trim(s.p + 7, s.n - 7).p);
                return;
        }
        if (span_has_prefix(s, "initramfs") && (s.n == 9 || is_blank(s.p[9]) || s.p[9] == '=')) {
                eval_initramfs_cmd(ev, l, (struct span){s.p + 9, s.n - 9}, applies);
                return;
        }
        eq = memchr(s.p, '=', s.n);
        if (!eq) {
                diag_add(ev->diag, l->no, false, "not a KEY=VALUE setting; ignored");
                return;
        }
        if (applies)
                eval_setting(ev, l, span_trim(s.p, (size_t)(eq - s.p)),
                             span_trim(eq + 1, (size_t)(s.p + s.n - eq - 1)));
}

/* os_prefix is prepended to every OS file unless the name starts with "/". */
static void with_prefix(const char *prefix, const char *name, char *out, size_t size)
{
        if (name[0] == '/')
                snprintf(out, size, "%s", name);
        else
                snprintf(out, size, "%s%s", prefix, name);
}

/* auto_initramfs: kernel7.img -> initramfs7, kernel.img -> initramfs, kernel_2712.img ->
 * initramfs_2712, in the kernel's own folder. */
static bool auto_initramfs_name(const char *kernel, char *out, size_t size)
{
        const char *slash = strrchr(kernel, '/');
        const char *base = slash ? slash + 1 : kernel;
        size_t blen = strlen(base);

        if (strncmp(base, "kernel", 6) != 0 || blen < 10 || strcmp(base + blen - 4, ".img") != 0)
                return false;
        snprintf(out, size, "%.*sinitramfs%.*s", (int)(base - kernel), kernel, (int)(blen - 10),
                 base + 6);
        return true;
}

static void add_deciding(struct bootcfg_result *res, unsigned line)
{
        if (line > 0 && res->n_deciding < BOOTCFG_DECIDING_MAX)
                res->deciding[res->n_deciding++] = line;
}

static void split_initramfs_list(struct eval *ev)
{
        struct bootcfg_result *res = ev->res;
        char *save = NULL;

        for (char *tok = strtok_r(ev->initramfs_list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
                if (res->n_initramfs == BOOTCFG_INITRAMFS_FILES_MAX) {
                        diag_add(ev->diag, ev->initramfs_line, false,
                                 "more than %d initramfs files; the rest are not shown",
                                 BOOTCFG_INITRAMFS_FILES_MAX);
                        break;
                }
                with_prefix(res->os_prefix, tok, res->initramfs[res->n_initramfs++],
                            BOOTCFG_NAME_MAX);
        }
}

static void resolve_auto_initramfs(struct eval *ev, const char *kernel_raw)
{
        struct bootcfg_result *res = ev->res;
        char name[BOOTCFG_NAME_MAX];

        if (!auto_initramfs_name(kernel_raw, name, sizeof(name))) {
                diag_add(ev->diag, res->auto_initramfs_line, false,
                         "auto_initramfs=1 but the kernel '%s' is not named kernel*.img: no "
                         "initramfs name can be derived from it",
                         kernel_raw);
                res->initramfs_from = BOOTCFG_INITRAMFS_NONE;
                return;
        }
        res->initramfs_from = BOOTCFG_INITRAMFS_AUTO;
        with_prefix(res->os_prefix, name, res->initramfs[0], BOOTCFG_NAME_MAX);
        res->n_initramfs = 1;
        add_deciding(res, res->auto_initramfs_line);
        add_deciding(res, res->kernel_line);
        if (res->kernel_line == 0)
                add_deciding(res, res->arm_64bit_line);
}

/* Settings are final only at the end of the file: os_prefix and arm_64bit may come last. */
static void eval_finish(struct eval *ev)
{
        struct bootcfg_result *res = ev->res;
        char kernel_raw[BOOTCFG_NAME_MAX], cmdline_raw[BOOTCFG_NAME_MAX];

        if (res->kernel_line == 0)
                snprintf(kernel_raw, sizeof(kernel_raw), "%s",
                         default_kernel(ev->board, res->arm_64bit));
        else
                snprintf(kernel_raw, sizeof(kernel_raw), "%s", res->kernel);
        with_prefix(res->os_prefix, kernel_raw, res->kernel, sizeof(res->kernel));

        if (res->cmdline_line == 0)
                snprintf(res->cmdline, sizeof(res->cmdline), "cmdline.txt");
        snprintf(cmdline_raw, sizeof(cmdline_raw), "%s", res->cmdline);
        with_prefix(res->os_prefix, cmdline_raw, res->cmdline, sizeof(res->cmdline));

        if (res->initramfs_from == BOOTCFG_INITRAMFS_LINE ||
            res->initramfs_from == BOOTCFG_INITRAMFS_RAMFSFILE) {
                split_initramfs_list(ev);
                add_deciding(res, ev->initramfs_line);
        } else if (res->auto_initramfs) {
                resolve_auto_initramfs(ev, kernel_raw);
        }
        res->end_applies = filter_applies(&ev->fs);
}

int bootcfg_evaluate(const char *text, size_t len, const struct bootcfg_target *pi,
                     struct bootcfg_result *res, struct bootcfg_diag *diag)
{
        struct eval ev = {.text = text, .len = len, .res = res, .diag = diag};
        struct line l = {0};
        const char *board_name;
        size_t pos = 0;

        memset(res, 0, sizeof(*res));
        if (!pi || str_empty(pi->model))
                return -EINVAL;
        ev.board = board_from_model(pi->model, &board_name);
        ev.tryboot = pi->tryboot;
        if (pi->serial)
                ev.have_serial = parse_serial(pi->serial, strlen(pi->serial), &ev.serial);
        if (ev.board == B_UNKNOWN)
                diag_add(diag, 0, false,
                         "unknown model '%s': model filters treated as not matching, "
                         "Pi 3 defaults assumed",
                         pi->model);
        snprintf(res->board, sizeof(res->board), "%s", board_name ? board_name : "unknown");
        while (next_line(text, len, &pos, &l))
                eval_line(&ev, &l);
        eval_finish(&ev);
        return 0;
}

/* ---- editing -------------------------------------------------------------------------------- */

static bool initramfs_name_ok(const char *file)
{
        if (str_empty(file) || strlen(file) >= BOOTCFG_NAME_MAX)
                return false;
        for (const char *p = file; *p; p++)
                if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p) || *p == ',')
                        return false;
        return true;
}

/* The line holding byte OFF: its start, length without the line ending, and number. */
static void line_at(const char *text, size_t len, size_t off, struct line *out)
{
        struct line l = {0};
        size_t pos = 0;

        while (next_line(text, len, &pos, &l)) {
                if (off < l.off + l.len + l.eol || pos >= len) {
                        *out = l;
                        return;
                }
        }
        *out = l;
}

static int replace_span(const char *text, size_t len, size_t start, size_t end, const char *file,
                        char **out, size_t *out_len)
{
        size_t flen = strlen(file), n = len - (end - start) + flen;
        char *buf = malloc(n + 1);

        if (!buf)
                return -ENOMEM;
        memcpy(buf, text, start);
        memcpy(buf + start, file, flen);
        memcpy(buf + start + flen, text + end, len - end);
        buf[n] = '\0';
        *out = buf;
        *out_len = n;
        return 0;
}

static int edit_deciding_line(const char *text, size_t len, const struct bootcfg_result *res,
                              const char *file, char **out, size_t *out_len,
                              struct bootcfg_diag *diag)
{
        size_t start = res->initramfs_span_start, end = res->initramfs_span_end;
        size_t new_len;
        struct line l;

        line_at(text, len, start, &l);
        if (memchr(text + start, ',', end - start))
                diag_add(diag, l.no, false, "the line listed several files; all are replaced by %s",
                         file);
        new_len = l.len - (end - start) + strlen(file);
        if (new_len > BOOTCFG_LINE_MAX) {
                diag_add(diag, l.no, true,
                         "the changed line would be %zu characters long; the firmware reads only "
                         "%d: refused",
                         new_len, BOOTCFG_LINE_MAX);
                return -E2BIG;
        }
        if (end - start == strlen(file) && memcmp(text + start, file, end - start) == 0) {
                /* Not strndup(): a NUL byte in the file would make the copy shorter than
                 * *OUT_LEN says. */
                *out = malloc(len + 1);
                if (!*out)
                        return -ENOMEM;
                memcpy(*out, text, len);
                (*out)[len] = '\0';
                *out_len = len;
                return 0;
        }
        return replace_span(text, len, start, end, file, out, out_len) < 0 ? -ENOMEM : 1;
}

/* The ending the file already uses, so an added line does not mix styles. */
static const char *file_eol(const char *text, size_t len)
{
        const char *nl = memchr(text, '\n', len);

        return nl && nl > text && nl[-1] == '\r' ? "\r\n" : "\n";
}

static int append_initramfs_line(const char *text, size_t len, const struct bootcfg_result *res,
                                 const char *file, char **out, size_t *out_len,
                                 struct bootcfg_diag *diag)
{
        const char *eol = file_eol(text, len);
        bool unterminated = len > 0 && text[len - 1] != '\n';
        struct strbuf sb = {0};
        char line[BOOTCFG_NAME_MAX + 32];

        snprintf(line, sizeof(line), "initramfs %s followkernel", file);
        if (strlen(line) > BOOTCFG_LINE_MAX) {
                diag_add(diag, 0, true,
                         "'%s' would be %zu characters long; the firmware reads only %d: refused",
                         line, strlen(line), BOOTCFG_LINE_MAX);
                return -E2BIG;
        }
        sb_append(&sb, text, len);
        /* A file without a final newline keeps lacking one: the separator goes in front. */
        if (unterminated)
                sb_puts(&sb, eol);
        if (!res->end_applies) {
                sb_puts(&sb, "[all]");
                sb_puts(&sb, eol);
        }
        sb_puts(&sb, line);
        if (!unterminated)
                sb_puts(&sb, eol);
        if (sb.oom) {
                sb_free(&sb);
                return -ENOMEM;
        }
        *out_len = sb.len;
        *out = sb.data ? sb.data : strdup("");
        return *out ? 1 : -ENOMEM;
}

int bootcfg_set_initramfs(const char *text, size_t len, const struct bootcfg_target *pi,
                          const char *file, char **out, size_t *out_len, struct bootcfg_diag *diag)
{
        struct bootcfg_result *res;
        int r;

        *out = NULL;
        *out_len = 0;
        if (!initramfs_name_ok(file)) {
                diag_add(diag, 0, true,
                         "'%s' is not a usable initramfs name (empty, too long, or holding "
                         "white space, ',' or control characters)",
                         file ? file : "");
                return -EINVAL;
        }
        /* The result is a few KiB: keep it off the stack of a daemon's worker. */
        res = malloc(sizeof(*res));
        if (!res)
                return -ENOMEM;
        r = bootcfg_evaluate(text, len, pi, res, diag);
        if (r < 0)
                goto out;
        if (res->initramfs_from == BOOTCFG_INITRAMFS_LINE ||
            res->initramfs_from == BOOTCFG_INITRAMFS_RAMFSFILE) {
                r = edit_deciding_line(text, len, res, file, out, out_len, diag);
        } else if (res->auto_initramfs) {
                diag_add(diag, res->auto_initramfs_line, true,
                         "auto_initramfs=1 and no initramfs line: this Pi loads %s, named after "
                         "its kernel. Switching this flavour means renaming the new initrd onto "
                         "%s (the kernel upgrade's job), not editing config.txt: refused",
                         res->n_initramfs ? res->initramfs[0] : "an initramfs",
                         res->n_initramfs ? res->initramfs[0] : "initramfs7/initramfs8");
                r = -EOPNOTSUPP;
        } else {
                r = append_initramfs_line(text, len, res, file, out, out_len, diag);
        }
out:
        free(res);
        return r;
}

/* ---- diff ----------------------------------------------------------------------------------- */

static void diff_line(struct strbuf *out, char sign, const struct line *l)
{
        sb_printf(out, "%c%u: %.*s\n", sign, l->no, (int)l->len, l->p);
}

size_t bootcfg_diff(const char *old, size_t old_len, const char *new_text, size_t new_len,
                    struct strbuf *out)
{
        struct line a = {0}, b = {0};
        size_t pa = 0, pb = 0, changed = 0;

        for (;;) {
                bool ha = next_line(old, old_len, &pa, &a);
                bool hb = next_line(new_text, new_len, &pb, &b);

                if (!ha && !hb)
                        break;
                if (ha && hb && a.len == b.len && memcmp(a.p, b.p, a.len) == 0)
                        continue;
                if (ha)
                        diff_line(out, '-', &a);
                if (hb)
                        diff_line(out, '+', &b);
                changed++;
        }
        return changed;
}
