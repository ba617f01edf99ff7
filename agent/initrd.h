/* Reading and judging an initramfs: does it hold what an iSCSI root needs? */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Shared entry point for callers that only need a verdict (bootcfg set-initramfs, upgrade):
 * checks FILE for kernel version KVER (NULL: take it from the archive's lib/modules/).
 * ROOT is the --root prefix (for /etc/iscsi/iscsi.initramfs and the like), may be NULL.
 * Returns 1 when FILE passes, 0 when something is missing (WHY lists the missing items),
 * a negative errno when FILE cannot be read (WHY says why). */
int initrd_passes_check(const char *root, const char *file, const char *kver, char *why,
                        size_t why_size);

/* ---- The full check (netrootctl check-initrd) ---- */

#define INITRD_ITEMS_MAX   16
#define INITRD_DEFAULT_NIC "smsc95xx,lan78xx" /* Pi 3B, Pi 3B+ */

struct initrd_check_options {
        const char *root;   /* --root prefix, NULL for the real machine */
        const char *kver;   /* NULL: the (newest) version under lib/modules/ in the archive */
        const char *rootfs; /* root filesystem type, NULL: "ext4" */
        const char *nic;    /* NIC driver(s), comma-separated, any one suffices; NULL: the Pi 3
                             * drivers (INITRD_DEFAULT_NIC); "none": not checked */
};

struct initrd_item {
        char name[80];
        bool ok;
        char detail[320];
};

struct initrd_report {
        char kernel[128]; /* version checked; "" when the archive has none and none was given */
        bool ok;          /* every item ok */
        unsigned n_items;
        struct initrd_item items[INITRD_ITEMS_MAX];
        char compression[8]; /* of the main archive: "none", "zstd", "gzip", … */
        uint64_t bytes;      /* archive bytes read after decompression */
        unsigned entries;    /* cpio entries seen */
        char error[320];     /* why FILE could not be read (negative return of initrd_check) */
};

/* Checks FILE. Returns 0 when FILE was read as an initramfs (REP->ok and REP->items say what it
 * has; a truncated or corrupt archive is the failing item "archive complete"), a negative errno
 * when it is unreadable or not an initramfs at all (REP->error says why): -EBADMSG for data that
 * is no cpio archive, -EINVAL for bad options, -ENOENT/-EACCES/… from open, -ENOEXEC when the
 * decompressor cannot be run. */
int initrd_check(const char *file, const struct initrd_check_options *opt,
                 struct initrd_report *rep);

/* ---- Streaming newc cpio reader (also used by the unit tests) ---- */

#define CPIO_HEADER_SIZE 110
#define CPIO_NAME_MAX    4096
#define CPIO_DATA_MAX    (4u << 20) /* largest body handed to the data callback */

struct cpio_entry {
        const char *name; /* as stored in the archive */
        unsigned mode;
        uint64_t size;
};

enum { CPIO_SKIP = 0, CPIO_WANT_DATA = 1 };

struct cpio_callbacks {
        /* Each entry (the trailer excluded). Returns CPIO_SKIP, CPIO_WANT_DATA (the body is handed
         * to DATA when it is at most CPIO_DATA_MAX bytes) or a negative errno to stop. */
        int (*entry)(void *userdata, const struct cpio_entry *e);
        int (*data)(void *userdata, const struct cpio_entry *e, const char *data, size_t len);
};

enum cpio_state {
        CPIO_BETWEEN, /* before an archive or after a trailer: NUL padding allowed */
        CPIO_MAGIC,
        CPIO_HEADER,
        CPIO_NAME,
        CPIO_NAME_PAD,
        CPIO_DATA,
        CPIO_DATA_PAD,
        CPIO_COMPRESSED, /* outer stream only: compressed data starts at compressed_at */
        CPIO_FAILED,
};

struct cpio_parser {
        const struct cpio_callbacks *cb;
        void *userdata;
        bool outer; /* the file itself: non-cpio data between archives is a compressed archive */
        enum cpio_state state;
        bool in_archive;
        bool trailer;
        uint64_t offset; /* bytes consumed; padding is aligned on it, as the kernel does */
        unsigned char hdr[CPIO_HEADER_SIZE];
        size_t hdr_len;
        char name[CPIO_NAME_MAX + 1];
        size_t name_size, name_len;
        unsigned mode;
        uint64_t size, remaining;
        char *data;
        size_t data_len;
        bool want_data;
        unsigned archives; /* archives closed by their TRAILER!!! */
        unsigned entries;
        uint64_t compressed_at;
        char error[200];
};

void cpio_parser_init(struct cpio_parser *p, bool outer, const struct cpio_callbacks *cb,
                      void *userdata);
void cpio_parser_free(struct cpio_parser *p);
/* Feeds LEN bytes. Returns the bytes consumed: LEN, or fewer when compressed data begins (state
 * CPIO_COMPRESSED, the first magic bytes are in hdr[0..hdr_len)). -EBADMSG on a malformed
 * archive (p->error says what), or the callback's negative errno. */
ssize_t cpio_parser_feed(struct cpio_parser *p, const void *buf, size_t len);
/* At the end of the stream: 0 when the last archive ended with its trailer, -ENODATA when the
 * stream stopped inside an archive or held none (p->error says where). */
int cpio_parser_finish(struct cpio_parser *p);

/* Compression of an archive by its first bytes: "zstd", "gzip", "xz", "lzma", "bzip2", "lz4",
 * "lzo", or NULL when unknown. */
const char *initrd_compression(const unsigned char *magic, size_t len);

/* Streams FILE through the cpio reader: the uncompressed leading archives (early microcode)
 * directly, the compressed rest through the system's decompressor (a child process, no shell).
 * Returns 0 when every archive was complete, -ENODATA when truncated or corrupt after at least
 * one entry (WHY says what), -EBADMSG when FILE held no cpio entry at all, another negative
 * errno when FILE cannot be opened or the decompressor cannot run. */
struct initrd_scan_info {
        char compression[8];
        uint64_t bytes;
        unsigned entries;
};
int initrd_scan(const char *file, const struct cpio_callbacks *cb, void *userdata,
                struct initrd_scan_info *info, char *why, size_t why_size);
