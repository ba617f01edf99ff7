#include "testutil.h"

#include <fcntl.h>

#include "sha256.h"

static void hash_hex(const void *data, size_t len, char hex[SHA256_HEX_SIZE])
{
        struct sha256_ctx c;
        uint8_t d[SHA256_DIGEST_SIZE];

        sha256_init(&c);
        sha256_update(&c, data, len);
        sha256_final(&c, d);
        sha256_hex(d, hex);
}

/* FIPS 180-2 appendix B and the NIST example vectors (SHA256.pdf, "SHA-2 additional"). */
static void test_vectors(void **state)
{
        static const struct {
                const char *msg, *hex;
        } v[] = {
            {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
            {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
            {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
            {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
             "klmnopqrlmnopqrsmnopqrstnopqrstu",
             "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
        };
        char hex[SHA256_HEX_SIZE];

        (void)state;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                hash_hex(v[i].msg, strlen(v[i].msg), hex);
                assert_string_equal(hex, v[i].hex);
        }
}

static void test_million_a(void **state)
{
        static const char want[] =
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
        char *a = malloc(1000000), hex[SHA256_HEX_SIZE];
        struct sha256_ctx c;
        uint8_t d[SHA256_DIGEST_SIZE];

        (void)state;
        assert_non_null(a);
        memset(a, 'a', 1000000);
        hash_hex(a, 1000000, hex);
        assert_string_equal(hex, want);
        /* Streaming in odd pieces crosses every block-boundary case. */
        sha256_init(&c);
        for (size_t off = 0, step = 1; off < 1000000; step = step % 131 + 1) {
                size_t n = 1000000 - off < step ? 1000000 - off : step;
                sha256_update(&c, a + off, n);
                off += n;
        }
        sha256_final(&c, d);
        sha256_hex(d, hex);
        assert_string_equal(hex, want);
        free(a);
}

/* Lengths around the padding boundary (55, 56, 63, 64, 65 bytes) against sha256sum. */
static void test_padding_boundaries(void **state)
{
        static const size_t lens[] = {55, 56, 57, 63, 64, 65, 119, 120, 128};
        char *dir = test_tmpdir(), *path, *cmd, hex[SHA256_HEX_SIZE], want[SHA256_HEX_SIZE];
        char buf[128];
        FILE *p;

        (void)state;
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (char)('A' + i % 26);
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
                FILE *f;

                assert_true(asprintf(&path, "%s/m%zu", dir, lens[i]) > 0);
                f = fopen(path, "w");
                assert_non_null(f);
                assert_int_equal(fwrite(buf, 1, lens[i], f), lens[i]);
                fclose(f);
                assert_true(asprintf(&cmd, "sha256sum '%s'", path) > 0);
                p = popen(cmd, "r");
                assert_non_null(p);
                assert_int_equal(fscanf(p, "%64s", want), 1);
                pclose(p);
                hash_hex(buf, lens[i], hex);
                assert_string_equal(hex, want);
                free(cmd);
                free(path);
        }
        test_rmtree(dir);
        free(dir);
}

static void test_file_vs_sha256sum(void **state)
{
        char *dir = test_tmpdir(), *path, *cmd, *link, hex[SHA256_HEX_SIZE], want[SHA256_HEX_SIZE];
        FILE *p;

        (void)state;
        /* 200 KiB + 17 bytes: several 64 KiB reads and a ragged tail. */
        assert_true(asprintf(&path, "%s/random.bin", dir) > 0);
        assert_true(asprintf(&cmd, "head -c 204817 /dev/urandom > '%s'", path) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        assert_true(asprintf(&cmd, "sha256sum '%s'", path) > 0);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_int_equal(fscanf(p, "%64s", want), 1);
        pclose(p);
        free(cmd);
        assert_int_equal(sha256_file(path, hex), 0);
        assert_string_equal(hex, want);

        /* sha256_fd hashes the rest of an open file. */
        {
                int fd = open(path, O_RDONLY);
                assert_true(fd >= 0);
                assert_int_equal(sha256_fd(fd, hex), 0);
                close(fd);
                assert_string_equal(hex, want);
        }

        /* Never follows a symlink; a missing file is -ENOENT. */
        assert_true(asprintf(&link, "%s/link", dir) > 0);
        assert_int_equal(symlink(path, link), 0);
        assert_int_equal(sha256_file(link, hex), -ELOOP);
        free(link);
        assert_true(asprintf(&link, "%s/absent", dir) > 0);
        assert_int_equal(sha256_file(link, hex), -ENOENT);
        free(link);
        free(path);
        test_rmtree(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_vectors),
            cmocka_unit_test(test_million_a),
            cmocka_unit_test(test_padding_boundaries),
            cmocka_unit_test(test_file_vs_sha256sum),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
