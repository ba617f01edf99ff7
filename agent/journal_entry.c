#include "journal_entry.h"
#include "util.h"

#include <stdint.h>

#define KEY_MAX 64

static bool key_valid(const char *key, size_t n)
{
        if (n == 0 || n > KEY_MAX || key[0] == '_' || (key[0] >= '0' && key[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((key[i] >= 'A' && key[i] <= 'Z') || (key[i] >= '0' && key[i] <= '9') ||
                      key[i] == '_'))
                        return false;
        return true;
}

int journal_entry_add(struct strbuf *sb, const char *field)
{
        const char *eq = strchr(field, '=');
        const char *value;
        size_t klen, vlen;

        if (!eq)
                return -EINVAL;
        klen = (size_t)(eq - field);
        if (!key_valid(field, klen))
                return -EINVAL;
        value = eq + 1;
        vlen = strnlen(value, JOURNAL_VALUE_MAX);
        if (memchr(value, '\n', vlen)) {
                unsigned char le[8];
                uint64_t v = vlen;

                /* journald reads the length as little-endian whatever the host's order. */
                for (size_t i = 0; i < sizeof(le); i++, v >>= 8)
                        le[i] = (unsigned char)(v & 0xff);
                sb_append(sb, field, klen);
                sb_append(sb, "\n", 1);
                sb_append(sb, (const char *)le, sizeof(le));
        } else {
                sb_append(sb, field, klen + 1);
        }
        sb_append(sb, value, vlen);
        sb_append(sb, "\n", 1);
        return 0;
}
