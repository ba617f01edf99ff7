#include "util.h"

#include <ctype.h>
#include <limits.h>

void str_strip_trailing(char *s)
{
        size_t n = strlen(s);

        while (n > 0 && isspace((unsigned char)s[n - 1]))
                s[--n] = '\0';
}

int parse_uint(const char *s, unsigned long *out)
{
        char *end;
        unsigned long v;

        if (str_empty(s) || !isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *out = v;
        return 0;
}

static size_t utf8_sequence_length(unsigned char c)
{
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF)
                return 2;
        if ((c & 0xF0) == 0xE0)
                return 3;
        if (c >= 0xF0 && c <= 0xF4)
                return 4;
        return 0;
}

bool utf8_valid(const unsigned char *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence_length(s[i]);

                if (n == 0 || i + n > len)
                        return false;
                for (size_t k = 1; k < n; k++)
                        if ((s[i + k] & 0xC0) != 0x80)
                                return false;
                i += n;
        }
        return true;
}
