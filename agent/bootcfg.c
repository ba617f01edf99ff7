#include "bootcfg.h"
#include "beneath.h"
#include "fileio.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <strings.h>
#include <sys/stat.h>

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

void bootcfg_files_display(const struct bootcfg_files *fs, const struct bootcfg_diag *diag,
                           unsigned idx, char *buf, size_t size)
{
        const char *main = diag && diag->file[0] ? diag->file : "config.txt";

        if (!fs || idx == 0 || idx >= fs->n) {
                snprintf(buf, size, "%s", main);
                return;
        }
        if (fs->boot_dir)
                snprintf(buf, size, "%s/%s", fs->boot_dir, fs->files[idx].name);
        else
                snprintf(buf, size, "%s", fs->files[idx].name);
}

void bootcfg_where(const struct bootcfg_files *fs, unsigned src, unsigned line, char *buf,
                   size_t size)
{
        if (line == 0)
                snprintf(buf, size, "default");
        else if (fs && src > 0 && src < fs->n)
                snprintf(buf, size, "%s line %u", fs->files[src].name, line);
        else
                snprintf(buf, size, "line %u", line);
}

_printf_(6, 0) static void diag_vadd(struct bootcfg_diag *diag, const struct bootcfg_files *fs,
                                     unsigned src, unsigned line, bool error, const char *fmt,
                                     va_list ap)
{
        struct bootcfg_msg *m;
        char body[BOOTCFG_MSG_LEN], file[512];

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
        vsnprintf(body, sizeof(body), fmt, ap);
        bootcfg_files_display(fs, diag, src, file, sizeof(file));
        m = &diag->msgs[diag->n++];
        m->src = src;
        m->line = line;
        m->error = error;
        if (line > 0)
                snprintf(m->text, sizeof(m->text), "%s:%u: %s", file, line, body);
        else
                snprintf(m->text, sizeof(m->text), "%s: %s", file, body);
}

_printf_(6, 7) static void diag_add_in(struct bootcfg_diag *diag, const struct bootcfg_files *fs,
                                       unsigned src, unsigned line, bool error, const char *fmt,
                                       ...)
{
        va_list ap;

        va_start(ap, fmt);
        diag_vadd(diag, fs, src, line, error, fmt, ap);
        va_end(ap);
}

/* About the main file (or text evaluated alone). */
_printf_(4, 5) static void diag_add(struct bootcfg_diag *diag, unsigned line, bool error,
                                    const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        diag_vadd(diag, NULL, 0, line, error, fmt, ap);
        va_end(ap);
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

/* Ordered: a longer model name must come before its prefix ("Zero 2" before "Zero").
 * board_type is the type field of the revision code that [board-type=0xNN] compares; dtb is
 * the device tree the firmware loads (os_prefix needs it under the prefix). */
static const struct model_row {
        const char *prefix; /* after "Raspberry Pi " */
        enum board board;
        const char *name;
        unsigned board_type;
        const char *dtb;
} model_table[] = {
    {"Compute Module 5", B_CM5, "cm5", 0x18, "bcm2712-rpi-cm5-cm5io.dtb"},
    {"Compute Module 4S", B_CM4S, "cm4s", 0x15, "bcm2711-rpi-cm4s.dtb"},
    {"Compute Module 4", B_CM4, "cm4", 0x14, "bcm2711-rpi-cm4.dtb"},
    {"Compute Module 3 Plus", B_CM3P, "cm3+", 0x10, "bcm2710-rpi-cm3.dtb"},
    {"Compute Module 3", B_CM3, "cm3", 0x0a, "bcm2710-rpi-cm3.dtb"},
    {"Compute Module", B_CM1, "cm1", 0x06, "bcm2708-rpi-cm.dtb"},
    {"Zero 2", B_PI02, "pi02", 0x12, "bcm2710-rpi-zero-2-w.dtb"},
    {"Zero W", B_PI0W, "pi0w", 0x0c, "bcm2708-rpi-zero-w.dtb"},
    {"Zero", B_PI0, "pi0", 0x09, "bcm2708-rpi-zero.dtb"},
    {"400", B_PI400, "pi400", 0x13, "bcm2711-rpi-400.dtb"},
    {"500", B_PI500, "pi500", 0x19, "bcm2712-rpi-500.dtb"},
    {"5 ", B_PI5, "pi5", 0x17, "bcm2712-rpi-5-b.dtb"},
    {"4 ", B_PI4, "pi4", 0x11, "bcm2711-rpi-4-b.dtb"},
    {"3 Model B Plus", B_PI3P, "pi3+", 0x0d, "bcm2710-rpi-3-b-plus.dtb"},
    {"3 Model A Plus", B_PI3P, "pi3+", 0x0e, "bcm2710-rpi-3-b-plus.dtb"},
    {"3 ", B_PI3, "pi3", 0x08, "bcm2710-rpi-3-b.dtb"},
    {"2 ", B_PI2, "pi2", 0x04, "bcm2709-rpi-2-b.dtb"},
    {"Model B Plus", B_PI1, "pi1", 0x03, "bcm2708-rpi-b-plus.dtb"},
    {"Model A Plus", B_PI1, "pi1", 0x02, "bcm2708-rpi-b-plus.dtb"},
    {"Model B", B_PI1, "pi1", 0x01, "bcm2708-rpi-b.dtb"},
    {"Model A", B_PI1, "pi1", 0x00, "bcm2708-rpi-b.dtb"},
    {"Model ", B_PI1, "pi1", 0x01, "bcm2708-rpi-b.dtb"},
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

static const struct model_row *model_row(const char *model)
{
        static const char vendor[] = "Raspberry Pi ";

        if (!model || strncmp(model, vendor, strlen(vendor)) != 0)
                return NULL;
        model += strlen(vendor);
        for (size_t i = 0; i < ARRAY_SIZE(model_table); i++)
                if (strncmp(model, model_table[i].prefix, strlen(model_table[i].prefix)) == 0)
                        return &model_table[i];
        return NULL;
}

const char *bootcfg_board_name(const char *model)
{
        const struct model_row *m = model_row(model);

        return m ? m->name : NULL;
}

const char *bootcfg_board_dtb(const char *model)
{
        const struct model_row *m = model_row(model);

        return m ? m->dtb : NULL;
}

static bool board_is_pi4(enum board b)
{
        return b == B_PI4 || b == B_PI400 || b == B_CM4 || b == B_CM4S;
}

static bool board_is_pi5(enum board b)
{
        return b == B_PI5 || b == B_PI500 || b == B_CM5;
}

/* "arm_64bit ... Defaults to 1 on Pi 4s (Pi 4B, Pi 400, CM4 and CM4S), and 0 on all other
 * platforms"; a Pi 5 runs only 64-bit kernels. */
static bool default_arm_64bit(enum board b)
{
        return board_is_pi4(b) || board_is_pi5(b);
}

/* kernel: "The default value on the Raspberry Pi 2, 3, 3+ and Zero 2 W ... is kernel7.img. The
 * default value on the Raspberry Pi 4 and 400, and Raspberry Pi Compute Module 4 is kernel8.img,
 * or kernel7l.img if arm_64bit is set to 0." */
static const char *default_kernel(enum board b, bool arm_64bit)
{
        if (board_is_pi5(b))
                return "kernel_2712.img";
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
        F_MODEL, /* [pi3], [pi4], …, and [board-type=]: the docs list them as one kind */
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
        const struct bootcfg_files *fs;
        unsigned src;     /* the file being read */
        const char *text; /* its text */
        unsigned depth;
        unsigned stack[BOOTCFG_INCLUDE_DEPTH_MAX + 1]; /* files being read, outermost first */
        const struct model_row *row;
        enum board board;
        bool have_serial;
        uint64_t serial;
        bool tryboot;
        struct filter_state fs_state;
        struct bootcfg_result *res;
        struct bootcfg_diag *diag;
        char initramfs_list[BOOTCFG_NAME_MAX]; /* raw, before os_prefix */
        unsigned initramfs_line, initramfs_src;
        size_t line_end; /* offset of the end of the line being read, in TEXT */
};

_printf_(4, 5) static void ev_diag(struct eval *ev, unsigned line, bool error, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        diag_vadd(ev->diag, ev->fs, ev->src, line, error, fmt, ap);
        va_end(ap);
}

/* Returns false when NAME is not a model filter. */
static bool eval_model_filter(struct eval *ev, struct span name)
{
        for (size_t i = 0; i < ARRAY_SIZE(model_filters); i++) {
                if (span_caseeq(name, model_filters[i].filter)) {
                        filter_set(&ev->fs_state, F_MODEL,
                                   ev->board != B_UNKNOWN &&
                                       (model_filters[i].boards & BIT(ev->board)));
                        return true;
                }
        }
        return false;
}

/* [board-type=0xNN]: the type field of the revision code. */
static void eval_board_type_filter(struct eval *ev, const struct line *l, struct span name)
{
        struct span v = span_trim(name.p + 11, name.n - 11);
        char buf[16], *end;
        unsigned long t;

        if (!span_copy(v, buf, sizeof(buf)) || !buf[0] ||
            (errno = 0, t = strtoul(buf, &end, 0), errno || *end)) {
                ev_diag(ev, l->no, false,
                        "[%.*s] is not a board type; section treated as not matching", (int)name.n,
                        name.p);
                filter_set(&ev->fs_state, F_MODEL, false);
                return;
        }
        filter_set(&ev->fs_state, F_MODEL, ev->row && ev->row->board_type == t);
}

static void eval_filter(struct eval *ev, const struct line *l, struct span body)
{
        const char *close = memchr(body.p, ']', body.n);
        struct span name;
        uint64_t serial;

        if (!close) {
                ev_diag(ev, l->no, false, "filter line without ']'; ignored");
                return;
        }
        name = span_trim(body.p + 1, (size_t)(close - body.p - 1));
        if (span_caseeq(name, "all")) {
                memset(&ev->fs_state, 0, sizeof(ev->fs_state));
                return;
        }
        /* Only [all] lifts [none]: it keeps unused settings around, not a model choice. */
        if (span_caseeq(name, "none")) {
                filter_set(&ev->fs_state, F_NONE, false);
                return;
        }
        if (span_caseeq(name, "tryboot")) {
                filter_set(&ev->fs_state, F_TRYBOOT, ev->tryboot);
                return;
        }
        if (span_has_prefix(name, "board-type=")) {
                eval_board_type_filter(ev, l, name);
                return;
        }
        if (span_has_prefix(name, "0x")) {
                if (!parse_serial(name.p, name.n, &serial)) {
                        ev_diag(ev, l->no, false,
                                "[%.*s] is not a serial number; section treated as not matching",
                                (int)name.n, name.p);
                        filter_set(&ev->fs_state, F_SERIAL, false);
                        return;
                }
                if (!ev->have_serial)
                        ev_diag(ev, l->no, false,
                                "serial filter [%.*s] but this Pi's serial is unknown; treated "
                                "as not matching",
                                (int)name.n, name.p);
                /* The firmware knows the 32-bit serial (a Pi 4's top half is 0x10000000). */
                filter_set(&ev->fs_state, F_SERIAL,
                           ev->have_serial && (serial & 0xffffffffu) == (ev->serial & 0xffffffffu));
                return;
        }
        /* These depend on the hardware state at boot (pins, monitor), which a netbooting,
         * headless Pi cannot be asked for here: assume the section is skipped and say so. */
        if (span_has_prefix(name, "gpio")) {
                ev_diag(ev, l->no, false,
                        "[%.*s] depends on a GPIO level at boot; section assumed not to apply",
                        (int)name.n, name.p);
                filter_set(&ev->fs_state, F_GPIO, false);
                return;
        }
        if (span_has_prefix(name, "EDID=")) {
                ev_diag(ev, l->no, false,
                        "[%.*s] depends on the monitor at boot; section assumed not to apply",
                        (int)name.n, name.p);
                filter_set(&ev->fs_state, F_EDID, false);
                return;
        }
        if (eval_model_filter(ev, name))
                return;
        ev_diag(ev, l->no, false, "unknown filter [%.*s]; section treated as not matching",
                (int)name.n, name.p);
        filter_set(&ev->fs_state, F_OTHER, false);
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
                     unsigned *dst_src, const char *key)
{
        if (!span_copy(v, dst, BOOTCFG_NAME_MAX))
                ev_diag(ev, no, false, "%s value too long; cut to %d bytes", key,
                        BOOTCFG_NAME_MAX - 1);
        *dst_line = no;
        *dst_src = ev->src;
}

/* Records an initramfs file list (an `initramfs` line or ramfsfile=) as the deciding one. */
static void set_initramfs(struct eval *ev, unsigned no, struct span files, struct span addr,
                          enum bootcfg_initramfs_from from)
{
        struct bootcfg_result *res = ev->res;

        if (!span_copy(files, ev->initramfs_list, sizeof(ev->initramfs_list)))
                ev_diag(ev, no, false, "initramfs file list too long; cut");
        span_copy(addr, res->initramfs_addr, sizeof(res->initramfs_addr));
        res->initramfs_from = from;
        res->initramfs_src = ev->src;
        res->initramfs_span_start = (size_t)(files.p - ev->text);
        res->initramfs_span_end = res->initramfs_span_start + files.n;
        /* A line past the 98-character limit is read cut: an edit still replaces the whole
         * name as written, or the cut-off rest would stick to the new one. */
        while (res->initramfs_span_end < ev->line_end &&
               !is_blank(ev->text[res->initramfs_span_end]))
                res->initramfs_span_end++;
        ev->initramfs_line = no;
        ev->initramfs_src = ev->src;
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
                ev_diag(ev, l->no, false,
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
                ev_diag(ev, l->no, false, "initramfs without a file name; ignored");
                return;
        }
        if (addr.n == 0)
                ev_diag(ev, l->no, false,
                        "initramfs without a load address ('followkernel' expected)");
        if (applies)
                set_initramfs(ev, l->no, files, addr, BOOTCFG_INITRAMFS_LINE);
}

static void eval_setting(struct eval *ev, const struct line *l, struct span key, struct span v)
{
        struct bootcfg_result *res = ev->res;
        bool flag;

        if (span_eq(key, "kernel")) {
                set_name(ev, l->no, v, res->kernel, &res->kernel_line, &res->kernel_src, "kernel");
        } else if (span_eq(key, "cmdline")) {
                set_name(ev, l->no, v, res->cmdline, &res->cmdline_line, &res->cmdline_src,
                         "cmdline");
        } else if (span_eq(key, "os_prefix")) {
                set_name(ev, l->no, v, res->os_prefix_set, &res->os_prefix_line,
                         &res->os_prefix_src, "os_prefix");
        } else if (span_eq(key, "arm_64bit") || span_eq(key, "auto_initramfs")) {
                bool is_arm = span_eq(key, "arm_64bit");
                if (!parse_flag(v, &flag)) {
                        ev_diag(ev, l->no, false, "%.*s=%.*s is not a number; ignored", (int)key.n,
                                key.p, (int)v.n, v.p);
                        return;
                }
                *(is_arm ? &res->arm_64bit : &res->auto_initramfs) = flag;
                *(is_arm ? &res->arm_64bit_line : &res->auto_initramfs_line) = l->no;
                *(is_arm ? &res->arm_64bit_src : &res->auto_initramfs_src) = ev->src;
        } else if (span_eq(key, "upstream_kernel")) {
                if (parse_flag(v, &flag))
                        res->upstream_kernel = flag;
        } else if (span_eq(key, "device_tree")) {
                set_name(ev, l->no, v, res->device_tree, &res->device_tree_line,
                         &res->device_tree_src, "device_tree");
        } else if (span_eq(key, "ramfsfile")) {
                set_initramfs(ev, l->no, v, (struct span){v.p + v.n, 0},
                              BOOTCFG_INITRAMFS_RAMFSFILE);
        }
}

static void eval_file(struct eval *ev, unsigned src);

/* The index of NAME in the set, or -1. */
static int files_find(const struct bootcfg_files *fs, struct span name)
{
        for (size_t i = 0; i < fs->n; i++)
                if (span_eq(name, fs->files[i].name))
                        return (int)i;
        return -1;
}

/* "Leading slashes name the boot folder itself": "/usercfg.txt" is "usercfg.txt". */
static struct span include_name(struct span s)
{
        struct span n = span_trim(s.p + 7, s.n - 7);

        while (n.n > 0 && n.p[0] == '/') {
                n.p++;
                n.n--;
        }
        return n;
}

/* `include FILE`: start.elf reads FILE's lines as if they stood here, filters and all. */
static void eval_include(struct eval *ev, const struct line *l, struct span s)
{
        struct span name = include_name(s);
        int idx;

        if (name.n == 0) {
                ev_diag(ev, l->no, false, "include without a file name; ignored");
                return;
        }
        if (!ev->fs->boot_dir) {
                ev_diag(ev, l->no, false,
                        "include %.*s not followed: evaluated without its boot folder", (int)name.n,
                        name.p);
                return;
        }
        idx = files_find(ev->fs, name);
        if (idx < 0 || ev->fs->files[idx].missing) {
                ev_diag(ev, l->no, false,
                        "include %.*s: no such file in the boot folder; the firmware skips it",
                        (int)name.n, name.p);
                return;
        }
        for (unsigned d = 0; d <= ev->depth; d++)
                if (ev->stack[d] == (unsigned)idx) {
                        ev_diag(ev, l->no, true,
                                "include %.*s makes a loop (it is already being read): the "
                                "firmware's reading cannot be known; fix the include lines",
                                (int)name.n, name.p);
                        return;
                }
        if (ev->depth + 1 > BOOTCFG_INCLUDE_DEPTH_MAX) {
                ev_diag(ev, l->no, true, "include %.*s nests deeper than %d files: refused",
                        (int)name.n, name.p, BOOTCFG_INCLUDE_DEPTH_MAX);
                return;
        }
        {
                unsigned saved_src = ev->src;
                const char *saved_text = ev->text;

                ev->res->n_included++;
                ev->stack[++ev->depth] = (unsigned)idx;
                eval_file(ev, (unsigned)idx);
                ev->depth--;
                ev->src = saved_src;
                ev->text = saved_text;
        }
}

static bool is_include(struct span s)
{
        return span_has_prefix(s, "include") && s.n > 7 && is_blank(s.p[7]);
}

static void eval_line(struct eval *ev, const struct line *l)
{
        struct span s = span_trim(l->p, l->len);
        const char *eq;
        bool applies;

        ev->line_end = l->off + l->len;
        if (s.n == 0 || s.p[0] == '#')
                return;
        /* "a 98-character line length limit for entries": comments may be longer; an entry is
         * read as its first 98 characters. */
        if (l->len > BOOTCFG_LINE_MAX) {
                ev_diag(ev, l->no, false,
                        "line is %zu characters long; the firmware reads only the first %d", l->len,
                        BOOTCFG_LINE_MAX);
                s = span_trim(l->p, BOOTCFG_LINE_MAX);
                if (s.n == 0)
                        return;
        }
        if (s.p[0] == '[') {
                eval_filter(ev, l, s);
                return;
        }
        applies = filter_applies(&ev->fs_state);
        if (is_include(s)) {
                /* A conditional section governs an include like any other line. */
                if (applies)
                        eval_include(ev, l, s);
                return;
        }
        if (span_has_prefix(s, "initramfs") && (s.n == 9 || is_blank(s.p[9]) || s.p[9] == '=')) {
                eval_initramfs_cmd(ev, l, (struct span){s.p + 9, s.n - 9}, applies);
                return;
        }
        eq = memchr(s.p, '=', s.n);
        if (!eq) {
                ev_diag(ev, l->no, false, "not a KEY=VALUE setting; ignored");
                return;
        }
        if (applies)
                eval_setting(ev, l, span_trim(s.p, (size_t)(eq - s.p)),
                             span_trim(eq + 1, (size_t)(s.p + s.n - eq - 1)));
}

static void eval_file(struct eval *ev, unsigned src)
{
        const struct bootcfg_file *f = &ev->fs->files[src];
        struct line l = {0};
        size_t pos = 0;

        ev->src = src;
        ev->text = f->text;
        while (next_line(f->text, f->len, &pos, &l))
                eval_line(ev, &l);
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

static void add_deciding(struct bootcfg_result *res, unsigned src, unsigned line)
{
        if (line > 0 && res->n_deciding < BOOTCFG_DECIDING_MAX) {
                res->deciding_src[res->n_deciding] = src;
                res->deciding[res->n_deciding++] = line;
        }
}

static void split_initramfs_list(struct eval *ev)
{
        struct bootcfg_result *res = ev->res;
        char *save = NULL;

        for (char *tok = strtok_r(ev->initramfs_list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
                if (res->n_initramfs == BOOTCFG_INITRAMFS_FILES_MAX) {
                        diag_add_in(ev->diag, ev->fs, ev->initramfs_src, ev->initramfs_line, false,
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
                diag_add_in(ev->diag, ev->fs, res->auto_initramfs_src, res->auto_initramfs_line,
                            false,
                            "auto_initramfs=1 but the kernel '%s' is not named kernel*.img: no "
                            "initramfs name can be derived from it",
                            kernel_raw);
                res->initramfs_from = BOOTCFG_INITRAMFS_NONE;
                return;
        }
        res->initramfs_from = BOOTCFG_INITRAMFS_AUTO;
        with_prefix(res->os_prefix, name, res->initramfs[0], BOOTCFG_NAME_MAX);
        res->n_initramfs = 1;
        add_deciding(res, res->auto_initramfs_src, res->auto_initramfs_line);
        add_deciding(res, res->kernel_src, res->kernel_line);
        if (res->kernel_line == 0)
                add_deciding(res, res->arm_64bit_src, res->arm_64bit_line);
}

static bool boot_file_present(const char *dir, const char *name)
{
        _cleanup_free_ char *p = NULL;
        struct stat st;

        while (*name == '/')
                name++;
        return asprintf(&p, "%s/%s", dir, name) >= 0 && lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The upstream kernel's name of a board's device tree (upstream_kernel=1). */
static const char *upstream_dtb(const char *dtb)
{
        static const struct {
                const char *downstream, *upstream;
        } names[] = {
            {"bcm2710-rpi-3-b.dtb", "bcm2837-rpi-3-b.dtb"},
            {"bcm2710-rpi-3-b-plus.dtb", "bcm2837-rpi-3-b-plus.dtb"},
            {"bcm2710-rpi-cm3.dtb", "bcm2837-rpi-cm3-io3.dtb"},
            {"bcm2710-rpi-zero-2-w.dtb", "bcm2837-rpi-zero-2-w.dtb"},
            {"bcm2709-rpi-2-b.dtb", "bcm2836-rpi-2-b.dtb"},
            {"bcm2708-rpi-b-plus.dtb", "bcm2835-rpi-b-plus.dtb"},
            {"bcm2708-rpi-b.dtb", "bcm2835-rpi-b.dtb"},
            {"bcm2708-rpi-zero-w.dtb", "bcm2835-rpi-zero-w.dtb"},
            {"bcm2708-rpi-zero.dtb", "bcm2835-rpi-zero.dtb"},
        };

        for (size_t i = 0; dtb && i < ARRAY_SIZE(names); i++)
                if (streq(dtb, names[i].downstream))
                        return names[i].upstream;
        return dtb;
}

/* Whether PREFIX + NAME is a file; with ALT (another accepted name) either one. */
static bool present_with(const char *dir, const char *prefix, const char *name, const char *alt,
                         char *shown, size_t size)
{
        char path[BOOTCFG_NAME_MAX * 2];

        snprintf(shown, size, "%s%s", prefix, name);
        if (boot_file_present(dir, shown))
                return true;
        if (!alt || streq(alt, name))
                return false;
        snprintf(path, sizeof(path), "%s%s", prefix, alt);
        return boot_file_present(dir, path);
}

/* os_prefix: "unless the expected kernel and .dtb can be found at the new location/name, the
 * prefix is ignored (set to "")". upstream_kernel=1 makes "upstream/" the prefix unless one is
 * set. device_tree= names the .dtb ("" loads none). Without a boot folder nothing can be looked
 * at: the prefix is taken as written. */
static void resolve_os_prefix(struct eval *ev, const char *kernel_raw)
{
        struct bootcfg_result *res = ev->res;
        const char *dtb = ev->row ? ev->row->dtb : NULL, *alt = NULL;
        char kpath[BOOTCFG_NAME_MAX * 2], dpath[BOOTCFG_NAME_MAX * 2] = "";
        bool have_kernel, have_dtb;

        if (!res->os_prefix_set[0] && res->upstream_kernel)
                snprintf(res->os_prefix_set, sizeof(res->os_prefix_set), "upstream/");
        if (!res->os_prefix_set[0])
                return;
        if (!ev->fs->boot_dir || kernel_raw[0] == '/') {
                snprintf(res->os_prefix, sizeof(res->os_prefix), "%s", res->os_prefix_set);
                return;
        }
        if (res->device_tree_line)
                dtb = res->device_tree[0] ? res->device_tree : NULL;
        else if (res->upstream_kernel)
                alt = upstream_dtb(dtb);
        have_kernel = present_with(ev->fs->boot_dir, res->os_prefix_set, kernel_raw, NULL, kpath,
                                   sizeof(kpath));
        have_dtb = !dtb || present_with(ev->fs->boot_dir, res->os_prefix_set, dtb, alt, dpath,
                                        sizeof(dpath));
        if (have_kernel && have_dtb) {
                snprintf(res->os_prefix, sizeof(res->os_prefix), "%s", res->os_prefix_set);
                if (!dtb && !res->device_tree_line)
                        diag_add_in(ev->diag, ev->fs, res->os_prefix_src, res->os_prefix_line,
                                    false,
                                    "os_prefix=%s: this board's .dtb name is unknown; only the "
                                    "kernel %s was looked for",
                                    res->os_prefix_set, kpath);
                return;
        }
        res->os_prefix_ignored = true;
        diag_add_in(ev->diag, ev->fs, res->os_prefix_src, res->os_prefix_line, false,
                    "os_prefix=%s is ignored by the firmware: %s%s%s is not in the boot folder",
                    res->os_prefix_set, have_kernel ? "" : kpath,
                    !have_kernel && !have_dtb ? " and " : "", have_dtb ? "" : dpath);
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
        resolve_os_prefix(ev, kernel_raw);
        with_prefix(res->os_prefix, kernel_raw, res->kernel, sizeof(res->kernel));

        if (res->cmdline_line == 0)
                snprintf(res->cmdline, sizeof(res->cmdline), "cmdline.txt");
        snprintf(cmdline_raw, sizeof(cmdline_raw), "%s", res->cmdline);
        with_prefix(res->os_prefix, cmdline_raw, res->cmdline, sizeof(res->cmdline));

        if (res->initramfs_from == BOOTCFG_INITRAMFS_LINE ||
            res->initramfs_from == BOOTCFG_INITRAMFS_RAMFSFILE) {
                split_initramfs_list(ev);
                add_deciding(res, ev->initramfs_src, ev->initramfs_line);
        } else if (res->auto_initramfs) {
                resolve_auto_initramfs(ev, kernel_raw);
        }
        res->end_applies = filter_applies(&ev->fs_state);
}

int bootcfg_evaluate_files(const struct bootcfg_files *fs, const struct bootcfg_target *pi,
                           struct bootcfg_result *res, struct bootcfg_diag *diag)
{
        struct eval ev = {.fs = fs, .res = res, .diag = diag};

        memset(res, 0, sizeof(*res));
        if (!pi || str_empty(pi->model) || fs->n == 0)
                return -EINVAL;
        ev.row = model_row(pi->model);
        ev.board = ev.row ? ev.row->board : B_UNKNOWN;
        ev.tryboot = pi->tryboot;
        if (pi->serial)
                ev.have_serial = parse_serial(pi->serial, strlen(pi->serial), &ev.serial);
        if (ev.board == B_UNKNOWN)
                diag_add(diag, 0, false,
                         "unknown model '%s': model filters treated as not matching, "
                         "Pi 3 defaults assumed",
                         pi->model);
        snprintf(res->board, sizeof(res->board), "%s", ev.row ? ev.row->name : "unknown");
        res->arm_64bit = default_arm_64bit(ev.board);
        ev.stack[0] = 0;
        eval_file(&ev, 0);
        ev.src = 0;
        eval_finish(&ev);
        return 0;
}

int bootcfg_evaluate(const char *text, size_t len, const struct bootcfg_target *pi,
                     struct bootcfg_result *res, struct bootcfg_diag *diag)
{
        /* The text is only read: a set that borrows it costs no copy. */
        struct bootcfg_files *fs = calloc(1, sizeof(*fs));
        int r;

        if (!fs)
                return -ENOMEM;
        fs->n = 1;
        snprintf(fs->files[0].name, sizeof(fs->files[0].name), "config.txt");
        fs->files[0].text = (char *)text;
        fs->files[0].len = len;
        r = bootcfg_evaluate_files(fs, pi, res, diag);
        free(fs);
        return r;
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

static int edit_deciding_line(const struct bootcfg_files *fs, const struct bootcfg_result *res,
                              const char *file, char **out, size_t *out_len,
                              struct bootcfg_diag *diag)
{
        const struct bootcfg_file *f = &fs->files[res->initramfs_src];
        const char *text = f->text;
        size_t len = f->len;
        size_t start = res->initramfs_span_start, end = res->initramfs_span_end;
        size_t new_len;
        struct line l;

        line_at(text, len, start, &l);
        if (memchr(text + start, ',', end - start))
                diag_add_in(diag, fs, res->initramfs_src, l.no, false,
                            "the line listed several files; all are replaced by %s", file);
        new_len = l.len - (end - start) + strlen(file);
        if (new_len > BOOTCFG_LINE_MAX) {
                diag_add_in(diag, fs, res->initramfs_src, l.no, true,
                            "the changed line would be %zu characters long; the firmware reads "
                            "only %d: refused",
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

/* The edit is only worth writing when the firmware, reading every file with it, loads FILE. */
static int check_edit(const struct bootcfg_files *fs, const struct bootcfg_target *pi,
                      const char *file, const struct bootcfg_edit *edit, struct bootcfg_diag *diag)
{
        struct bootcfg_files *copy = malloc(sizeof(*copy));
        struct bootcfg_result *res = malloc(sizeof(*res));
        struct bootcfg_diag *quiet = malloc(sizeof(*quiet));
        char want[BOOTCFG_NAME_MAX * 2];
        int r = -ENOMEM;

        if (!copy || !res || !quiet)
                goto out;
        *copy = *fs;
        copy->files[edit->src].text = edit->text;
        copy->files[edit->src].len = edit->len;
        bootcfg_diag_init(quiet, diag ? diag->file : NULL);
        r = bootcfg_evaluate_files(copy, pi, res, quiet);
        if (r < 0)
                goto out;
        r = 0;
        snprintf(want, sizeof(want), "%s%s", file[0] == '/' ? "" : res->os_prefix, file);
        if ((res->initramfs_from != BOOTCFG_INITRAMFS_LINE &&
             res->initramfs_from != BOOTCFG_INITRAMFS_RAMFSFILE) ||
            res->n_initramfs != 1 ||
            (strlen(want) < BOOTCFG_NAME_MAX &&
             !streq(path_relative(res->initramfs[0]), path_relative(want)))) {
                char where[BOOTCFG_NAME_MAX + 32];

                bootcfg_where(fs, res->initramfs_src,
                              res->n_deciding ? res->deciding[res->n_deciding - 1] : 0, where,
                              sizeof(where));
                diag_add_in(diag, fs, edit->src, 0, true,
                            "after the change the firmware would still load %s (%s), not %s: "
                            "refused, nothing written",
                            res->n_initramfs ? res->initramfs[0] : "no initramfs", where, want);
                r = -ENOTRECOVERABLE;
        }
out:
        free(copy);
        free(res);
        free(quiet);
        return r;
}

int bootcfg_files_set_initramfs(const struct bootcfg_files *fs, const struct bootcfg_target *pi,
                                const char *file, struct bootcfg_edit *edit,
                                struct bootcfg_diag *diag)
{
        struct bootcfg_result *res;
        int r;

        memset(edit, 0, sizeof(*edit));
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
        r = bootcfg_evaluate_files(fs, pi, res, diag);
        if (r < 0)
                goto out;
        if (diag && bootcfg_diag_error(diag)) {
                r = -EINVAL; /* an include loop: what the firmware reads is unknown */
                goto out;
        }
        if (res->initramfs_from == BOOTCFG_INITRAMFS_LINE ||
            res->initramfs_from == BOOTCFG_INITRAMFS_RAMFSFILE) {
                edit->src = res->initramfs_src;
                r = edit_deciding_line(fs, res, file, &edit->text, &edit->len, diag);
        } else if (res->auto_initramfs) {
                diag_add_in(diag, fs, res->auto_initramfs_src, res->auto_initramfs_line, true,
                            "auto_initramfs=1 and no initramfs line: this Pi loads %s, named "
                            "after its kernel. Switching this flavour means renaming the new "
                            "initrd onto %s (the kernel upgrade's job), not editing config.txt: "
                            "refused",
                            res->n_initramfs ? res->initramfs[0] : "an initramfs",
                            res->n_initramfs ? res->initramfs[0] : "initramfs7/initramfs8");
                r = -EOPNOTSUPP;
        } else {
                edit->src = 0;
                r = append_initramfs_line(fs->files[0].text, fs->files[0].len, res, file,
                                          &edit->text, &edit->len, diag);
        }
        if (r == 1) {
                int c = check_edit(fs, pi, file, edit, diag);

                if (c < 0) {
                        free(edit->text);
                        memset(edit, 0, sizeof(*edit));
                        r = c;
                }
        }
out:
        free(res);
        return r;
}

int bootcfg_set_initramfs(const char *text, size_t len, const struct bootcfg_target *pi,
                          const char *file, char **out, size_t *out_len, struct bootcfg_diag *diag)
{
        struct bootcfg_files *fs = calloc(1, sizeof(*fs));
        struct bootcfg_edit edit;
        int r;

        *out = NULL;
        *out_len = 0;
        if (!fs)
                return -ENOMEM;
        fs->n = 1;
        snprintf(fs->files[0].name, sizeof(fs->files[0].name), "config.txt");
        fs->files[0].text = (char *)text;
        fs->files[0].len = len;
        r = bootcfg_files_set_initramfs(fs, pi, file, &edit, diag);
        free(fs);
        if (r >= 0) {
                *out = edit.text;
                *out_len = edit.len;
        }
        return r;
}

/* ---- the files ------------------------------------------------------------------------------ */

/* One config file is small; anything near this is not what the firmware reads. */
#define BOOTCFG_FILE_MAX (1024 * 1024)

bool bootcfg_name_inside(const char *name)
{
        if (!name)
                return false;
        name = path_relative(name);
        return strlen(name) < BOOTCFG_NAME_MAX && name_inside(name);
}

void bootcfg_files_free(struct bootcfg_files *fs)
{
        for (size_t i = 0; i < fs->n; i++)
                free(fs->files[i].text);
        free(fs->boot_dir);
        memset(fs, 0, sizeof(*fs));
}

int bootcfg_files_set_text(struct bootcfg_files *fs, unsigned idx, const char *text, size_t len)
{
        char *copy;

        if (idx >= fs->n)
                return -EINVAL;
        copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, text, len);
        copy[len] = '\0';
        free(fs->files[idx].text);
        fs->files[idx].text = copy;
        fs->files[idx].len = len;
        fs->files[idx].missing = false;
        return 0;
}

int bootcfg_files_from_text(struct bootcfg_files *fs, const char *name, const char *text,
                            size_t len)
{
        memset(fs, 0, sizeof(*fs));
        fs->n = 1;
        snprintf(fs->files[0].name, sizeof(fs->files[0].name), "%s",
                 str_empty(name) ? "config.txt" : name);
        return bootcfg_files_set_text(fs, 0, text, len);
}

/* Reads NAME into a new entry. -ENOENT is no error: the entry is kept as missing. */
static int files_read(struct bootcfg_files *fs, const char *name, unsigned from, unsigned line,
                      struct bootcfg_diag *diag)
{
        struct bootcfg_file *f = &fs->files[fs->n];
        _cleanup_free_ char *path = NULL;
        unsigned nul;
        int r;

        snprintf(f->name, sizeof(f->name), "%s", name);
        fs->n++;
        if (asprintf(&path, "%s/%s", fs->boot_dir, name) < 0)
                return -ENOMEM;
        r = file_read_regular(path, BOOTCFG_FILE_MAX, &f->text, &f->len);
        if (r == -ENOENT && fs->n > 1) {
                f->missing = true;
                return 0;
        }
        if (r < 0) {
                if (fs->n == 1)
                        diag_add(diag, 0, true, "cannot read %s: %s", path, file_strerror(r));
                else
                        diag_add_in(diag, fs, from, line, true, "include %s: %s: %s", name, path,
                                    file_strerror(r));
                return r;
        }
        nul = text_nul_line(f->text, f->len);
        if (nul) {
                diag_add_in(diag, fs, fs->n - 1, nul, true,
                            "NUL byte: the file is damaged (a write cut short?)");
                return -EBADMSG;
        }
        return 0;
}

/* Adds every file FS->files[SRC]'s include lines name (in any section: which apply is decided
 * by the evaluation). */
static int files_scan(struct bootcfg_files *fs, unsigned src, struct bootcfg_diag *diag)
{
        struct line l = {0};
        size_t pos = 0;

        while (next_line(fs->files[src].text, fs->files[src].len, &pos, &l)) {
                struct span s = span_trim(l.p, l.len), name;
                char buf[BOOTCFG_NAME_MAX];
                int r;

                if (!is_include(s))
                        continue;
                name = include_name(s);
                if (name.n == 0 || files_find(fs, name) >= 0)
                        continue;
                if (!span_copy(name, buf, sizeof(buf)) || !bootcfg_name_inside(buf)) {
                        diag_add_in(diag, fs, src, l.no, true,
                                    "include %.*s: not a file inside the boot folder ('..', '.', "
                                    "control characters or too long): refused",
                                    (int)(name.n > 200 ? 200 : name.n), name.p);
                        return -EXDEV;
                }
                if (fs->n >= BOOTCFG_FILES_MAX) {
                        diag_add_in(diag, fs, src, l.no, true,
                                    "include %s: more than %d files are included: refused", buf,
                                    BOOTCFG_FILES_MAX);
                        return -E2BIG;
                }
                r = files_read(fs, buf, src, l.no, diag);
                if (r < 0)
                        return r;
        }
        return 0;
}

int bootcfg_files_load(struct bootcfg_files *fs, const char *boot_dir, const char *main,
                       struct bootcfg_diag *diag)
{
        int r;

        memset(fs, 0, sizeof(*fs));
        fs->boot_dir = strdup(boot_dir);
        if (!fs->boot_dir)
                return -ENOMEM;
        r = files_read(fs, main, 0, 0, diag);
        /* Files appended while scanning are scanned in turn: nested includes. */
        for (size_t i = 0; r >= 0 && i < fs->n; i++)
                if (!fs->files[i].missing)
                        r = files_scan(fs, (unsigned)i, diag);
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
