/* The one KEY=VALUE format of the agent's state files (kvfile.c) through its users: byte 0 picks
 * the field table (0 a table of every type, 1 a generation record, 2 the upgrade journal), the
 * rest is the file. Invariants: an error is -EBADMSG naming the file and a line; a parsed file
 * names only files inside its folder, formats, and parses back to the same values. */
#include "fuzz.h"

#include "beneath.h"
#include "generation.h"
#include "kvfile.h"
#include "txn.h"

#include <errno.h>

struct every {
        unsigned n;
        long l;
        bool b;
        int e;
        char s[24];
        char name[48];
};

static const char *const choices[] = {"a", "bb", "", NULL};

static const struct kv_field every_fields[] = {
    KV_UINT_FIELD(struct every, n, KV_NONZERO),     KV_LONG_FIELD(struct every, l, 0),
    KV_BOOL_FIELD(struct every, b, 0),              KV_ENUM_FIELD(struct every, e, 0, choices),
    KV_STR_FIELD(struct every, s, KV_REQUIRED),     KV_NAME_FIELD(struct every, name, 0),
};

static void check_error(int r, const struct error *e, const char *file)
{
        FUZZ_CHECK(r == -EBADMSG, "parse: %d", r);
        FUZZ_CHECK(strncmp(e->msg, file, strlen(file)) == 0 && e->msg[strlen(file)] == ':',
                   "error does not name the file: %s", e->msg);
}

static void check_name(const char *name)
{
        FUZZ_CHECK(!name[0] || name_inside(name), "a name outside its folder: %s", name);
}

static void fuzz_every(const char *text, size_t len)
{
        struct every a = {0}, b = {0};
        struct error e;
        char *out = NULL;
        size_t out_len = 0;
        int r = kv_parse(text, len, "f", every_fields, 6, &a, &e);

        if (r < 0) {
                check_error(r, &e, "f");
                return;
        }
        FUZZ_TERMINATED(a.s);
        FUZZ_TERMINATED(a.name);
        check_name(a.name);
        FUZZ_CHECK(kv_format(every_fields, 6, &a, &out, &out_len, &e) == 0, "format: %s", e.msg);
        FUZZ_CHECK(kv_parse(out, out_len, "f", every_fields, 6, &b, &e) == 0, "reparse: %s\n%s",
                   e.msg, out);
        FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0, "round trip changed the values:\n%s", out);
        free(out);
}

static void fuzz_record(const char *text, size_t len)
{
        static const char file[] = "gen-3/record";
        static struct gen_record rec, rec2;
        struct error e;
        char *out = NULL;
        size_t out_len = 0;
        int r = gen_record_parse(text, len, file, &rec, &e);

        if (r < 0) {
                check_error(r, &e, file);
                return;
        }
        FUZZ_CHECK(rec.gen >= 1, "gen %u", rec.gen);
        check_name(rec.cmdline_name);
        check_name(rec.final);
        check_name(rec.shared_backup);
        check_name(rec.initramfs_from);
        FUZZ_CHECK(gen_record_format(&rec, &out, &out_len, &e) == 0, "format: %s", e.msg);
        FUZZ_CHECK(gen_record_parse(out, out_len, file, &rec2, &e) == 0, "reparse: %s\n%s", e.msg,
                   out);
        FUZZ_CHECK(memcmp(&rec, &rec2, sizeof(rec)) == 0, "round trip changed the record:\n%s",
                   out);
        free(out);
}

static void fuzz_journal(const char *text, size_t len)
{
        static const char file[] = "boot/.netroot/transaction";
        static struct txn t, t2;
        struct error e;
        char *out = NULL;
        size_t out_len = 0;
        int r = txn_parse(text, len, file, &t, &e);

        if (r < 0) {
                check_error(r, &e, file);
                return;
        }
        FUZZ_CHECK(t.gen >= 1, "gen %u", t.gen);
        check_name(t.new_file);
        check_name(t.final);
        check_name(t.edited);
        check_name(t.shared_backup);
        FUZZ_CHECK(txn_format(&t, &out, &out_len, &e) == 0, "format: %s", e.msg);
        FUZZ_CHECK(txn_parse(out, out_len, file, &t2, &e) == 0, "reparse: %s\n%s", e.msg, out);
        FUZZ_CHECK(memcmp(&t, &t2, sizeof(t)) == 0, "round trip changed the journal:\n%s", out);
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        switch (data[0] % 3) {
        case 0:
                fuzz_every((const char *)data + 1, size - 1);
                break;
        case 1:
                fuzz_record((const char *)data + 1, size - 1);
                break;
        default:
                fuzz_journal((const char *)data + 1, size - 1);
                break;
        }
        return 0;
}
