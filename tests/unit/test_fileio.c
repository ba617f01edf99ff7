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
            cmocka_unit_test(test_atomic_write),
            cmocka_unit_test(test_symlink_refused),
            cmocka_unit_test(test_read_limits),
            cmocka_unit_test(test_root_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
