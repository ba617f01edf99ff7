/* The mount table: /proc/mounts and mountinfo, the mount holding a folder, an NFS mount's server
 * and exported folder (the boot folder's second witness of its serial). */
#include "testutil.h"

#include "mounts.h"
#include "util.h"

static const char mounts_text[] = "/dev/sda / ext4 rw 0 0\n"
                                  "proc /proc proc rw 0 0\n"
                                  "192.168.1.10:/tftpboot/0b615590 /boot nfs rw,vers=3,nolock 0 0\n"
                                  "[fd00::1]:/tftpboot/abc /mnt/my\\040boot nfs4 rw 0 0\n"
                                  "tmpfs /boot/firmware tmpfs rw 0 0\n"
                                  "broken line\n";

static void test_covering_and_server(void **state)
{
        struct mount_table t;
        const struct mount_entry *m;
        char host[64], folder[64];

        (void)state;
        assert_int_equal(mounts_parse(mounts_text, false, &t), 0);
        assert_int_equal(t.n, 5);
        m = mounts_covering(&t, "/boot");
        assert_true(mounts_is_nfs(m));
        assert_int_equal(mounts_nfs_server(m, host, sizeof(host)), 0);
        assert_string_equal(host, "192.168.1.10");
        assert_int_equal(mounts_nfs_folder(m, folder, sizeof(folder)), 0);
        assert_string_equal(folder, "0b615590");
        assert_ptr_equal(mounts_covering(&t, "/boot/sub"), m);
        m = mounts_covering(&t, "/mnt/my boot");
        assert_int_equal(mounts_nfs_server(m, host, sizeof(host)), 0);
        assert_string_equal(host, "[fd00::1]");
        /* A deeper non-NFS mount hides the NFS one. */
        assert_false(mounts_is_nfs(mounts_covering(&t, "/boot/firmware")));
        assert_string_equal(mounts_covering(&t, "/bootx")->target, "/");
        assert_null(mounts_at(&t, "/bootx"));
        assert_non_null(mounts_at(&t, "/boot/"));
        mounts_free(&t);
        assert_int_equal(mounts_parse("", false, &t), 0);
        assert_null(mounts_covering(&t, "/boot"));
        mounts_free(&t);
}

static void test_mountinfo(void **state)
{
        struct mount_table t;
        const struct mount_entry *m;

        (void)state;
        assert_int_equal(
            mounts_parse("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                         "30 22 0:40 / /boot rw,relatime shared:7 - nfs nas:/tftpboot/22bba2d2 "
                         "rw,vers=3\n"
                         "31 22 0:41 / /later rw - tmpfs tmpfs rw\n",
                         true, &t),
            0);
        m = mounts_at(&t, "/");
        assert_true(m->have_devno);
        assert_int_equal(m->major, 8);
        assert_int_equal(m->minor, 1);
        assert_string_equal(m->source, "/dev/sda1");
        m = mounts_at(&t, "/boot");
        assert_true(mounts_is_nfs(m));
        assert_string_equal(mounts_nfs_export(m), "/tftpboot/22bba2d2");
        mounts_free(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_covering_and_server),
            cmocka_unit_test(test_mountinfo),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
