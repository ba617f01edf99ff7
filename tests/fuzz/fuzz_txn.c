/* The upgrade's transaction journal: txn_parse() and txn_format().
 * Invariants: a parsed journal names files inside the boot folder only, formats, and the
 * formatted text parses back to the same journal; an error names the file and a line. */
#include "fuzz.h"

#include "txn.h"

#include <errno.h>

static void check_inside(const char *name)
{
        FUZZ_CHECK(name[0] != '/' && !strstr(name, "..") && !strchr(name, '\\'),
                   "journal names a file outside the boot folder: %s", name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char file[] = "boot/.netroot/transaction";
        struct txn t, t2;
        char err[512], *out = NULL;
        size_t out_len = 0;
        int r;

        r = txn_parse((const char *)data, size, file, &t, err, sizeof(err));
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG, "txn_parse: %d", r);
                FUZZ_CHECK(strncmp(err, file, sizeof(file) - 1) == 0 &&
                               err[sizeof(file) - 1] == ':',
                           "error does not name the file: %s", err);
                return 0;
        }
        FUZZ_TERMINATED(t.step);
        FUZZ_TERMINATED(t.kernel);
        FUZZ_TERMINATED(t.new_file);
        FUZZ_TERMINATED(t.final);
        FUZZ_TERMINATED(t.shared_backup);
        FUZZ_CHECK(t.gen >= 1, "gen %u", t.gen);
        check_inside(t.new_file);
        check_inside(t.final);

        r = txn_format(&t, &out, &out_len);
        FUZZ_CHECK(r == 0, "txn_format of a parsed journal: %d", r);
        FUZZ_CHECK(strlen(out) == out_len, "length");
        r = txn_parse(out, out_len, file, &t2, err, sizeof(err));
        FUZZ_CHECK(r == 0, "formatted journal does not parse: %s\n%s", err, out);
        /* Field by field: a repeated key leaves bytes of the longer value behind the NUL. */
        FUZZ_CHECK(
            t.gen == t2.gen && !strcmp(t.step, t2.step) && !strcmp(t.kernel, t2.kernel) &&
                !strcmp(t.new_file, t2.new_file) && !strcmp(t.final, t2.final) &&
                !strcmp(t.shared_backup, t2.shared_backup) && t.final_existed == t2.final_existed &&
                t.config_touched == t2.config_touched && t.final_touched == t2.final_touched &&
                t.tryboot_touched == t2.tryboot_touched,
            "round trip changed the journal:\n%s", out);
        free(out);
        return 0;
}
