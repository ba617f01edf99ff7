/* dpkg's database under a --root tree (dpkg.h), on files laid out as dpkg writes them:
 * /var/lib/dpkg/status stanzas and /var/lib/dpkg/info/PKG[:ARCH].list file lists. */
#include "testutil.h"

#include "dpkg.h"

static void test_lists_path(void **state)
{
        char *root = test_tmpdir(), *p;

        (void)state;
        assert_true(asprintf(&p, "mkdir -p %s/var/lib/dpkg/info", root) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        free(test_write(root, "var/lib/dpkg/info/raspberrypi-kernel.list",
                        "/.\n/boot\n/boot/kernel7.img\n/lib\n/lib/modules\n"
                        "/lib/modules/6.1.54-v7+\n/lib/modules/6.1.54-v7+/kernel\n"));
        free(test_write(root, "var/lib/dpkg/info/libfoo1:armhf.list",
                        "/.\n/usr/lib/modules/6.1.0-55-armmp\n"));
        free(test_write(root, "var/lib/dpkg/info/raspberrypi-kernel-headers.list",
                        "/.\n/lib/modules/6.1.55-v7+\n"));

        assert_int_equal(dpkg_lists_path(root, "raspberrypi-kernel", "/lib/modules/6.1.54-v7+"), 1);
        /* A line is a whole path: a prefix or a longer path is another file. */
        assert_int_equal(dpkg_lists_path(root, "raspberrypi-kernel", "/lib/modules/6.1.54"), 0);
        assert_int_equal(dpkg_lists_path(root, "raspberrypi-kernel", "/lib/modules/6.1.54-v7+/k"),
                         0);
        /* Only the package's own list: not one whose name it starts. */
        assert_int_equal(dpkg_lists_path(root, "raspberrypi-kernel", "/lib/modules/6.1.55-v7+"), 0);
        /* Multi-Arch lists are named PKG:ARCH.list. */
        assert_int_equal(dpkg_lists_path(root, "libfoo1", "/usr/lib/modules/6.1.0-55-armmp"), 1);
        /* Not installed: no list. A name with a slash is no package. */
        assert_int_equal(dpkg_lists_path(root, "linux-image-6.1.0-55-amd64", "/lib/modules"), 0);
        assert_int_equal(dpkg_lists_path(root, "../info/raspberrypi-kernel", "/boot"), 0);
        test_rmtree(root);
        free(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lists_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
