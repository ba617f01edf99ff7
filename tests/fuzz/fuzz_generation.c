/* The generation store's own files: gen-N/record (gen_record_parse(), gen_record_format())
 * and gen-N/SHA256SUMS (gen_manifest_check()). Byte 0 picks which; the rest is the file.
 * Invariants: a parsed record formats and parses back to the same record; an error names
 * the file and a line; a manifest check reports only files inside the boot folder. */
#include "fuzz.h"

#include "fileio.h"
#include "generation.h"

#include <errno.h>
#include <sys/stat.h>

static void fuzz_record(const char *text, size_t len)
{
        static const char file[] = "gen-3/record";
        static struct gen_record rec, rec2;
        char err[640], *out = NULL;
        size_t out_len = 0;
        int r;

        r = gen_record_parse(text, len, file, &rec, err, sizeof(err));
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG, "gen_record_parse: %d", r);
                FUZZ_CHECK(strncmp(err, file, sizeof(file) - 1) == 0 &&
                               err[sizeof(file) - 1] == ':',
                           "error does not name the file: %s", err);
                return;
        }
        FUZZ_CHECK(rec.gen >= 1, "gen %u", rec.gen);
        FUZZ_CHECK(strcmp(gen_status_to_string(rec.status), "?") != 0, "status %d", rec.status);
        r = gen_record_format(&rec, &out, &out_len);
        FUZZ_CHECK(r == 0, "format of a parsed record: %d", r);
        r = gen_record_parse(out, out_len, file, &rec2, err, sizeof(err));
        FUZZ_CHECK(r == 0, "formatted record does not parse: %s\n%s", err, out);
        FUZZ_CHECK(memcmp(&rec, &rec2, sizeof(rec)) == 0, "round trip changed the record:\n%s",
                   out);
        free(out);
}

/* A boot folder with two files, and the generation folder whose SHA256SUMS is the input. */
static void fuzz_manifest(const char *text, size_t len)
{
        static char gen[512], boot[512], sums[600];
        char report[2048], err[640];
        int r;

        if (!gen[0]) {
                char path[600];

                snprintf(boot, sizeof(boot), "%s/boot", fuzz_tmpdir());
                snprintf(gen, sizeof(gen), "%s/boot/.netroot/gen-1", fuzz_tmpdir());
                snprintf(sums, sizeof(sums), "%s/SHA256SUMS", gen);
                if (mkdir(boot, 0755) < 0 || mkdir_parents(gen, 0755) < 0)
                        abort();
                snprintf(path, sizeof(path), "%s/config.txt", boot);
                fuzz_write_file(path, "arm_64bit=1\n", 12);
                snprintf(path, sizeof(path), "%s/cmdline.txt", boot);
                fuzz_write_file(path, "root=iscsi:1.2.3.4::3260:1:iqn.x\n", 33);
        }
        fuzz_write_file(sums, text, len);
        r = gen_manifest_check(gen, boot, report, sizeof(report), err, sizeof(err));
        FUZZ_TERMINATED(report);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG, "gen_manifest_check: %d", r);
                FUZZ_CHECK(strncmp(err, sums, strlen(sums)) == 0 && err[strlen(sums)] == ':',
                           "error does not name the file: %s", err);
                return;
        }
        /* Nothing outside the boot folder may be looked at: such a manifest is refused. */
        for (const char *p = text, *end = text + len; p < end;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

                if (n > 66) {
                        char name[4096];
                        size_t k = n - 66 < sizeof(name) - 1 ? n - 66 : sizeof(name) - 1;

                        memcpy(name, p + 66, k);
                        name[k] = '\0';
                        FUZZ_CHECK(name[0] != '/' && strncmp(name, "../", 3) != 0 &&
                                       !strstr(name, "/../") && strcmp(name, "..") != 0 &&
                                       !streq_tail(name, strlen(name), "/..", 3),
                                   "manifest names a file outside the boot folder: %s", name);
                }
                p += n + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        if (data[0] & 1)
                fuzz_manifest((const char *)data + 1, size - 1);
        else
                fuzz_record((const char *)data + 1, size - 1);
        return 0;
}
