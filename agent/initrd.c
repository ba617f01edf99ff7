#include "initrd.h"
#include "rootpath.h"
#include "util.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

/* ---- newc cpio reader ---- */

static const char CPIO_TRAILER[] = "TRAILER!!!";

void cpio_parser_init(struct cpio_parser *p, bool outer, const struct cpio_callbacks *cb,
                      void *userdata)
{
        memset(p, 0, sizeof(*p));
        p->cb = cb;
        p->userdata = userdata;
        p->outer = outer;
        p->state = CPIO_BETWEEN;
}

void cpio_parser_free(struct cpio_parser *p)
{
        free(p->data);
        p->data = NULL;
}

_printf_(2, 3) static ssize_t cpio_fail(struct cpio_parser *p, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(p->error, sizeof(p->error), fmt, ap);
        va_end(ap);
        p->state = CPIO_FAILED;
        return -EBADMSG;
}

static bool cpio_magic_ok(const unsigned char *m)
{
        return memcmp(m, "070701", 6) == 0 || memcmp(m, "070702", 6) == 0;
}

/* Field I of the header: 8 hex digits after the 6-byte magic. */
static int cpio_field(const unsigned char *hdr, unsigned i, uint32_t *out)
{
        uint32_t v = 0;

        for (unsigned k = 0; k < 8; k++) {
                unsigned char c = hdr[6 + 8 * i + k];
                unsigned d;

                if (c >= '0' && c <= '9')
                        d = c - '0';
                else if (c >= 'a' && c <= 'f')
                        d = c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        d = c - 'A' + 10;
                else
                        return -EBADMSG;
                v = v << 4 | d;
        }
        *out = v;
        return 0;
}

enum {
        F_INO,
        F_MODE,
        F_UID,
        F_GID,
        F_NLINK,
        F_MTIME,
        F_FILESIZE,
        F_DEVMAJ,
        F_DEVMIN,
        F_RDEVMAJ,
        F_RDEVMIN,
        F_NAMESIZE,
        F_CHECK
};

static ssize_t cpio_header_done(struct cpio_parser *p)
{
        uint32_t mode, size, namesize;

        if (cpio_field(p->hdr, F_MODE, &mode) < 0 || cpio_field(p->hdr, F_FILESIZE, &size) < 0 ||
            cpio_field(p->hdr, F_NAMESIZE, &namesize) < 0)
                return cpio_fail(p, "bad cpio header at byte %" PRIu64,
                                 p->offset - CPIO_HEADER_SIZE);
        if (namesize == 0 || namesize > CPIO_NAME_MAX)
                return cpio_fail(p, "bad name size %u in cpio header at byte %" PRIu64, namesize,
                                 p->offset - CPIO_HEADER_SIZE);
        p->mode = mode;
        p->size = p->remaining = size;
        p->name_size = namesize;
        p->name_len = 0;
        p->state = CPIO_NAME;
        return 0;
}

static size_t pad4(uint64_t offset)
{
        return (4 - (offset & 3)) & 3;
}

static ssize_t cpio_name_done(struct cpio_parser *p)
{
        struct cpio_entry e;
        int r;

        if (p->name[p->name_size - 1] != '\0' || strlen(p->name) != p->name_size - 1)
                return cpio_fail(p, "bad file name in cpio entry before byte %" PRIu64, p->offset);
        p->trailer = streq(p->name, CPIO_TRAILER);
        p->want_data = false;
        if (!p->trailer) {
                p->entries++;
                e = (struct cpio_entry){.name = p->name, .mode = p->mode, .size = p->size};
                r = p->cb && p->cb->entry ? p->cb->entry(p->userdata, &e) : CPIO_SKIP;
                if (r < 0) {
                        p->state = CPIO_FAILED;
                        return r;
                }
                if (r == CPIO_WANT_DATA && p->cb->data && p->size <= CPIO_DATA_MAX) {
                        free(p->data);
                        p->data = malloc(p->size + 1);
                        if (!p->data) {
                                p->state = CPIO_FAILED;
                                return -ENOMEM;
                        }
                        p->data_len = 0;
                        p->want_data = true;
                }
        }
        p->state = CPIO_NAME_PAD;
        return 0;
}

static ssize_t cpio_data_done(struct cpio_parser *p)
{
        struct cpio_entry e = {.name = p->name, .mode = p->mode, .size = p->size};
        int r;

        if (!p->want_data)
                return 0;
        p->data[p->data_len] = '\0';
        r = p->cb->data(p->userdata, &e, p->data, p->data_len);
        free(p->data);
        p->data = NULL;
        p->want_data = false;
        if (r < 0) {
                p->state = CPIO_FAILED;
                return r;
        }
        return 0;
}

/* After an entry's body and padding: the next header, or the space between archives. */
static void cpio_entry_end(struct cpio_parser *p)
{
        p->hdr_len = 0;
        if (p->trailer) {
                p->archives++;
                p->in_archive = false;
                p->state = CPIO_BETWEEN;
        } else {
                p->state = CPIO_MAGIC;
        }
}

/* Takes the steps that need no more input: empty padding, empty or finished body. */
static ssize_t cpio_settle(struct cpio_parser *p)
{
        ssize_t r;

        for (;;) {
                if (p->state == CPIO_NAME_PAD && pad4(p->offset) == 0) {
                        p->state = CPIO_DATA;
                } else if (p->state == CPIO_DATA && p->remaining == 0) {
                        r = cpio_data_done(p);
                        if (r < 0)
                                return r;
                        p->state = CPIO_DATA_PAD;
                } else if (p->state == CPIO_DATA_PAD && pad4(p->offset) == 0) {
                        cpio_entry_end(p);
                        return 0;
                } else {
                        return 0;
                }
        }
}

/* One byte of the magic at B. Returns 0 to go on, 1 when the rest is a compressed archive to
 * hand back (its magic included), or a negative errno for what is no newc archive. */
static int feed_magic(struct cpio_parser *p, unsigned char byte)
{
        p->hdr[p->hdr_len++] = byte;
        p->offset++;
        if (p->hdr_len < 6)
                return 0;
        if (cpio_magic_ok(p->hdr)) {
                p->in_archive = true;
                p->state = CPIO_HEADER;
                return 0;
        }
        if (!p->in_archive && p->outer) {
                p->compressed_at = p->offset - 6;
                p->state = CPIO_COMPRESSED;
                return 1;
        }
        if (memcmp(p->hdr, "070707", 6) == 0)
                return cpio_fail(
                    p, "old (odc) cpio format at byte %" PRIu64 ", the kernel reads only newc",
                    p->offset - 6);
        return cpio_fail(p, "%s at byte %" PRIu64,
                         p->in_archive ? "no cpio header" : "unexpected data after archive",
                         p->offset - 6);
}

/* Copies what B[*I..LEN) has of a field of SIZE bytes into DST (HAVE so far). True when full. */
static bool feed_field(struct cpio_parser *p, void *dst, size_t *have, size_t size,
                       const unsigned char *b, size_t len, size_t *i)
{
        size_t n = MIN(len - *i, size - *have);

        memcpy((char *)dst + *have, b + *i, n);
        *have += n;
        *i += n;
        p->offset += n;
        return *have == size;
}

/* What follows the magic: header, name, data and their padding. */
static ssize_t feed_body(struct cpio_parser *p, const unsigned char *b, size_t len, size_t *i)
{
        size_t n;

        switch (p->state) {
        case CPIO_HEADER:
                if (feed_field(p, p->hdr, &p->hdr_len, CPIO_HEADER_SIZE, b, len, i))
                        return cpio_header_done(p);
                return 0;
        case CPIO_NAME:
                if (feed_field(p, p->name, &p->name_len, p->name_size, b, len, i))
                        return cpio_name_done(p);
                return 0;
        case CPIO_NAME_PAD:
        case CPIO_DATA_PAD:
                n = MIN(len - *i, pad4(p->offset));
                *i += n;
                p->offset += n;
                return 0;
        case CPIO_DATA:
                n = (size_t)MIN((uint64_t)(len - *i), p->remaining);
                if (p->want_data) {
                        memcpy(p->data + p->data_len, b + *i, n);
                        p->data_len += n;
                }
                *i += n;
                p->offset += n;
                p->remaining -= n;
                return 0;
        default:
                return -EBADMSG;
        }
}

ssize_t cpio_parser_feed(struct cpio_parser *p, const void *buf, size_t len)
{
        const unsigned char *b = buf;
        size_t i = 0;
        ssize_t r;

        while (i < len) {
                switch (p->state) {
                case CPIO_BETWEEN:
                        /* The kernel skips NULs between archives (cpio pads to 512 bytes). */
                        while (i < len && b[i] == 0)
                                i++, p->offset++;
                        if (i < len) {
                                p->hdr_len = 0;
                                p->state = CPIO_MAGIC;
                        }
                        break;
                case CPIO_MAGIC:
                        r = feed_magic(p, b[i++]);
                        if (r != 0)
                                return r > 0 ? (ssize_t)i : r;
                        break;
                case CPIO_COMPRESSED:
                        return (ssize_t)i;
                case CPIO_FAILED:
                        return -EBADMSG;
                default:
                        r = feed_body(p, b, len, &i);
                        if (r < 0)
                                return r;
                }
                /* Done here, not when the next byte comes: an archive may end right after. */
                r = cpio_settle(p);
                if (r < 0)
                        return r;
        }
        return (ssize_t)len;
}

int cpio_parser_finish(struct cpio_parser *p)
{
        switch (p->state) {
        case CPIO_BETWEEN:
                if (p->archives > 0 && !p->in_archive)
                        return 0;
                snprintf(p->error, sizeof(p->error), "no cpio archive");
                return -ENODATA;
        case CPIO_COMPRESSED:
                return 0;
        case CPIO_FAILED:
                return -EBADMSG;
        case CPIO_MAGIC:
                if (!p->in_archive) {
                        snprintf(p->error, sizeof(p->error),
                                 "%zu stray bytes after the last archive", p->hdr_len);
                        return -ENODATA;
                }
                break;
        default:
                break;
        }
        if (p->state == CPIO_DATA || p->state == CPIO_NAME_PAD || p->state == CPIO_DATA_PAD)
                snprintf(p->error, sizeof(p->error), "archive ends inside '%.*s' at byte %" PRIu64,
                         120, p->name, p->offset);
        else
                snprintf(p->error, sizeof(p->error),
                         "archive ends at byte %" PRIu64 " without its TRAILER!!!", p->offset);
        return -ENODATA;
}

/* ---- compression and the decompressor child ---- */

struct decompressor {
        const char *name;
        const unsigned char *magic;
        size_t magic_len;
        const char *const argv[6];
};

static const struct decompressor decompressors[] = {
    {"zstd", (const unsigned char *)"\x28\xb5\x2f\xfd", 4, {"zstd", "-d", "-c", NULL}},
    {"gzip", (const unsigned char *)"\x1f\x8b", 2, {"gzip", "-d", "-c", NULL}},
    {"gzip", (const unsigned char *)"\x1f\x9e", 2, {"gzip", "-d", "-c", NULL}},
    {"xz", (const unsigned char *)"\xfd\x37\x7a\x58\x5a\x00", 6, {"xz", "-d", "-c", NULL}},
    {"lz4", (const unsigned char *)"\x02\x21\x4c\x18", 4, {"lz4", "-d", "-c", NULL}},
    {"bzip2", (const unsigned char *)"BZh", 3, {"bzip2", "-d", "-c", NULL}},
    {"lzma", (const unsigned char *)"\x5d\x00\x00", 3, {"xz", "--format=lzma", "-d", "-c", NULL}},
    {"lzo", (const unsigned char *)"\x89\x4c\x5a\x4f", 4, {"lzop", "-d", "-c", NULL}},
};

static const struct decompressor *decompressor_find(const unsigned char *magic, size_t len)
{
        for (size_t i = 0; i < ARRAY_SIZE(decompressors); i++)
                if (len >= decompressors[i].magic_len &&
                    memcmp(magic, decompressors[i].magic, decompressors[i].magic_len) == 0)
                        return &decompressors[i];
        return NULL;
}

const char *initrd_compression(const unsigned char *magic, size_t len)
{
        const struct decompressor *d = decompressor_find(magic, len);

        return d ? d->name : NULL;
}

static int spawn_child(const char *const argv[], int in_fd, int out_fd, int err_fd, pid_t *pid)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t empty, deflt;
        int r;

        r = posix_spawn_file_actions_init(&fa);
        if (r)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r) {
                posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        sigemptyset(&empty);
        sigemptyset(&deflt);
        sigaddset(&deflt, SIGPIPE);
        if (!(r = posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO)) &&
            !(r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO)) &&
            !(r = posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO)) &&
            !(r = posix_spawnattr_setsigmask(&attr, &empty)) &&
            !(r = posix_spawnattr_setsigdefault(&attr, &deflt)) &&
            !(r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))
                r = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
        posix_spawnattr_destroy(&attr);
        posix_spawn_file_actions_destroy(&fa);
        return -r;
}

static int wait_child(pid_t pid, int *status)
{
        while (waitpid(pid, status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

/* First line of what the child wrote to stderr, for the report. */
static void child_stderr(int fd, char *buf, size_t size)
{
        ssize_t n;
        char *nl;

        buf[0] = '\0';
        if (size < 2 || lseek(fd, 0, SEEK_SET) < 0)
                return;
        n = read(fd, buf, size - 1);
        if (n <= 0) {
                buf[0] = '\0';
                return;
        }
        buf[n] = '\0';
        nl = strchr(buf, '\n');
        if (nl)
                *nl = '\0';
        /* Progress output uses \r; keep the report on one clean line. */
        for (char *c = buf; *c; c++)
                if ((unsigned char)*c < 0x20)
                        *c = ' ';
        str_strip_trailing(buf);
}

#define SCAN_CHUNK (256u * 1024)

static int feed_all(struct cpio_parser *p, const unsigned char *buf, size_t len, bool *stop)
{
        ssize_t n = cpio_parser_feed(p, buf, len);

        if (n < 0)
                return (int)n;
        *stop = (size_t)n < len;
        return 0;
}

/* Decompresses FD (positioned at the compressed data) through D and parses the result. */
static int scan_compressed(int fd, const struct decompressor *d, struct cpio_parser *inner,
                           char *why, size_t why_size)
{
        _cleanup_free_ unsigned char *buf = NULL;
        _cleanup_close_ int rd = -1, wr = -1, err = -1;
        char msg[200];
        int pipefd[2], status, r, parse_r = 0;
        pid_t pid;
        bool stop = false;

        buf = malloc(SCAN_CHUNK);
        if (!buf)
                return -ENOMEM;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        rd = pipefd[0];
        wr = pipefd[1];
        /* Fewer wake-ups per megabyte; best effort. */
        (void)fcntl(rd, F_SETPIPE_SZ, 1 << 20);
        err = memfd_create("initrd-decompressor-stderr", MFD_CLOEXEC);
        if (err < 0)
                return -errno;
        r = spawn_child(d->argv, fd, wr, err, &pid);
        if (r < 0) {
                snprintf(why, why_size, "cannot run %s to decompress the %s archive: %s",
                         d->argv[0], d->name, strerror(-r));
                return -ENOEXEC;
        }
        closep(&wr);
        wr = -1;
        for (;;) {
                ssize_t n = read(rd, buf, SCAN_CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        parse_r = -errno;
                        snprintf(why, why_size, "reading from %s: %s", d->argv[0], strerror(errno));
                        break;
                }
                if (n == 0)
                        break;
                parse_r = feed_all(inner, buf, (size_t)n, &stop);
                if (parse_r < 0 || stop)
                        break;
        }
        if (parse_r < 0 || stop)
                /* No use in decompressing the rest of a broken archive. */
                kill(pid, SIGKILL);
        closep(&rd);
        rd = -1;
        r = wait_child(pid, &status);
        if (r < 0)
                return r;
        if (parse_r < 0) {
                if (!why[0])
                        snprintf(why, why_size, "%s archive: %s", d->name,
                                 inner->error[0] ? inner->error : strerror(-parse_r));
                return parse_r;
        }
        /* gzip exits 2 for mere warnings (e.g. trailing zeros). */
        if (WIFEXITED(status) &&
            (WEXITSTATUS(status) == 0 || (streq(d->name, "gzip") && WEXITSTATUS(status) == 2)))
                return 0;
        child_stderr(err, msg, sizeof(msg));
        if (WIFEXITED(status))
                snprintf(why, why_size,
                         "%s archive does not decompress to the end (%s exit %d%s%s)", d->name,
                         d->argv[0], WEXITSTATUS(status), msg[0] ? ": " : "", msg);
        else
                snprintf(why, why_size,
                         "%s archive does not decompress to the end (%s killed by "
                         "signal %d)",
                         d->name, d->argv[0], WTERMSIG(status));
        return -ENODATA;
}

/* Feeds FILE (open as FD) to OUTER until it ends or hands back a compressed rest. *IO_ERROR:
 * the file could not be read (WHY says so), not what it holds. */
static int scan_outer(int fd, const char *file, struct cpio_parser *outer, bool *io_error,
                      char *why, size_t why_size)
{
        _cleanup_free_ unsigned char *buf = malloc(SCAN_CHUNK);
        bool stop = false;
        int r = 0;

        *io_error = true;
        if (!buf)
                return -ENOMEM;
        while (!stop) {
                ssize_t n = read(fd, buf, SCAN_CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(why, why_size, "reading %s: %s", file, strerror(errno));
                        return -errno;
                }
                if (n == 0)
                        break;
                r = feed_all(outer, buf, (size_t)n, &stop);
                if (r < 0)
                        break;
        }
        *io_error = false;
        return r;
}

/* The compressed main archive after OUTER's early ones, through INNER. */
static int scan_inner(int fd, const struct cpio_parser *outer, struct cpio_parser *inner,
                      struct initrd_scan_info *info, char *why, size_t why_size)
{
        const struct decompressor *d = decompressor_find(outer->hdr, outer->hdr_len);
        int r;

        if (!d) {
                snprintf(why, why_size,
                         "%s at byte %" PRIu64 ": neither a cpio archive nor a known compression",
                         outer->entries ? "unexpected data" : "not an initramfs",
                         outer->compressed_at);
                return outer->entries ? -ENODATA : -EBADMSG;
        }
        snprintf(info->compression, sizeof(info->compression), "%s", d->name);
        if (lseek(fd, (off_t)outer->compressed_at, SEEK_SET) < 0)
                return -errno;
        r = scan_compressed(fd, d, inner, why, why_size);
        info->entries += inner->entries;
        info->bytes += inner->offset;
        if (r == 0 && cpio_parser_finish(inner) < 0) {
                snprintf(why, why_size, "%s archive: %s", d->name, inner->error);
                r = -ENODATA;
        }
        if (r == -ENOEXEC || r == -ENOMEM)
                return r;
        r = r < 0 ? (info->entries ? -ENODATA : -EBADMSG) : 0;
        if (r == -EBADMSG)
                snprintf(why, why_size, "not an initramfs: the %s data holds no cpio archive",
                         d->name);
        return r;
}

/* An archive that is not compressed: did OUTER end well (R: what feeding it returned)? */
static int judge_outer(struct cpio_parser *outer, int r, char *why, size_t why_size)
{
        if (r < 0) {
                snprintf(why, why_size, "%s", outer->error[0] ? outer->error : strerror(-r));
                r = (r == -EBADMSG && outer->entries) ? -ENODATA : r;
                if (r == -EBADMSG)
                        snprintf(why, why_size, "not an initramfs (%s)", outer->error);
                return r;
        }
        if (cpio_parser_finish(outer) < 0) {
                r = outer->entries ? -ENODATA : -EBADMSG;
                if (r == -EBADMSG)
                        snprintf(why, why_size, "not an initramfs (%s)", outer->error);
                else
                        snprintf(why, why_size, "%s", outer->error);
        }
        return r;
}

int initrd_scan(const char *file, const struct cpio_callbacks *cb, void *userdata,
                struct initrd_scan_info *info, char *why, size_t why_size)
{
        _cleanup_close_ int fd = -1;
        struct cpio_parser *outer = NULL, *inner = NULL;
        struct stat st;
        bool io_error;
        int r;

        memset(info, 0, sizeof(*info));
        snprintf(info->compression, sizeof(info->compression), "none");
        why[0] = '\0';
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                snprintf(why, why_size, "cannot open %s: %s", file, strerror(errno));
                return r;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(why, why_size, "%s is not a regular file", file);
                return -EBADMSG;
        }
        /* The parsers carry a PATH_MAX-sized name each: keep them off the stack. */
        outer = calloc(1, sizeof(*outer));
        inner = calloc(1, sizeof(*inner));
        if (!outer || !inner) {
                free(outer);
                free(inner);
                return -ENOMEM;
        }
        cpio_parser_init(outer, true, cb, userdata);
        cpio_parser_init(inner, false, cb, userdata);
        r = scan_outer(fd, file, outer, &io_error, why, why_size);
        info->entries = outer->entries;
        info->bytes = outer->offset;
        if (r == 0 && outer->state == CPIO_COMPRESSED)
                r = scan_inner(fd, outer, inner, info, why, why_size);
        else if (!io_error)
                r = judge_outer(outer, r, why, why_size);
        cpio_parser_free(outer);
        cpio_parser_free(inner);
        free(outer);
        free(inner);
        return r;
}

/* ---- what an iSCSI root needs ---- */

enum need {
        NEED_ARCHIVE,
        NEED_KMODDIR,
        NEED_ISCSISTART,
        NEED_ISCSI_TCP,
        NEED_LIBISCSI,
        NEED_LIBISCSI_TCP,
        NEED_SCSI_TRANSPORT_ISCSI,
        NEED_SD_MOD,
        NEED_ROOTFS,
        NEED_NIC,
        NEED_CRC32C,
        NEED_ISCSI_CONF,
        _NEED_MAX,
};

#define CANDIDATES_MAX 8

struct need_module {
        const char *label; /* what the module is for, in plain words */
        const char *names[CANDIDATES_MAX];
        size_t n_names;
        bool prefix; /* crc32c: any crc32c* implementation */
};

struct found {
        char ver[128];
        enum need need;
        bool builtin;
        char path[256];
};

struct check_state {
        struct need_module mods[_NEED_MAX];
        char nic_list[256];
        char rootfs_names[2][64];
        char *versions[32];
        size_t n_versions;
        struct found *found;
        size_t n_found, cap_found;
        char iscsistart[256];
        bool iscsi_conf;
        int error;
};

/* Path inside the archive without "./" or "/" in front, and with a leading "usr/" dropped:
 * merged-/usr initramfs images keep modules and binaries under usr/. */
static const char *norm_path(const char *name)
{
        for (;;) {
                if (name[0] == '.' && name[1] == '/')
                        name += 2;
                else if (name[0] == '/')
                        name++;
                else
                        break;
        }
        if (strncmp(name, "usr/", 4) == 0)
                name += 4;
        return name;
}

/* Module name from a file name: "crc32c-intel.ko.zst" -> "crc32c_intel". 0 when not a module. */
static bool module_name(const char *base, char *out, size_t size)
{
        static const char *const exts[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};
        size_t len = strlen(base), stem = 0;

        for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
                size_t el = strlen(exts[i]);

                if (len > el && streq(base + len - el, exts[i])) {
                        stem = len - el;
                        break;
                }
        }
        if (stem == 0 || stem >= size)
                return false;
        for (size_t i = 0; i < stem; i++)
                out[i] = base[i] == '-' ? '_' : base[i];
        out[stem] = '\0';
        return true;
}

static int add_version(struct check_state *s, const char *ver, size_t len)
{
        if (len == 0 || len >= sizeof(((struct found *)0)->ver))
                return 0;
        for (size_t i = 0; i < s->n_versions; i++)
                if (strlen(s->versions[i]) == len && strncmp(s->versions[i], ver, len) == 0)
                        return 0;
        if (s->n_versions >= ARRAY_SIZE(s->versions))
                return 0;
        s->versions[s->n_versions] = strndup(ver, len);
        if (!s->versions[s->n_versions])
                return -ENOMEM;
        s->n_versions++;
        return 0;
}

static int add_found(struct check_state *s, const char *ver, size_t ver_len, enum need need,
                     bool builtin, const char *path)
{
        struct found *f;

        if (s->n_found == s->cap_found) {
                size_t cap = s->cap_found ? s->cap_found * 2 : 32;
                struct found *n = reallocarray(s->found, cap, sizeof(*n));

                if (!n)
                        return -ENOMEM;
                s->found = n;
                s->cap_found = cap;
        }
        f = &s->found[s->n_found++];
        snprintf(f->ver, sizeof(f->ver), "%.*s", (int)ver_len, ver);
        f->need = need;
        f->builtin = builtin;
        snprintf(f->path, sizeof(f->path), "%s", path);
        return 0;
}

/* Records MOD (normalised name) for every need it satisfies. */
static int match_module(struct check_state *s, const char *ver, size_t ver_len, const char *mod,
                        bool builtin, const char *path)
{
        for (unsigned n = 0; n < _NEED_MAX; n++) {
                const struct need_module *m = &s->mods[n];

                for (size_t i = 0; i < m->n_names; i++) {
                        bool hit = m->prefix ? strncmp(mod, m->names[i], strlen(m->names[i])) == 0
                                             : streq(mod, m->names[i]);
                        if (hit) {
                                int r = add_found(s, ver, ver_len, n, builtin, path);
                                if (r < 0)
                                        return r;
                                break;
                        }
                }
        }
        return 0;
}

static int on_entry(void *userdata, const struct cpio_entry *e)
{
        struct check_state *s = userdata;
        const char *p = norm_path(e->name), *ver, *rest, *base;
        char mod[128];
        size_t ver_len;
        unsigned type = e->mode & S_IFMT;
        int r;

        if (streq(p, "sbin/iscsistart") || streq(p, "bin/iscsistart")) {
                if ((type == S_IFREG || type == S_IFLNK) && !s->iscsistart[0])
                        snprintf(s->iscsistart, sizeof(s->iscsistart), "%s", e->name);
                return CPIO_SKIP;
        }
        if (streq(p, "etc/iscsi.initramfs")) {
                s->iscsi_conf = type == S_IFREG;
                return CPIO_SKIP;
        }
        if (strncmp(p, "lib/modules/", 12) != 0)
                return CPIO_SKIP;
        ver = p + 12;
        rest = strchr(ver, '/');
        ver_len = rest ? (size_t)(rest - ver) : strlen(ver);
        r = add_version(s, ver, ver_len);
        if (r < 0)
                return r;
        if (!rest)
                return CPIO_SKIP;
        if (streq(rest, "/modules.builtin"))
                return CPIO_WANT_DATA;
        if (type != S_IFREG && type != S_IFLNK)
                return CPIO_SKIP;
        base = strrchr(rest, '/') + 1;
        if (!module_name(base, mod, sizeof(mod)))
                return CPIO_SKIP;
        r = match_module(s, ver, ver_len, mod, false, e->name);
        return r < 0 ? r : CPIO_SKIP;
}

/* modules.builtin: one "kernel/…/name.ko" per line. */
static int on_data(void *userdata, const struct cpio_entry *e, const char *data, size_t len)
{
        struct check_state *s = userdata;
        const char *ver = norm_path(e->name) + 12, *end = data + len;
        size_t ver_len = (size_t)(strchr(ver, '/') - ver);
        char line[512], mod[128];

        while (data < end) {
                const char *nl = memchr(data, '\n', (size_t)(end - data));
                size_t l = nl ? (size_t)(nl - data) : (size_t)(end - data);
                const char *base;
                int r;

                if (l > 0 && l < sizeof(line)) {
                        memcpy(line, data, l);
                        line[l] = '\0';
                        base = strrchr(line, '/');
                        base = base ? base + 1 : line;
                        if (module_name(base, mod, sizeof(mod))) {
                                r = match_module(s, ver, ver_len, mod, true, line);
                                if (r < 0)
                                        return r;
                        }
                }
                data += l + 1;
        }
        return 0;
}

static bool valid_module_list(const char *s)
{
        if (str_empty(s))
                return false;
        for (; *s; s++)
                if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == ','))
                        return false;
        return true;
}

static void need(struct check_state *s, enum need n, const char *label, const char *name)
{
        struct need_module *m = &s->mods[n];

        m->label = label;
        if (name && m->n_names < CANDIDATES_MAX)
                m->names[m->n_names++] = name;
}

static void check_state_free(struct check_state *s)
{
        for (size_t i = 0; i < s->n_versions; i++)
                free(s->versions[i]);
        free(s->found);
}

_printf_(4, 5) static void item(struct initrd_report *rep, const char *name, bool ok,
                                const char *fmt, ...)
{
        struct initrd_item *it;
        va_list ap;

        if (rep->n_items >= INITRD_ITEMS_MAX)
                return;
        it = &rep->items[rep->n_items++];
        snprintf(it->name, sizeof(it->name), "%s", name);
        it->ok = ok;
        va_start(ap, fmt);
        vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
        va_end(ap);
        if (!ok)
                rep->ok = false;
}

static const struct found *find(const struct check_state *s, const char *ver, enum need n)
{
        const struct found *builtin = NULL;

        for (size_t i = 0; i < s->n_found; i++) {
                const struct found *f = &s->found[i];

                if (f->need != n || !streq(f->ver, ver))
                        continue;
                if (!f->builtin)
                        return f;
                if (!builtin)
                        builtin = f;
        }
        return builtin;
}

static void module_item(struct initrd_report *rep, const struct check_state *s, enum need n,
                        const char *name)
{
        const struct need_module *m = &s->mods[n];
        const struct found *f = rep->kernel[0] ? find(s, rep->kernel, n) : NULL;
        char names[200] = "";

        if (f && f->builtin)
                item(rep, name, true, "%s, built into the kernel (modules.builtin: %s)", m->label,
                     f->path);
        else if (f)
                item(rep, name, true, "%s: %s", m->label, f->path);
        else {
                for (size_t i = 0; i < m->n_names; i++)
                        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s%s",
                                 i ? (i + 1 == m->n_names ? " or " : ", ") : "", m->names[i],
                                 m->prefix ? "*" : "");
                if (!rep->kernel[0])
                        item(rep, name, false, "%s: no kernel modules in the archive at all",
                             m->label);
                else
                        item(rep, name, false,
                             "%s: no %s module under lib/modules/%s/ and not built into the "
                             "kernel",
                             m->label, names, rep->kernel);
        }
}

/* The options, validated: the root fs type, the NIC modules ("none": not checked), the kernel. */
static int check_options(const struct initrd_check_options *opt, const char **rootfs,
                         const char **nic, struct initrd_report *rep)
{
        *rootfs = str_empty(opt->rootfs) ? "ext4" : opt->rootfs;
        *nic = str_empty(opt->nic) ? INITRD_DEFAULT_NIC : opt->nic;
        if (!valid_module_list(*rootfs) || strchr(*rootfs, ',') ||
            strlen(*rootfs) >= sizeof(((struct check_state *)0)->rootfs_names[0])) {
                snprintf(rep->error, sizeof(rep->error), "bad root filesystem type '%s'", *rootfs);
                return -EINVAL;
        }
        if (!streq(*nic, "none") && (!valid_module_list(*nic) ||
                                     strlen(*nic) >= sizeof(((struct check_state *)0)->nic_list))) {
                snprintf(rep->error, sizeof(rep->error),
                         "bad NIC module list '%s' (module names separated by commas, or none)",
                         *nic);
                return -EINVAL;
        }
        if (opt->kver && (str_empty(opt->kver) || strchr(opt->kver, '/') ||
                          strlen(opt->kver) >= sizeof(rep->kernel))) {
                snprintf(rep->error, sizeof(rep->error), "bad kernel version '%s'", opt->kver);
                return -EINVAL;
        }
        return 0;
}

/* The modules an iSCSI root needs in the archive (or built into the kernel). */
static void need_modules(struct check_state *s, const char *rootfs, const char *nic)
{
        char *tok, *save = NULL;

        need(s, NEED_ISCSI_TCP, "iSCSI over TCP", "iscsi_tcp");
        need(s, NEED_LIBISCSI, "iSCSI library (iscsi_tcp needs it)", "libiscsi");
        need(s, NEED_LIBISCSI_TCP, "iSCSI TCP library (iscsi_tcp needs it)", "libiscsi_tcp");
        need(s, NEED_SCSI_TRANSPORT_ISCSI, "iSCSI transport class", "scsi_transport_iscsi");
        need(s, NEED_SD_MOD, "SCSI disk driver (without it no disk appears)", "sd_mod");
        for (size_t i = 0; rootfs[i]; i++)
                s->rootfs_names[0][i] = rootfs[i] == '-' ? '_' : rootfs[i];
        need(s, NEED_ROOTFS, "root file system driver", s->rootfs_names[0]);
        /* The ext4 driver also mounts ext2 and ext3. */
        if (streq(rootfs, "ext2") || streq(rootfs, "ext3"))
                need(s, NEED_ROOTFS, NULL, "ext4");
        if (!streq(nic, "none")) {
                snprintf(s->nic_list, sizeof(s->nic_list), "%s", nic);
                for (size_t i = 0; s->nic_list[i]; i++)
                        if (s->nic_list[i] == '-')
                                s->nic_list[i] = '_';
                for (tok = strtok_r(s->nic_list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                        need(s, NEED_NIC, "network driver", tok);
        }
        need(s, NEED_CRC32C, "CRC32C for iSCSI digests", "crc32c");
        s->mods[NEED_CRC32C].prefix = true;
}

/* lib/modules/VERSION: the kernel checked (given, else the newest in the archive). */
static void versions_item(struct initrd_report *rep, const struct check_state *s)
{
        char name[160], others[200] = "";
        bool have = false;

        for (size_t i = 0; i < s->n_versions; i++) {
                if (rep->kernel[0] && streq(s->versions[i], rep->kernel))
                        have = true;
                else
                        snprintf(others + strlen(others), sizeof(others) - strlen(others), "%s%s",
                                 others[0] ? ", " : "", s->versions[i]);
        }
        snprintf(name, sizeof(name), "lib/modules/%s", rep->kernel[0] ? rep->kernel : "VERSION");
        if (have)
                item(rep, name, true, "modules for kernel %s%s%s%s", rep->kernel,
                     others[0] ? " (also: " : "", others, others[0] ? ")" : "");
        else if (!rep->kernel[0])
                item(rep, name, false, "no lib/modules/ folder in the archive");
        else
                item(rep, name, false, "no modules for kernel %s in the archive%s%s%s", rep->kernel,
                     others[0] ? " (it has: " : "", others, others[0] ? ")" : "");
}

/* etc/iscsi.initramfs: needed in the archive when the system has one. */
static int conf_item(struct initrd_report *rep, const struct check_state *s, const char *root)
{
        _cleanup_free_ char *conf_path = root_path(root, "/etc/iscsi/iscsi.initramfs");

        if (!conf_path)
                return -ENOMEM;
        if (access(conf_path, F_OK) != 0)
                item(rep, "etc/iscsi.initramfs", true,
                     "not needed: %s does not exist, the target comes from the kernel command line",
                     conf_path);
        else if (s->iscsi_conf)
                item(rep, "etc/iscsi.initramfs", true, "iSCSI settings from %s are in the archive",
                     conf_path);
        else
                item(rep, "etc/iscsi.initramfs", false,
                     "%s exists but the archive lacks its copy etc/iscsi.initramfs (rebuild the "
                     "initramfs)",
                     conf_path);
        return 0;
}

/* The items after the scan: archive, modules folder, iscsistart, each module. */
static void report_items(struct initrd_report *rep, const struct check_state *s,
                         const struct initrd_scan_info *info, int scan_r, const char *why,
                         const char *rootfs, const char *nic)
{
        if (scan_r == 0)
                item(rep, "archive complete", true, "%u entries, %" PRIu64 " bytes unpacked%s%s",
                     info->entries, info->bytes, streq(info->compression, "none") ? "" : ", ",
                     streq(info->compression, "none") ? "" : info->compression);
        else
                item(rep, "archive complete", false, "archive incomplete: %s", why);
        versions_item(rep, s);
        if (s->iscsistart[0])
                item(rep, "iscsistart", true, "iSCSI login program: %s", s->iscsistart);
        else
                item(rep, "iscsistart", false,
                     "iSCSI login program: no sbin/iscsistart (open-iscsi's initramfs hook did not "
                     "run)");
        module_item(rep, s, NEED_ISCSI_TCP, "iscsi_tcp");
        module_item(rep, s, NEED_LIBISCSI, "libiscsi");
        module_item(rep, s, NEED_LIBISCSI_TCP, "libiscsi_tcp");
        module_item(rep, s, NEED_SCSI_TRANSPORT_ISCSI, "scsi_transport_iscsi");
        module_item(rep, s, NEED_SD_MOD, "sd_mod");
        module_item(rep, s, NEED_ROOTFS, rootfs);
        if (streq(nic, "none"))
                item(rep, "nic", true, "not checked (--nic none: no Pi network driver asked for)");
        else
                module_item(rep, s, NEED_NIC, nic);
        module_item(rep, s, NEED_CRC32C, "crc32c");
}

int initrd_check(const char *file, const struct initrd_check_options *opt,
                 struct initrd_report *rep)
{
        static const struct initrd_check_options defaults = {0};
        struct cpio_callbacks cb = {.entry = on_entry, .data = on_data};
        struct check_state s = {0};
        struct initrd_scan_info info;
        const char *rootfs, *nic;
        char why[320];
        int r;

        if (!opt)
                opt = &defaults;
        memset(rep, 0, sizeof(*rep));
        rep->ok = true;
        r = check_options(opt, &rootfs, &nic, rep);
        if (r < 0)
                return r;
        need_modules(&s, rootfs, nic);
        r = initrd_scan(file, &cb, &s, &info, why, sizeof(why));
        if (r < 0 && r != -ENODATA) {
                snprintf(rep->error, sizeof(rep->error), "%s", why);
                check_state_free(&s);
                return r;
        }
        snprintf(rep->compression, sizeof(rep->compression), "%s", info.compression);
        rep->bytes = info.bytes;
        rep->entries = info.entries;
        if (opt->kver)
                snprintf(rep->kernel, sizeof(rep->kernel), "%s", opt->kver);
        else
                for (size_t i = 0; i < s.n_versions; i++)
                        if (!rep->kernel[0] || strverscmp(s.versions[i], rep->kernel) > 0)
                                snprintf(rep->kernel, sizeof(rep->kernel), "%s", s.versions[i]);
        report_items(rep, &s, &info, r, why, rootfs, nic);
        r = conf_item(rep, &s, opt->root);
        check_state_free(&s);
        return r;
}

int initrd_passes_check(const char *root, const char *file, const char *kver, char *why,
                        size_t why_size)
{
        struct initrd_check_options opt = {.root = root, .kver = kver};
        _cleanup_free_ struct initrd_report *rep = NULL;
        size_t len = 0;
        int r;

        if (why_size > 0)
                why[0] = '\0';
        rep = malloc(sizeof(*rep));
        if (!rep)
                return -ENOMEM;
        r = initrd_check(file, &opt, rep);
        if (r < 0) {
                if (why_size > 0)
                        snprintf(why, why_size, "%s", rep->error);
                return r;
        }
        if (rep->ok)
                return 1;
        for (unsigned i = 0; i < rep->n_items && why_size > 0; i++) {
                const struct initrd_item *it = &rep->items[i];
                int n;

                if (it->ok)
                        continue;
                n = snprintf(why + len, why_size - len, "%s%s: %s", len ? "; " : "", it->name,
                             it->detail);
                if (n < 0 || (size_t)n >= why_size - len)
                        break;
                len += (size_t)n;
        }
        return 0;
}
