/* Kernel release from the image file; see kimage.h. */
#include "kimage.h"

#include "beneath.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BANNER "Linux version "
/* Scanned for the banner at most: an arm64 Image with every driver built in stays far below. */
#define SCAN_MAX (96u << 20)
#define CHUNK    (1u << 20)

/* A release as uname -r prints it: what names /lib/modules/<release> and initrd.img-<release>. */
static bool release_ok(const char *s, size_t n)
{
        if (n == 0 || n >= 128 || s[0] < '0' || s[0] > '9')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(s[i] >= '0' && s[i] <= '9') && !(s[i] >= 'a' && s[i] <= 'z') &&
                    !(s[i] >= 'A' && s[i] <= 'Z') && !strchr(".+-_~", s[i]))
                        return false;
        return true;
}

static int take(const char *s, size_t avail, char *release, size_t size)
{
        size_t n = 0;

        while (n < avail && s[n] != ' ' && s[n] != '\0')
                n++;
        if (n == avail || !release_ok(s, n) || n >= size)
                return -ENODATA;
        memcpy(release, s, n);
        release[n] = '\0';
        return 0;
}

static int read_at(int fd, void *buf, size_t len, off_t off, size_t *got)
{
        ssize_t r;

        *got = 0;
        while (*got < len) {
                r = pread(fd, (char *)buf + *got, len - *got, off + (off_t)*got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        break;
                *got += (size_t)r;
        }
        return 0;
}

static int from_bzimage(int fd, const unsigned char *hdr, size_t n, char *release, size_t size)
{
        char s[256];
        size_t got;
        unsigned off;
        int r;

        if (n < 0x210 || memcmp(hdr + 0x202, "HdrS", 4) != 0 ||
            (hdr[0x206] | hdr[0x207] << 8) < 0x200)
                return -ENODATA;
        off = hdr[0x20e] | hdr[0x20f] << 8;
        if (off == 0)
                return -ENODATA;
        r = read_at(fd, s, sizeof(s) - 1, (off_t)off + 0x200, &got);
        if (r < 0)
                return r;
        s[got] = '\0';
        return take(s, got + 1, release, size);
}

/* The banner may straddle two chunks: each read keeps the tail of the one before. */
static int from_banner(int fd, char *release, size_t size)
{
        const size_t keep = strlen(BANNER) + 128;
        _cleanup_free_ char *buf = malloc(CHUNK + keep);
        size_t have = 0, got;
        off_t off = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        while ((size_t)off < SCAN_MAX) {
                r = read_at(fd, buf + have, CHUNK, off, &got);
                if (r < 0)
                        return r;
                if (got == 0)
                        break;
                off += (off_t)got;
                have += got;
                for (char *p = buf;
                     (p = memmem(p, have - (size_t)(p - buf), BANNER, strlen(BANNER))); p++) {
                        size_t rest = have - (size_t)(p - buf) - strlen(BANNER);
                        const char *v = p + strlen(BANNER);
                        size_t n = 0;

                        while (n < rest && v[n] != ' ')
                                n++;
                        if (n + 1 < rest && v[n + 1] == '(' && take(v, rest, release, size) == 0)
                                return 0;
                }
                if (have > keep) {
                        memmove(buf, buf + have - keep, keep);
                        have = keep;
                }
        }
        return -ENODATA;
}

int kimage_release(int dirfd, const char *name, char *release, size_t size, char *why,
                   size_t why_size)
{
        unsigned char hdr[0x240];
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t n;
        int r;

        if (why_size)
                why[0] = '\0';
        fd = openat_beneath(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        r = read_at(fd, hdr, sizeof(hdr), 0, &n);
        if (r < 0)
                return r;
        if (from_bzimage(fd, hdr, n, release, size) == 0)
                return 0;
        r = from_banner(fd, release, size);
        if (r != -ENODATA)
                return r;
        if (n >= 2 && hdr[0] == 0x1f && hdr[1] == 0x8b)
                snprintf(why, why_size, "%s is gzip-compressed: its release cannot be read", name);
        else if (n >= 0x30 && hdr[0x24] == 0x18 && hdr[0x25] == 0x28 && hdr[0x26] == 0x6f &&
                 hdr[0x27] == 0x01)
                snprintf(why, why_size,
                         "%s is an ARM zImage (compressed): its release cannot be read", name);
        else
                snprintf(why, why_size, "%s carries no \"Linux version\" banner", name);
        return -ENODATA;
}
