#include "cmdline.h"
#include "strbuf.h"
#include "util.h"

#include <ctype.h>
#include <strings.h>

static int add_param(struct cmdline *c, const char *tok, size_t n)
{
        struct cmdline_param *p;
        const char *eq = memchr(tok, '=', n);
        size_t klen = eq ? (size_t)(eq - tok) : n;

        p = realloc(c->params, (c->n + 1) * sizeof(*p));
        if (!p)
                return -ENOMEM;
        c->params = p;
        p = &c->params[c->n];
        p->key = strndup(tok, klen);
        p->value = NULL;
        if (eq) {
                const char *v = eq + 1;
                size_t vlen = n - klen - 1;

                /* key="a b": the kernel drops the quotes around a value. */
                if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                        v++;
                        vlen -= 2;
                }
                p->value = strndup(v, vlen);
        }
        if (!p->key || (eq && !p->value)) {
                free(p->key);
                free(p->value);
                return -ENOMEM;
        }
        c->n++;
        return 0;
}

static void count_lines(const char *text, size_t len, struct cmdline *c)
{
        bool content = false;

        for (size_t i = 0; i < len; i++) {
                if (text[i] == '\n') {
                        c->lines += content;
                        content = false;
                } else if (!isspace((unsigned char)text[i])) {
                        content = true;
                }
        }
        c->lines += content;
}

int cmdline_parse(const char *text, size_t len, struct cmdline *out)
{
        size_t i = 0;

        memset(out, 0, sizeof(*out));
        count_lines(text, len, out);
        while (i < len) {
                size_t start;
                bool quoted = false;

                while (i < len && isspace((unsigned char)text[i]))
                        i++;
                if (i >= len)
                        break;
                start = i;
                for (; i < len && (quoted || !isspace((unsigned char)text[i])); i++)
                        if (text[i] == '"')
                                quoted = !quoted;
                if (add_param(out, text + start, i - start) < 0) {
                        cmdline_free(out);
                        return -ENOMEM;
                }
        }
        return 0;
}

void cmdline_free(struct cmdline *c)
{
        for (size_t i = 0; i < c->n; i++) {
                free(c->params[i].key);
                free(c->params[i].value);
        }
        free(c->params);
        memset(c, 0, sizeof(*c));
}

const char *cmdline_get(const struct cmdline *c, const char *key)
{
        const char *found = NULL;

        for (size_t i = 0; i < c->n; i++)
                if (streq(c->params[i].key, key))
                        found = c->params[i].value ? c->params[i].value : "";
        return found;
}

bool cmdline_is_iscsi_key(const char *key)
{
        return strncasecmp(key, "ISCSI_", 6) == 0;
}

bool cmdline_is_secret_key(const char *key)
{
        return strcasecmp(key, "ISCSI_PASSWORD") == 0 || strcasecmp(key, "ISCSI_IN_PASSWORD") == 0;
}

/* CREDS is "user:pass" or "user:pass:inuser:inpass". Anything else is ambiguous (a password
 * holding ':'), so everything after the first user name is masked rather than guessed at. */
static void put_masked_creds(struct strbuf *sb, const char *creds, size_t n)
{
        const char *f[4];
        size_t flen[4], nf = 0, i = 0, start = 0;

        for (i = 0; i <= n; i++) {
                if (i < n && creds[i] != ':')
                        continue;
                if (nf < 4) {
                        f[nf] = creds + start;
                        flen[nf] = i - start;
                }
                nf++;
                start = i + 1;
        }
        if (nf == 2 || nf == 4) {
                sb_append(sb, f[0], flen[0]);
                sb_puts(sb, ":" CMDLINE_MASK);
                if (nf == 4) {
                        sb_puts(sb, ":");
                        sb_append(sb, f[2], flen[2]);
                        sb_puts(sb, ":" CMDLINE_MASK);
                }
                return;
        }
        sb_append(sb, f[0], flen[0]);
        if (nf > 1)
                sb_puts(sb, ":" CMDLINE_MASK);
}

/* root=iscsi:[creds@]IP:6:PORT:LUN:IQN. The last '@' ends the credentials: an IQN or IP never
 * holds one, a password may. */
static char *mask_root_iscsi(const char *value)
{
        const char *creds = value + 6, *at = strrchr(creds, '@');
        struct strbuf sb = {0};
        char *out;

        if (!at)
                return strdup(value);
        sb_append(&sb, value, 6);
        put_masked_creds(&sb, creds, (size_t)(at - creds));
        sb_puts(&sb, at);
        if (sb.oom) {
                sb_free(&sb);
                return NULL;
        }
        out = strdup(sb_str(&sb));
        sb_free(&sb);
        return out;
}

char *cmdline_masked_value(const char *key, const char *value)
{
        if (!value)
                return NULL;
        if (cmdline_is_secret_key(key))
                return strdup(CMDLINE_MASK);
        if (streq(key, "root") && strncasecmp(value, "iscsi:", 6) == 0)
                return mask_root_iscsi(value);
        return strdup(value);
}
