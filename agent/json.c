#include "json.h"
#include "util.h"

#include <math.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

void json_put_string(struct strbuf *sb, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;

        sb_puts(sb, "\"");
        while (*p) {
                size_t run = 0;

                if (*p == '"' || *p == '\\') {
                        sb_printf(sb, "\\%c", *p++);
                        continue;
                }
                if (*p < 0x20) {
                        sb_printf(sb, "\\u%04x", *p++);
                        continue;
                }
                while (p[run] >= 0x80)
                        run++;
                if (run == 0) {
                        sb_append(sb, (const char *)p++, 1);
                        continue;
                }
                if (utf8_valid(p, run))
                        sb_append(sb, (const char *)p, run);
                else
                        sb_puts(sb, "\\ufffd");
                p += run;
        }
        sb_puts(sb, "\"");
}

struct parser {
        const char *p, *end, *start;
        char *err;
        size_t errsize;
};

static int parse_error(struct parser *ps, const char *what)
{
        unsigned line = 1;

        for (const char *c = ps->start; c < ps->p && c < ps->end; c++)
                line += *c == '\n';
        snprintf(ps->err, ps->errsize, "line %u: %s", line, what);
        return -EINVAL;
}

static void skip_space(struct parser *ps)
{
        while (ps->p < ps->end &&
               (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
                ps->p++;
}

static bool consume(struct parser *ps, const char *word)
{
        size_t n = strlen(word);

        if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
                return false;
        ps->p += n;
        return true;
}

static int hex4(const char *s, unsigned *out)
{
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                char c = s[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (unsigned)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (unsigned)(c - 'A' + 10);
                else
                        return -EINVAL;
        }
        *out = v;
        return 0;
}

static void put_utf8(struct strbuf *sb, unsigned cp)
{
        char b[4];

        if (cp < 0x80) {
                b[0] = (char)cp;
                sb_append(sb, b, 1);
        } else if (cp < 0x800) {
                b[0] = (char)(0xC0 | (cp >> 6));
                b[1] = (char)(0x80 | (cp & 0x3F));
                sb_append(sb, b, 2);
        } else if (cp < 0x10000) {
                b[0] = (char)(0xE0 | (cp >> 12));
                b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                b[2] = (char)(0x80 | (cp & 0x3F));
                sb_append(sb, b, 3);
        } else {
                b[0] = (char)(0xF0 | (cp >> 18));
                b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                b[3] = (char)(0x80 | (cp & 0x3F));
                sb_append(sb, b, 4);
        }
}

static int parse_escape(struct parser *ps, struct strbuf *sb)
{
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *hit;
        unsigned cp, lo;

        if (ps->p >= ps->end)
                return parse_error(ps, "unterminated string");
        hit = strchr(from, *ps->p);
        if (hit && *ps->p) {
                sb_append(sb, &to[hit - from], 1);
                ps->p++;
                return 0;
        }
        if (*ps->p != 'u' || ps->end - ps->p < 5 || hex4(ps->p + 1, &cp) < 0)
                return parse_error(ps, "bad escape in string");
        ps->p += 5;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                    hex4(ps->p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return parse_error(ps, "bad surrogate pair in string");
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return parse_error(ps, "bad surrogate pair in string");
        }
        if (cp == 0)
                return parse_error(ps, "NUL character in string");
        put_utf8(sb, cp);
        return 0;
}

static int parse_string_raw(struct parser *ps, char **out)
{
        struct strbuf sb = {0};
        int r;

        ps->p++; /* opening quote */
        sb_puts(&sb, "");
        while (ps->p < ps->end && *ps->p != '"') {
                const char *run = ps->p;

                if ((unsigned char)*ps->p < 0x20) {
                        sb_free(&sb);
                        return parse_error(ps, "control character in string");
                }
                if (*ps->p == '\\') {
                        ps->p++;
                        r = parse_escape(ps, &sb);
                        if (r < 0) {
                                sb_free(&sb);
                                return r;
                        }
                        continue;
                }
                while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' &&
                       (unsigned char)*ps->p >= 0x20)
                        ps->p++;
                if (!utf8_valid((const unsigned char *)run, (size_t)(ps->p - run))) {
                        sb_free(&sb);
                        return parse_error(ps, "invalid UTF-8 in string");
                }
                sb_append(&sb, run, (size_t)(ps->p - run));
        }
        if (ps->p >= ps->end) {
                sb_free(&sb);
                return parse_error(ps, "unterminated string");
        }
        ps->p++;
        if (sb.oom) {
                sb_free(&sb);
                return -ENOMEM;
        }
        *out = sb.data;
        return 0;
}

static int parse_number(struct parser *ps, double *out)
{
        char buf[64], *end;
        size_t n = 0;

        /* ps->p[n] checked first: strchr() finds a NUL byte (the terminator), which would let
         * NULs pass as part of a number. */
        while (ps->p + n < ps->end && n < sizeof(buf) - 1 && ps->p[n] &&
               strchr("+-0123456789.eE", ps->p[n]))
                n++;
        if (n == 0)
                return parse_error(ps, "unexpected character");
        memcpy(buf, ps->p, n);
        buf[n] = '\0';
        *out = strtod(buf, &end);
        if (*end || !isfinite(*out))
                return parse_error(ps, "bad number");
        ps->p += n;
        return 0;
}

static int parse_value(struct parser *ps, struct json_value *v, int depth);

static int parse_members(struct parser *ps, struct json_value *v, int depth, bool object)
{
        struct json_value **tail = &v->child;
        char close = object ? '}' : ']';
        int r;

        ps->p++;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                return 0;
        }
        for (;;) {
                struct json_value *item = calloc(1, sizeof(*item));

                if (!item)
                        return -ENOMEM;
                *tail = item;
                tail = &item->next;
                skip_space(ps);
                if (object) {
                        if (ps->p >= ps->end || *ps->p != '"')
                                return parse_error(ps, "expected a member name");
                        r = parse_string_raw(ps, &item->key);
                        if (r < 0)
                                return r;
                        skip_space(ps);
                        if (ps->p >= ps->end || *ps->p != ':')
                                return parse_error(ps, "expected ':'");
                        ps->p++;
                }
                r = parse_value(ps, item, depth + 1);
                if (r < 0)
                        return r;
                skip_space(ps);
                if (ps->p < ps->end && *ps->p == ',') {
                        ps->p++;
                        continue;
                }
                if (ps->p < ps->end && *ps->p == close) {
                        ps->p++;
                        return 0;
                }
                return parse_error(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
}

static int parse_value(struct parser *ps, struct json_value *v, int depth)
{
        if (depth > JSON_MAX_DEPTH)
                return parse_error(ps, "nested too deeply");
        skip_space(ps);
        if (ps->p >= ps->end)
                return parse_error(ps, "unexpected end of input");
        switch (*ps->p) {
        case '{':
                v->type = JSON_OBJECT;
                return parse_members(ps, v, depth, true);
        case '[':
                v->type = JSON_ARRAY;
                return parse_members(ps, v, depth, false);
        case '"':
                v->type = JSON_STRING;
                return parse_string_raw(ps, &v->string);
        }
        if (consume(ps, "true") || consume(ps, "false")) {
                v->type = JSON_BOOL;
                v->boolean = ps->p[-1] == 'e' && ps->p[-2] == 'u';
                return 0;
        }
        if (consume(ps, "null")) {
                v->type = JSON_NULL;
                return 0;
        }
        v->type = JSON_NUMBER;
        return parse_number(ps, &v->number);
}

int json_parse(const char *text, size_t len, struct json_value **out, char *err, size_t errsize)
{
        struct parser ps = {
            .p = text, .end = text + len, .start = text, .err = err, .errsize = errsize};
        struct json_value *root = calloc(1, sizeof(*root));
        int r;

        if (!root)
                return -ENOMEM;
        r = parse_value(&ps, root, 0);
        if (r >= 0) {
                skip_space(&ps);
                if (ps.p != ps.end)
                        r = parse_error(&ps, "trailing characters after the value");
        }
        if (r < 0) {
                json_free(root);
                return r;
        }
        *out = root;
        return 0;
}

void json_free(struct json_value *v)
{
        while (v) {
                struct json_value *next = v->next;

                json_free(v->child);
                free(v->string);
                free(v->key);
                free(v);
                v = next;
        }
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
        if (!v || v->type != JSON_OBJECT)
                return NULL;
        for (const struct json_value *m = v->child; m; m = m->next)
                if (streq(m->key, key))
                        return m;
        return NULL;
}

const char *json_get_string(const struct json_value *v, const char *key, const char *fallback)
{
        const struct json_value *m = json_get(v, key);

        return m && m->type == JSON_STRING ? m->string : fallback;
}

double json_get_number(const struct json_value *v, const char *key, double fallback)
{
        const struct json_value *m = json_get(v, key);

        return m && m->type == JSON_NUMBER ? m->number : fallback;
}

bool json_get_bool(const struct json_value *v, const char *key, bool fallback)
{
        const struct json_value *m = json_get(v, key);

        return m && m->type == JSON_BOOL ? m->boolean : fallback;
}

static void write_indent(struct strbuf *sb, int indent)
{
        sb_printf(sb, "%*s", indent * 2, "");
}

static void write_number(struct strbuf *sb, double n)
{
        /* Range first: converting a double outside long long's range is undefined. */
        if (n > -1e15 && n < 1e15 && n == (double)(long long)n)
                sb_printf(sb, "%lld", (long long)n);
        else
                sb_printf(sb, "%.17g", n);
}

void json_write(struct strbuf *sb, const struct json_value *v, int indent)
{
        bool object = v->type == JSON_OBJECT;

        switch (v->type) {
        case JSON_NULL:
                sb_puts(sb, "null");
                return;
        case JSON_BOOL:
                sb_puts(sb, v->boolean ? "true" : "false");
                return;
        case JSON_NUMBER:
                write_number(sb, v->number);
                return;
        case JSON_STRING:
                json_put_string(sb, v->string);
                return;
        case JSON_ARRAY:
        case JSON_OBJECT:
                break;
        }
        if (!v->child) {
                sb_puts(sb, object ? "{}" : "[]");
                return;
        }
        sb_puts(sb, object ? "{\n" : "[\n");
        for (const struct json_value *m = v->child; m; m = m->next) {
                write_indent(sb, indent + 1);
                if (object) {
                        json_put_string(sb, m->key);
                        sb_puts(sb, ": ");
                }
                json_write(sb, m, indent + 1);
                sb_puts(sb, m->next ? ",\n" : "\n");
        }
        write_indent(sb, indent);
        sb_puts(sb, object ? "}" : "]");
}
