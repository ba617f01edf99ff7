/* The initramfs reader: the newc cpio parser (cpio_parser_feed(), cpio_parser_finish()) on the
 * input fed in one piece and in pieces, and initrd_check() on the input as a file (a memfd)
 * when it holds no compressed part (that would run a decompressor child).
 * Invariants: the parser's verdict does not depend on how the input is split; it never
 * consumes more than it is given; the check's report agrees with the parser. */
#include "fuzz.h"

#include "initrd.h"

#include <errno.h>

struct seen {
        unsigned entries;
        unsigned data_calls;
        uint64_t data_bytes;
        uint64_t name_hash;
};

static int on_entry(void *userdata, const struct cpio_entry *e)
{
        struct seen *s = userdata;

        s->entries++;
        for (const char *p = e->name; *p; p++)
                s->name_hash = s->name_hash * 131 + (unsigned char)*p;
        FUZZ_CHECK(strlen(e->name) < CPIO_NAME_MAX, "name length");
        return e->size & 1 ? CPIO_WANT_DATA : CPIO_SKIP;
}

static int on_data(void *userdata, const struct cpio_entry *e, const char *data, size_t len)
{
        struct seen *s = userdata;

        FUZZ_CHECK(len == e->size && data[len] == '\0', "body of %zu bytes for size %llu", len,
                   (unsigned long long)e->size);
        s->data_calls++;
        s->data_bytes += len;
        return 0;
}

static const struct cpio_callbacks cb = {.entry = on_entry, .data = on_data};

struct outcome {
        ssize_t fed; /* bytes consumed, or the error */
        int finish;
        enum cpio_state state;
        unsigned archives, entries;
        struct seen seen;
};

/* Feeds DATA in pieces of STEP bytes (0: all at once). */
static void run(const uint8_t *data, size_t size, size_t step, struct outcome *o)
{
        static struct cpio_parser p;
        size_t off = 0;

        memset(o, 0, sizeof(*o));
        cpio_parser_init(&p, true, &cb, &o->seen);
        while (off < size) {
                size_t n = step && size - off > step ? step : size - off;
                ssize_t r = cpio_parser_feed(&p, data + off, n);

                if (r < 0) {
                        o->fed = r;
                        break;
                }
                FUZZ_CHECK((size_t)r <= n, "consumed %zd of %zu", r, n);
                off += (size_t)r;
                o->fed = (ssize_t)off;
                if ((size_t)r < n)
                        break;
        }
        o->finish = o->fed < 0 ? 0 : cpio_parser_finish(&p);
        o->state = p.state;
        o->archives = p.archives;
        o->entries = p.entries;
        FUZZ_TERMINATED(p.error);
        if (p.state == CPIO_COMPRESSED)
                FUZZ_CHECK(p.compressed_at <= size && p.hdr_len == 6, "compressed_at %llu",
                           (unsigned long long)p.compressed_at);
        cpio_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct outcome whole, pieces;
        static struct initrd_report rep;
        static int fd = -1;
        static char path[64];
        size_t step;
        int r;

        if (size < 1)
                return 0;
        step = 1 + data[0] % 13;
        data++;
        size--;
        run(data, size, 0, &whole);
        run(data, size, step, &pieces);
        FUZZ_CHECK(whole.fed == pieces.fed && whole.finish == pieces.finish &&
                       whole.state == pieces.state && whole.archives == pieces.archives &&
                       whole.entries == pieces.entries &&
                       memcmp(&whole.seen, &pieces.seen, sizeof(whole.seen)) == 0,
                   "split in %zu-byte pieces: fed %zd/%zd finish %d/%d entries %u/%u", step,
                   whole.fed, pieces.fed, whole.finish, pieces.finish, whole.entries,
                   pieces.entries);
        if (whole.state == CPIO_COMPRESSED)
                return 0;

        if (fd < 0) {
                fd = memfd_create("initrd.img", 0);
                if (fd < 0)
                        abort();
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        }
        if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
                abort();
        r = initrd_check(path, NULL, &rep);
        FUZZ_TERMINATED(rep.error);
        FUZZ_TERMINATED(rep.kernel);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG, "initrd_check: %d %s", r, rep.error);
                FUZZ_CHECK(whole.entries == 0, "refused an archive with %u entries: %s",
                           whole.entries, rep.error);
                return 0;
        }
        FUZZ_CHECK(rep.entries == whole.entries, "report says %u entries, parser %u", rep.entries,
                   whole.entries);
        FUZZ_CHECK(rep.n_items >= 1 && rep.n_items <= INITRD_ITEMS_MAX, "%u items", rep.n_items);
        FUZZ_CHECK(rep.items[0].ok == (whole.fed >= 0 && whole.finish == 0),
                   "\"archive complete\" is %d: %s", rep.items[0].ok, rep.items[0].detail);
        for (unsigned i = 0; i < rep.n_items; i++) {
                FUZZ_TERMINATED(rep.items[i].name);
                FUZZ_TERMINATED(rep.items[i].detail);
        }
        return 0;
}
