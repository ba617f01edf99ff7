/* Reading start*.elf's build strings; see firmware_version.h. The file is read once, in chunks,
 * for the hash and the strings together: a fleet status hashes every Pi's firmware anyway. */
#include "firmware_version.h"
#include "util.h"

#include <fcntl.h>
#include <stdint.h>

#define CHUNK  (64 * 1024)
#define KEEP   256 /* longer than any build string: one cut by a chunk end is read again whole */
#define PREFIX "VC_BUILD_ID_"

static void copy_value(char *dst, size_t size, const char *val, size_t len)
{
        if (len >= size)
                len = size - 1;
        memcpy(dst, val, len);
        dst[len] = '\0';
}

/* A date looks like "Aug 26 2022"; the other TIME is "14:04:36". */
static bool looks_like_date(const char *s, size_t len)
{
        return len >= 10 && len <= 12 && s[3] == ' ' && !memchr(s, ':', len);
}

static bool printable(const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                        return false;
        return true;
}

/* Parses "VC_BUILD_ID_KEY: value" of LEN bytes at S. */
static void take(struct firmware_version *v, bool *found, const char *s, size_t len)
{
        const char *colon = memchr(s, ':', len);
        const char *val;
        size_t klen, vlen;

        if (!colon || colon + 2 > s + len || colon[1] != ' ' || !printable(s, len))
                return;
        klen = (size_t)(colon - s) - strlen(PREFIX);
        val = colon + 2;
        vlen = len - (size_t)(val - s);
        if (klen == 7 && memcmp(s + strlen(PREFIX), "VERSION", 7) == 0) {
                const char *sp = memchr(val, ' ', vlen);

                copy_value(v->build, sizeof(v->build), val, sp ? (size_t)(sp - val) : vlen);
                v->clean = sp && (size_t)(val + vlen - sp) == 8 && memcmp(sp, " (clean)", 8) == 0;
                *found = v->build[0] != '\0';
        } else if (klen == 7 && memcmp(s + strlen(PREFIX), "VARIANT", 7) == 0) {
                copy_value(v->variant, sizeof(v->variant), val, vlen);
        } else if (klen == 4 && memcmp(s + strlen(PREFIX), "TIME", 4) == 0 &&
                   looks_like_date(val, vlen)) {
                copy_value(v->date, sizeof(v->date), val, vlen);
        }
}

int firmware_version_scan_fd(int fd, struct firmware_version *v, char sha[SHA256_HEX_SIZE])
{
        _cleanup_free_ char *buf = malloc(KEEP + CHUNK);
        struct sha256_ctx c;
        size_t have = 0;
        bool found = false, eof = false;

        memset(v, 0, sizeof(*v));
        if (!buf)
                return -ENOMEM;
        sha256_init(&c);
        while (!eof) {
                ssize_t n = read(fd, buf + have, CHUNK);
                size_t limit;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                eof = n == 0;
                sha256_update(&c, buf + have, (size_t)n);
                have += (size_t)n;
                /* Strings starting in the last KEEP bytes are looked at in the next round,
                 * whole. */
                limit = eof ? have : (have > KEEP ? have - KEEP : 0);
                for (const char *p = buf; p < buf + limit;) {
                        const char *hit =
                            memmem(p, (size_t)(buf + have - p), PREFIX, strlen(PREFIX));
                        const char *end;

                        if (!hit || hit >= buf + limit)
                                break;
                        end = memchr(hit, '\0', (size_t)(buf + have - hit));
                        if (end && end - hit < KEEP)
                                take(v, &found, hit, (size_t)(end - hit));
                        p = hit + strlen(PREFIX);
                }
                if (have > KEEP) {
                        memmove(buf, buf + have - KEEP, KEEP);
                        have = KEEP;
                }
        }
        if (sha) {
                uint8_t digest[SHA256_DIGEST_SIZE];

                sha256_final(&c, digest);
                sha256_hex(digest, sha);
        }
        if (!found)
                memset(v, 0, sizeof(*v));
        return found ? 1 : 0;
}

int firmware_version_read(const char *path, struct firmware_version *v, char sha[SHA256_HEX_SIZE])
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

        if (fd < 0)
                return -errno;
        return firmware_version_scan_fd(fd, v, sha);
}
