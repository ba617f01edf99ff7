/* The generation store's manifests (SHA256SUMS, COPIES: manifest_parse(), manifest_format(),
 * manifest_compare_at()). Invariants: an error names the file and a line; a parsed manifest
 * names only files inside its folder, formats and parses back to the same entries, and a compare
 * looks only inside the boot folder. (Records are kvfile's: fuzz_kvfile.) */
#include "fuzz.h"

#include "beneath.h"
#include "fileio.h"
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char boot[512];
        static int bfd = -1;
        static const char file[] = "gen-1/SHA256SUMS";
        struct manifest m, m2;
        struct strbuf report = {0};
        struct error e;
        char *out = NULL;
        size_t out_len = 0;
        int r;

        if (bfd < 0) {
                char path[600];

                snprintf(boot, sizeof(boot), "%s/boot", fuzz_tmpdir());
                if (mkdir(boot, 0755) < 0)
                        abort();
                snprintf(path, sizeof(path), "%s/config.txt", boot);
                fuzz_write_file(path, "arm_64bit=1\n", 12);
                bfd = beneath_open_dir(boot);
                if (bfd < 0)
                        abort();
        }
        r = manifest_parse((const char *)data, size, file, &m, &e);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG, "manifest_parse: %d", r);
                FUZZ_CHECK(strncmp(e.msg, file, sizeof(file) - 1) == 0 &&
                               e.msg[sizeof(file) - 1] == ':',
                           "error does not name the file: %s", e.msg);
                return 0;
        }
        for (size_t i = 0; i < m.n; i++)
                FUZZ_CHECK(name_inside(m.e[i].name), "a name outside the folder: %s",
                           m.e[i].name);
        /* Only files inside the boot folder are looked at (a ../../dev/zero would never end). */
        r = manifest_compare_at(&m, bfd, &report);
        FUZZ_CHECK(r >= 0 && (size_t)r <= m.n, "compare: %d", r);
        FUZZ_CHECK(manifest_format(&m, &out, &out_len) == 0, "format");
        FUZZ_CHECK(manifest_parse(out, out_len, file, &m2, &e) == 0, "reparse: %s", e.msg);
        FUZZ_CHECK(m2.n == m.n, "round trip: %zu entries, was %zu", m2.n, m.n);
        for (size_t i = 0; i < m.n; i++)
                FUZZ_CHECK(!strcmp(m.e[i].name, m2.e[i].name) &&
                               !strcmp(m.e[i].sha256, m2.e[i].sha256),
                           "round trip changed entry %zu", i);
        free(out);
        sb_free(&report);
        manifest_free(&m);
        manifest_free(&m2);
        return 0;
}
