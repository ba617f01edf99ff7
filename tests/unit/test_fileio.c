#include "testutil.h"

#include "fileio.h"
#include "rootpath.h"

static void test_atomic_write(void **state)
{
        char *dir = test_tmpdir(), *path, *buf, *cmd;
        size_t len;
        struct stat st;

        (void)state;
        assert_true(asprintf(&path, "%s/config.txt", dir) > 0);
        assert_int_equal(file_write_atomic(path, "one\n", 4, 0640), 0);
        assert_int_equal(file_write_atomic(path, "two\r\nlines", 10, 0644), 0);
        assert_int_equal(file_read_all(path, 1024, &buf, &len), 0);
        assert_int_equal(len, 10);
        assert_memory_equal(buf, "two\r\nlines", 10);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);
        free(buf);
        /* No temp file is left behind. */
        assert_true(asprintf(&cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(path);
        test_rmtree(dir);
        free(dir);
}

static void test_symlink_refused(void **state)
{
        char *dir = test_tmpdir(), *target, *link, *buf;

        (void)state;
        target = test_write(dir, "victim", "precious\n");
        assert_true(asprintf(&link, "%s/config.txt", dir) > 0);
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(file_write_atomic(link, "evil", 4, 0644), -ELOOP);
        assert_int_equal(file_read_all(target, 1024, &buf, NULL), 0);
        assert_string_equal(buf, "precious\n");
        /* Writing one value never follows a planted symlink either. */
        assert_int_equal(file_write_value(link, "evil"), -ELOOP);
        free(buf);
        free(target);
        free(link);
        test_rmtree(dir);
        free(dir);
}

static void test_read_limits(void **state)
{
        char *dir = test_tmpdir(), *path, *buf = NULL, value[8];
        char big[10000];

        (void)state;
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        path = test_write(dir, "big", big);
        assert_int_equal(file_read_all(path, 100, &buf, NULL), -EFBIG);
        assert_null(buf);
        free(path);
        path = test_write(dir, "state", "LOGGED_IN\n");
        assert_int_equal(file_read_value(path, value, sizeof(value)), 0);
        assert_string_equal(value, "LOGGED_");
        free(path);
        assert_true(asprintf(&path, "%s/absent", dir) > 0);
        assert_int_equal(file_read_value(path, value, sizeof(value)), -ENOENT);
        assert_int_equal(file_write_value(path, "1"), -ENOENT);
        assert_int_equal(file_remove(path), 0);
        free(path);
        test_rmtree(dir);
        free(dir);
}

/* Planted at the temp names file_write_atomic tries: skipped (O_EXCL | O_NOFOLLOW), never
 * written through; with every name taken it gives up and the file keeps its content. */
static void test_temp_names_planted(void **state)
{
        char *dir = test_tmpdir(), *victim, *path, *buf, *link;

        (void)state;
        victim = test_write(dir, "victim", "precious\n");
        path = test_write(dir, "config.txt", "old\n");
        assert_true(asprintf(&link, "%s/.config.txt.%d.0.tmp", dir, (int)getpid()) > 0);
        assert_int_equal(symlink(victim, link), 0);
        free(link);
        assert_int_equal(file_write_atomic(path, "new\n", 4, 0644), 0);
        assert_int_equal(file_read_all(path, 1024, &buf, NULL), 0);
        assert_string_equal(buf, "new\n");
        free(buf);
        for (int i = 1; i < 100; i++) {
                assert_true(asprintf(&link, "%s/.config.txt.%d.%d.tmp", dir, (int)getpid(), i) > 0);
                assert_int_equal(symlink(victim, link), 0);
                free(link);
        }
        assert_int_equal(file_write_atomic(path, "newer\n", 6, 0644), -EEXIST);
        assert_int_equal(file_read_all(path, 1024, &buf, NULL), 0);
        assert_string_equal(buf, "new\n");
        free(buf);
        assert_int_equal(file_read_all(victim, 1024, &buf, NULL), 0);
        assert_string_equal(buf, "precious\n");
        free(buf);
        free(victim);
        free(path);
        test_rmtree(dir);
        free(dir);
}

/* The read for files in folders others can write: only a regular file, never through a link,
 * and a FIFO neither hangs nor is read. */
static void test_read_regular(void **state)
{
        char *dir = test_tmpdir(), *victim, *path, *buf = NULL;
        size_t len;

        (void)state;
        victim = test_write(dir, "victim", "secret\n");
        assert_int_equal(file_read_regular(victim, 1024, &buf, &len), 0);
        assert_int_equal(len, 7);
        free(buf);
        buf = NULL;
        assert_true(asprintf(&path, "%s/link", dir) > 0);
        assert_int_equal(symlink(victim, path), 0);
        assert_int_equal(file_read_regular(path, 1024, &buf, &len), -ELOOP);
        assert_null(buf);
        assert_string_equal(file_strerror(-ELOOP), "a symlink (refused, never followed)");
        /* the plain read still follows: /proc/mounts is a symlink on every system */
        assert_int_equal(file_read_all(path, 1024, &buf, &len), 0);
        free(buf);
        buf = NULL;
        free(path);
        assert_true(asprintf(&path, "%s/fifo", dir) > 0);
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(file_read_regular(path, 1024, &buf, &len), -EINVAL);
        assert_string_equal(file_strerror(-EINVAL), "not a regular file");
        assert_int_equal(file_read_regular(dir, 1024, &buf, &len), -EISDIR);
        assert_null(buf);
        /* a folder where a file is to be replaced */
        assert_int_equal(file_write_atomic(dir, "x", 1, 0644), -EISDIR);
        free(path);
        free(victim);
        test_rmtree(dir);
        free(dir);
}

/* NUL bytes, a 1 MiB line and invalid UTF-8 come back byte for byte, with their length: the
 * parsers, not the reader, judge them (and see the NUL through LEN). An empty file is 0 bytes. */
static void test_read_odd_content(void **state)
{
        char *dir = test_tmpdir(), *path, *buf = NULL, *big;
        const char odd[] = "a\0b\xff\xfe\xc3(\n";
        size_t len;
        FILE *f;

        (void)state;
        assert_true(asprintf(&path, "%s/odd", dir) > 0);
        f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(odd, 1, sizeof(odd) - 1, f), sizeof(odd) - 1);
        fclose(f);
        assert_int_equal(file_read_regular(path, 1024, &buf, &len), 0);
        assert_int_equal(len, sizeof(odd) - 1);
        assert_memory_equal(buf, odd, len);
        free(buf);
        big = malloc(1024 * 1024 + 1);
        assert_non_null(big);
        memset(big, 'x', 1024 * 1024);
        big[1024 * 1024] = '\0';
        assert_int_equal(file_write_atomic(path, big, 1024 * 1024, 0644), 0);
        assert_int_equal(file_read_regular(path, 64 * 1024, &buf, &len), -EFBIG);
        assert_int_equal(file_read_regular(path, 2 * 1024 * 1024, &buf, &len), 0);
        assert_int_equal(len, 1024 * 1024);
        free(buf);
        free(big);
        assert_int_equal(file_write_atomic(path, "", 0, 0644), 0);
        assert_int_equal(file_read_regular(path, 1024, &buf, &len), 0);
        assert_int_equal(len, 0);
        assert_string_equal(buf, "");
        free(buf);
        free(path);
        test_rmtree(dir);
        free(dir);
}

static void test_root_path(void **state)
{
        char *p;

        (void)state;
        p = root_path(NULL, "/etc/netroot/agent.conf");
        assert_string_equal(p, "/etc/netroot/agent.conf");
        free(p);
        p = root_path("/", "/boot");
        assert_string_equal(p, "/boot");
        free(p);
        p = root_path("/tmp/sandbox//", "/boot/config.txt");
        assert_string_equal(p, "/tmp/sandbox/boot/config.txt");
        free(p);
        p = root_pathf("/s", "/sys/class/leds/%s/trigger", "ACT");
        assert_string_equal(p, "/s/sys/class/leds/ACT/trigger");
        free(p);
        assert_null(root_path("/s", "relative/path"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_atomic_write), cmocka_unit_test(test_symlink_refused),
            cmocka_unit_test(test_read_limits),  cmocka_unit_test(test_temp_names_planted),
            cmocka_unit_test(test_read_regular), cmocka_unit_test(test_read_odd_content),
            cmocka_unit_test(test_root_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
