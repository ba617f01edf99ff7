/* cmdline.txt: cmdline_parse(), cmdline_get() and the secret masking.
 * Invariants: every parameter has a non-empty key without white space outside quotes;
 * cmdline_get() returns the last value; a password never survives masking. */
#include "fuzz.h"

#include "cmdline.h"

#include <ctype.h>
#include <strings.h>

/* The credentials part of root=iscsi:[creds@]… as the masking splits it. */
static void check_root_masked(const char *value, const char *masked)
{
        const char *creds = value + 6, *at = strrchr(creds, '@');
        char buf[4096];
        const char *pw, *colon;
        size_t n;

        if (!at)
                return;
        n = (size_t)(at - creds);
        if (n >= sizeof(buf))
                return;
        memcpy(buf, creds, n);
        buf[n] = '\0';
        FUZZ_CHECK(strncmp(masked, value, 6) == 0, "prefix lost: %s", masked);
        /* user:pass — the password (from the first ':' to the next one) is gone. */
        colon = strchr(buf, ':');
        if (!colon)
                return;
        pw = colon + 1;
        n = strcspn(pw, ":");
        FUZZ_CHECK(strstr(masked, CMDLINE_MASK) != NULL, "no mask in %s", masked);
        /* The masked text keeps the user name and everything from the last '@'. */
        FUZZ_CHECK(strlen(masked) <= 6 + (size_t)(colon - buf) + 2 * (1 + sizeof(CMDLINE_MASK)) +
                                         strlen(buf) + strlen(at),
                   "masked value longer than expected: %s", masked);
        (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cmdline c;
        int r;

        r = cmdline_parse((const char *)data, size, &c);
        FUZZ_CHECK(r == 0, "parse: %d", r);
        FUZZ_CHECK(c.n == 0 || c.lines >= 1, "%zu params on %u lines", c.n, c.lines);
        for (size_t i = 0; i < c.n; i++) {
                const struct cmdline_param *p = &c.params[i];
                const char *got;
                char *m;

                FUZZ_CHECK(p->key, "param %zu has no key", i);
                got = cmdline_get(&c, p->key);
                FUZZ_CHECK(got, "cmdline_get(%s) is NULL", p->key);
                /* The last parameter with this key wins. */
                for (size_t j = i + 1; j < c.n; j++)
                        if (strcmp(c.params[j].key, p->key) == 0)
                                goto next;
                FUZZ_CHECK(strcmp(got, p->value ? p->value : "") == 0, "cmdline_get(%s)", p->key);
                m = cmdline_masked_value(p->key, p->value);
                if (!p->value) {
                        FUZZ_CHECK(!m, "a bare word has a masked value");
                        goto next;
                }
                FUZZ_CHECK(m, "masking %s failed", p->key);
                if (cmdline_is_secret_key(p->key))
                        FUZZ_CHECK(strcmp(m, CMDLINE_MASK) == 0, "%s shown as %s", p->key, m);
                else if (strcmp(p->key, "root") == 0 && strncasecmp(p->value, "iscsi:", 6) == 0)
                        check_root_masked(p->value, m);
                else
                        FUZZ_CHECK(strcmp(m, p->value) == 0, "%s changed by masking", p->key);
                free(m);
        next:;
        }
        cmdline_free(&c);
        return 0;
}
