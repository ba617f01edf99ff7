/* The doctor's parsers (exposed for the unit tests in doctor.h): vcgencmd otp_dump, ip=,
 * dhcpcd.conf, ifupdown stanzas, shell and iscsid.conf assignments; and the line and word
 * splitting the checks share. */
#include "doctor_check.h"

#include <ctype.h>
#include <fnmatch.h>

/* Next line of TEXT at *POS into BUF (without "\n"); false at the end. */
bool doctor_next_line(const char *text, size_t *pos, char *buf, size_t size)
{
        const char *s = text + *pos, *nl;
        size_t n;

        if (!*s)
                return false;
        nl = strchr(s, '\n');
        n = nl ? (size_t)(nl - s) : strlen(s);
        *pos += n + (nl ? 1 : 0);
        snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), s);
        return true;
}

/* Splits LINE in place at white space (and SEPS) into at most MAX words; '#' ends the line. */
size_t doctor_split_words(char *line, char **words, size_t max, const char *seps)
{
        size_t n = 0;
        char *save = NULL, *tok, *hash = strchr(line, '#');
        char delim[16];

        if (hash)
                *hash = '\0';
        snprintf(delim, sizeof(delim), " \t\r%s", seps ? seps : "");
        for (tok = strtok_r(line, delim, &save); tok && n < max; tok = strtok_r(NULL, delim, &save))
                words[n++] = tok;
        return n;
}

int doctor_parse_otp(const char *output, char *value, size_t size)
{
        char line[256];
        size_t pos = 0;

        while (output && doctor_next_line(output, &pos, line, sizeof(line))) {
                char *v;

                str_strip_trailing(line);
                if (strncmp(line, "17:", 3) != 0)
                        continue;
                v = line + 3;
                while (*v == ' ' || *v == '\t')
                        v++;
                for (char *p = v; *p; p++)
                        *p = (char)tolower((unsigned char)*p);
                snprintf(value, size, "%s", v);
                return 1;
        }
        return 0;
}

void doctor_ip_iface(const char *ip_value, char *iface, size_t size)
{
        const char *p = ip_value;

        snprintf(iface, size, "eth0");
        if (!p || !strchr(p, ':'))
                return;
        for (int field = 0; field < 5; field++) {
                p = strchr(p, ':');
                if (!p)
                        return;
                p++;
        }
        if (*p && *p != ':') {
                size_t n = strcspn(p, ":");

                snprintf(iface, size, "%.*s", (int)n, p);
        }
}

static bool pattern_list_matches(char **w, size_t n, const char *iface)
{
        for (size_t i = 1; i < n; i++)
                if (fnmatch(w[i], iface, 0) == 0)
                        return true;
        return false;
}

bool doctor_dhcpcd_denies(const char *text, const char *iface)
{
        char line[1024], *w[64];
        size_t pos = 0, n;
        bool allow_seen = false, allowed = false;

        while (text && doctor_next_line(text, &pos, line, sizeof(line))) {
                n = doctor_split_words(line, w, ARRAY_SIZE(w), ",");
                if (n < 2)
                        continue;
                if (streq(w[0], "denyinterfaces") && pattern_list_matches(w, n, iface))
                        return true;
                if (streq(w[0], "allowinterfaces")) {
                        allow_seen = true;
                        allowed = allowed || pattern_list_matches(w, n, iface);
                }
        }
        return allow_seen && !allowed;
}

unsigned doctor_ifupdown_dhcp_line(const char *text, const char *iface)
{
        char line[1024], *w[8];
        size_t pos = 0, n;
        unsigned no = 0;

        while (text && doctor_next_line(text, &pos, line, sizeof(line))) {
                no++;
                n = doctor_split_words(line, w, ARRAY_SIZE(w), NULL);
                if (n >= 4 && streq(w[0], "iface") && streq(w[1], iface) && streq(w[2], "inet") &&
                    streq(w[3], "dhcp"))
                        return no;
        }
        return 0;
}

int doctor_conf_value(const char *text, const char *name, char *value, size_t size)
{
        char line[1024];
        size_t pos = 0, nl = strlen(name);
        int found = 0;

        while (text && doctor_next_line(text, &pos, line, sizeof(line))) {
                char *p = line, *v, *end;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (strncmp(p, "export ", 7) == 0)
                        p += 7;
                if (strncmp(p, name, nl) != 0)
                        continue;
                p += nl;
                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p != '=')
                        continue;
                v = p + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                if (*v == '"' || *v == '\'') {
                        end = strchr(v + 1, *v);
                        v++;
                        if (end)
                                *end = '\0';
                } else {
                        end = strchr(v, '#');
                        if (end)
                                *end = '\0';
                        str_strip_trailing(v);
                }
                snprintf(value, size, "%s", v);
                found = 1;
        }
        return found;
}
