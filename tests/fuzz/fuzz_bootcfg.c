/* config.txt: bootcfg_evaluate(), bootcfg_set_initramfs() and bootcfg_diff(), and with bit 6 of
 * byte 1 set a boot folder of several files: the rest is split at lines "--- NAME" into
 * config.txt (before the first) and the files NAME, written to a fresh folder and read with
 * bootcfg_files_load() (include followed). Byte 0 picks the Pi (model, tryboot, serial), the low
 * bits of byte 1 the initramfs name to set. Invariants: results stay in their bounds; an edit
 * changes one line or appends, in one file, re-evaluates to the requested file, and is
 * idempotent; a refusal says why. */
#include "fuzz.h"

#include "beneath.h"
#include "bootcfg.h"

#include <sys/stat.h>

static const char *const models[] = {
    "Raspberry Pi 3 Model B Rev 1.2", "Raspberry Pi 3 Model B Plus Rev 1.3",
    "Raspberry Pi 4 Model B Rev 1.4", "Raspberry Pi Zero 2 W Rev 1.0",
    "Raspberry Pi 5 Model B Rev 1.0", "Raspberry Pi Compute Module 4 Rev 1.0",
    "Raspberry Pi 400 Rev 1.0",       "Some other board",
};
static const char *const serials[] = {NULL, "511e57f7", "0x00000000511e57f7", "zz"};
static const char *const files[] = {"initrd.img-6.1.0-rpi7-rpi-v8", "initramfs8", "a",
                                    ("initrd.img-6.6.20+rpt-rpi-2712-with-a-rather-long-name-"
                                     "that-gets-close-to-the-firmware-line-limit-xx")};

static void check_result(const struct bootcfg_result *res, size_t len)
{
        FUZZ_TERMINATED(res->board);
        FUZZ_TERMINATED(res->kernel);
        FUZZ_TERMINATED(res->os_prefix);
        FUZZ_TERMINATED(res->cmdline);
        FUZZ_TERMINATED(res->initramfs_addr);
        FUZZ_CHECK(res->n_initramfs <= BOOTCFG_INITRAMFS_FILES_MAX, "%zu", res->n_initramfs);
        for (size_t i = 0; i < res->n_initramfs; i++)
                FUZZ_TERMINATED(res->initramfs[i]);
        FUZZ_CHECK(res->n_deciding <= BOOTCFG_DECIDING_MAX, "%zu", res->n_deciding);
        if (res->initramfs_from == BOOTCFG_INITRAMFS_LINE ||
            res->initramfs_from == BOOTCFG_INITRAMFS_RAMFSFILE)
                FUZZ_CHECK(res->initramfs_span_start <= res->initramfs_span_end &&
                               res->initramfs_span_end <= len,
                           "span %zu..%zu of %zu", res->initramfs_span_start,
                           res->initramfs_span_end, len);
}

static void check_diag(const struct bootcfg_diag *d)
{
        FUZZ_CHECK(d->n <= BOOTCFG_MSG_MAX, "%zu", d->n);
        for (size_t i = 0; i < d->n; i++)
                FUZZ_TERMINATED(d->msgs[i].text);
}

/* The edit touched one line (no line break inside the changed bytes) or only appended. */
static void check_edit_shape(const char *old, size_t old_len, const char *new_text, size_t new_len)
{
        size_t pre = 0, suf = 0;

        if (new_len >= old_len && memcmp(old, new_text, old_len) == 0)
                return;
        while (pre < old_len && pre < new_len && old[pre] == new_text[pre])
                pre++;
        while (suf < old_len - pre && suf < new_len - pre &&
               old[old_len - 1 - suf] == new_text[new_len - 1 - suf])
                suf++;
        FUZZ_CHECK(!memchr(old + pre, '\n', old_len - pre - suf) &&
                       !memchr(new_text + pre, '\n', new_len - pre - suf),
                   "edit at byte %zu crosses a line", pre);
}

/* Writes the files of a multi-file input into a fresh folder; returns it. */
static const char *write_folder(const char *text, size_t len)
{
        static char dir[600];
        static unsigned n;
        const char *p = text, *end = text + len;
        char name[128] = "config.txt", cmd[700];

        if (dir[0]) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        abort();
        }
        snprintf(dir, sizeof(dir), "%s/boot-%u", fuzz_tmpdir(), n++);
        if (mkdir(dir, 0755) < 0)
                abort();
        for (;;) {
                const char *mark = memmem(p, (size_t)(end - p), "\n--- ", 5);
                const char *stop = mark ? mark + 1 : end, *nl;
                char path[800];

                /* Only plain names: the harness writes files, it does not make folders. */
                if (name[0] && !strchr(name, '/') && bootcfg_name_inside(name)) {
                        snprintf(path, sizeof(path), "%s/%s", dir, name);
                        fuzz_write_file(path, p, (size_t)(stop - p));
                }
                if (!mark)
                        break;
                nl = memchr(mark + 5, '\n', (size_t)(end - mark - 5));
                if (!nl)
                        break;
                snprintf(name, sizeof(name), "%.*s",
                         (int)((size_t)(nl - mark - 5) < 100 ? (size_t)(nl - mark - 5) : 100),
                         mark + 5);
                p = nl + 1;
        }
        return dir;
}

static void fuzz_files(const char *text, size_t len, const struct bootcfg_target *pi,
                       const char *file)
{
        static struct bootcfg_files fs;
        static struct bootcfg_result res, res2;
        static struct bootcfg_diag diag;
        struct bootcfg_edit e, e2;
        const char *dir = write_folder(text, len);
        int r;

        bootcfg_diag_init(&diag, "config.txt");
        r = bootcfg_files_load(&fs, dir, "config.txt", &diag);
        check_diag(&diag);
        if (r < 0) {
                FUZZ_CHECK(bootcfg_diag_error(&diag) || r == -ENOENT, "load refused silently: %d",
                           r);
                bootcfg_files_free(&fs);
                return;
        }
        FUZZ_CHECK(fs.n >= 1 && fs.n <= BOOTCFG_FILES_MAX, "%zu files", fs.n);
        FUZZ_CHECK(bootcfg_evaluate_files(&fs, pi, &res, &diag) == 0, "evaluate");
        check_result(&res, res.initramfs_src < fs.n ? fs.files[res.initramfs_src].len : 0);
        FUZZ_CHECK(res.initramfs_src < fs.n, "initramfs_src %u of %zu", res.initramfs_src, fs.n);
        bootcfg_diag_init(&diag, "config.txt");
        r = bootcfg_files_set_initramfs(&fs, pi, file, &e, &diag);
        check_diag(&diag);
        if (r < 0) {
                FUZZ_CHECK(!e.text && bootcfg_diag_error(&diag), "refusal without reason: %d", r);
                bootcfg_files_free(&fs);
                return;
        }
        FUZZ_CHECK(e.src < fs.n && e.text && e.text[e.len] == '\0', "edit of file %u", e.src);
        check_edit_shape(fs.files[e.src].text, fs.files[e.src].len, e.text, e.len);
        FUZZ_CHECK(bootcfg_files_set_text(&fs, e.src, e.text, e.len) == 0, "set_text");
        bootcfg_diag_init(&diag, "config.txt");
        FUZZ_CHECK(bootcfg_evaluate_files(&fs, pi, &res2, &diag) == 0, "re-evaluate");
        FUZZ_CHECK(res2.n_initramfs == 1, "edited set loads %zu initramfs files", res2.n_initramfs);
        bootcfg_diag_init(&diag, "config.txt");
        FUZZ_CHECK(bootcfg_files_set_initramfs(&fs, pi, file, &e2, &diag) == 0,
                   "second edit changes something");
        free(e.text);
        free(e2.text);
        bootcfg_files_free(&fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct bootcfg_result res, res2;
        static struct bootcfg_diag diag;
        struct bootcfg_target pi;
        const char *file, *text;
        char *out = NULL, *out2 = NULL;
        size_t len, out_len = 0, out2_len = 0;
        int r, r2;

        if (size < 2)
                return 0;
        pi.model = models[data[0] & 7];
        pi.tryboot = data[0] & 8;
        pi.serial = serials[(data[0] >> 4) & 3];
        file = files[data[1] & 3];
        text = (const char *)data + 2;
        len = size - 2;
        if (data[1] & 0x40) {
                fuzz_files(text, len, &pi, file);
                return 0;
        }

        bootcfg_diag_init(&diag, "config.txt");
        r = bootcfg_evaluate(text, len, &pi, &res, &diag);
        FUZZ_CHECK(r == 0, "evaluate: %d", r);
        check_result(&res, len);
        check_diag(&diag);

        bootcfg_diag_init(&diag, "config.txt");
        r = bootcfg_set_initramfs(text, len, &pi, file, &out, &out_len, &diag);
        check_diag(&diag);
        if (r < 0) {
                FUZZ_CHECK(r == -E2BIG || r == -EOPNOTSUPP || r == -ENOTRECOVERABLE, "set_initramfs: %d",
                           r);
                FUZZ_CHECK(!out && bootcfg_diag_error(&diag),
                           "refusal without reason (%zu messages, %zu dropped)", diag.n,
                           diag.dropped);
                return 0;
        }
        FUZZ_CHECK(out && out[out_len] == '\0', "output not terminated");
        if (r == 0)
                FUZZ_CHECK(out_len == len && memcmp(out, text, len) == 0, "r=0 but text changed");
        check_edit_shape(text, len, out, out_len);

        /* The edited file boots FILE, and setting it again changes nothing. */
        bootcfg_diag_init(&diag, "config.txt");
        FUZZ_CHECK(bootcfg_evaluate(out, out_len, &pi, &res2, &diag) == 0, "re-evaluate");
        FUZZ_CHECK(res2.initramfs_from == BOOTCFG_INITRAMFS_LINE ||
                       res2.initramfs_from == BOOTCFG_INITRAMFS_RAMFSFILE,
                   "edited file loads no initramfs line (from=%d)", res2.initramfs_from);
        FUZZ_CHECK(res2.n_initramfs == 1, "edited file loads %zu initramfs files",
                   res2.n_initramfs);
        /* A name that does not fit with os_prefix is cut (after a warning about the line
         * length: such an os_prefix line is longer than the firmware reads anyway). */
        if (strlen(res2.os_prefix) + strlen(file) < BOOTCFG_NAME_MAX) {
                size_t il = strlen(res2.initramfs[0]), fl = strlen(file);
                FUZZ_CHECK(il >= fl && streq_tail(res2.initramfs[0], il, file, fl),
                           "edited file loads '%s', not '%s'", res2.initramfs[0], file);
        }
        bootcfg_diag_init(&diag, "config.txt");
        r2 = bootcfg_set_initramfs(out, out_len, &pi, file, &out2, &out2_len, &diag);
        FUZZ_CHECK(r2 == 0, "second set_initramfs: %d", r2);
        FUZZ_CHECK(out2_len == out_len && memcmp(out, out2, out_len) == 0, "not idempotent");

        {
                struct strbuf sb = {0};
                size_t changed = bootcfg_diff(text, len, out, out_len, &sb);
                FUZZ_CHECK((changed == 0) == (r == 0), "diff says %zu changes, r=%d", changed, r);
                sb_free(&sb);
        }
        free(out);
        free(out2);
        return 0;
}
