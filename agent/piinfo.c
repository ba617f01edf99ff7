#include "piinfo.h"
#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <ctype.h>

/* Neither file is large; anything bigger is not what the kernel writes. */
#define MODEL_FILE_MAX   4096
#define CPUINFO_FILE_MAX (256 * 1024)

int piinfo_read_model(const char *root, char *buf, size_t size)
{
        _cleanup_free_ char *path = root_path(root, "/proc/device-tree/model");
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        r = file_read_all(path, MODEL_FILE_MAX, &data, &len);
        if (r < 0)
                return r;
        /* The device tree property ends in NUL; a hand-made test file may end in "\n". */
        str_strip_trailing(data);
        if (!data[0])
                return -ENODATA;
        if (strlen(data) >= size)
                return -ENAMETOOLONG;
        strcpy(buf, data);
        return 0;
}

/* "Serial\t\t: 00000000511e57f7" -> the value after ':'. */
static const char *serial_value(const char *line, size_t n, size_t *vlen)
{
        const char *colon = memchr(line, ':', n), *v, *end = line + n;
        size_t klen;

        if (!colon)
                return NULL;
        klen = (size_t)(colon - line);
        while (klen > 0 && isspace((unsigned char)line[klen - 1]))
                klen--;
        if (klen != 6 || strncmp(line, "Serial", 6) != 0)
                return NULL;
        for (v = colon + 1; v < end && isspace((unsigned char)*v); v++)
                ;
        while (end > v && isspace((unsigned char)end[-1]))
                end--;
        *vlen = (size_t)(end - v);
        return v;
}

/* The TFTP folder the bootloader asks for: the LOW 32 bits of the serial as exactly 8 lower-case
 * hex digits, leading zeros kept ("000000000b615590" -> "0b615590", a Pi 4's
 * "1000000022bba2d2" -> "22bba2d2"; LibreELEC PR 3853, rpi-eeprom#563). */
static int normalize_serial(const char *v, size_t n, char *buf, size_t size)
{
        if (n >= 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
                v += 2;
                n -= 2;
        }
        if (n == 0 || n > 16)
                return -ENODATA;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char)v[i]))
                        return -ENODATA;
        if (size < PIINFO_SERIAL_LEN + 1)
                return -ENAMETOOLONG;
        /* Fewer than 8 digits (a hand-written serial) are the low bits: zero-padded. */
        for (size_t i = 0; i < PIINFO_SERIAL_LEN; i++) {
                size_t from_end = PIINFO_SERIAL_LEN - i;
                buf[i] = from_end <= n ? (char)tolower((unsigned char)v[n - from_end]) : '0';
        }
        buf[PIINFO_SERIAL_LEN] = '\0';
        return 0;
}

int piinfo_parse_serial(const char *cpuinfo, char *buf, size_t size)
{
        const char *p = cpuinfo;

        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p), vlen;
                const char *v = serial_value(p, n, &vlen);

                if (v)
                        return normalize_serial(v, vlen, buf, size);
                if (!nl)
                        break;
                p = nl + 1;
        }
        return -ENODATA;
}

int piinfo_read_serial(const char *root, char *buf, size_t size)
{
        _cleanup_free_ char *path = root_path(root, "/proc/cpuinfo");
        _cleanup_free_ char *data = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = file_read_all(path, CPUINFO_FILE_MAX, &data, NULL);
        if (r < 0)
                return r;
        return piinfo_parse_serial(data, buf, size);
}

static bool identity_configured(const char *configured)
{
        return configured && configured[0] != '\0' && strcmp(configured, "auto") != 0;
}

int piinfo_model(const char *root, const char *configured, char *buf, size_t size)
{
        if (!identity_configured(configured))
                return piinfo_read_model(root, buf, size);
        if (strlen(configured) >= size)
                return -ENAMETOOLONG;
        strcpy(buf, configured);
        return 0;
}

int piinfo_serial(const char *root, const char *configured, char *buf, size_t size)
{
        _cleanup_free_ char *line = NULL;

        if (!identity_configured(configured))
                return piinfo_read_serial(root, buf, size);
        if (asprintf(&line, "Serial\t\t: %s\n", configured) < 0)
                return -ENOMEM;
        return piinfo_parse_serial(line, buf, size);
}
