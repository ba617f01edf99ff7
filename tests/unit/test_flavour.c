/* Kernel flavour table, raspi-firmware detection and the /proc/mounts NFS lookup. */
#include "testutil.h"

#include "bootcfg.h"
#include "flavour.h"

static void test_kind_for_version(void **state)
{
        (void)state;
        assert_string_equal(flavour_kind_for_version("4.4.27-v7+")->image, "kernel7.img");
        assert_string_equal(flavour_kind_for_version("6.1.21+")->image, "kernel.img");
        assert_string_equal(flavour_kind_for_version("5.10.63-v8+")->image, "kernel8.img");
        assert_string_equal(flavour_kind_for_version("6.1.21-v7l+")->image, "kernel7l.img");
        assert_string_equal(flavour_kind_for_version("6.1.0-rpi7-rpi-v8")->image, "kernel8.img");
        assert_string_equal(flavour_kind_for_version("6.6.51+rpt-rpi-v7")->image, "kernel7.img");
        assert_string_equal(flavour_kind_for_version("6.6.51+rpt-rpi-2712")->image,
                            "kernel_2712.img");
        assert_null(flavour_kind_for_version("6.1.0-50-amd64"));
        assert_string_equal(flavour_kind_for_image("kernel7.img")->image, "kernel7.img");
        assert_string_equal(flavour_kind_for_image("sub/kernel8.img")->image, "kernel8.img");
        assert_null(flavour_kind_for_image("vmlinuz-6.1.0-50-amd64"));
}

static void test_debian_style(void **state)
{
        (void)state;
        assert_string_equal(flavour_explicit_version("vmlinuz-6.1.0-50-amd64"), "6.1.0-50-amd64");
        assert_null(flavour_explicit_version("vmlinuz"));
        assert_null(flavour_explicit_version("kernel7.img"));
        assert_string_equal(flavour_debian_suffix("6.1.0-50-amd64"), "amd64");
        assert_string_equal(flavour_debian_suffix("6.1.0-rpi7-rpi-v8"), "rpi-v8");
        assert_string_equal(flavour_debian_suffix("6.12.12+bpo-amd64"), "amd64");
        assert_null(flavour_debian_suffix("6.1.21+"));
}

static void eval(const char *text, struct bootcfg_result *res)
{
        struct bootcfg_target pi = {.model = "Raspberry Pi 3 Model B Rev 1.2",
                                    .serial = "511e57f7"};
        struct bootcfg_diag diag;

        bootcfg_diag_init(&diag, "config.txt");
        assert_int_equal(bootcfg_evaluate(text, strlen(text), &pi, res, &diag), 0);
}

static void test_detect(void **state)
{
        char *root = test_tmpdir(), why[512], ver[128], *p;
        struct bootcfg_result res;
        struct flavour f;

        (void)state;
        /* Raspbian: an initramfs line, 32-bit Pi 3 default kernel7.img. */
        eval("initramfs initrd.img-4.4.27-v7+ followkernel\n", &res);
        assert_int_equal(flavour_detect(root, root, &res, &f, why, sizeof(why)), 0);
        assert_string_equal(f.raspi_firmware_evidence, "");
        assert_string_equal(f.kind->image, "kernel7.img");
        assert_string_equal(f.initramfs_current, "initrd.img-4.4.27-v7+");
        /* Newest matching /lib/modules: -v8+ and amd64 do not fit kernel7.img. */
        assert_int_equal(system("true"), 0);
        assert_true(asprintf(&p,
                             "mkdir -p %s/lib/modules/4.4.27-v7+ %s/lib/modules/4.4.50-v7+ "
                             "%s/lib/modules/4.4.9-v7+ %s/lib/modules/4.9.1-v8+ "
                             "%s/lib/modules/6.1.0-50-amd64",
                             root, root, root, root, root) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        assert_int_equal(flavour_newest_version(root, &f, ver, sizeof(ver)), 0);
        assert_string_equal(ver, "4.4.50-v7+");
        assert_true(flavour_version_matches(&f, "4.4.9-v7+"));
        assert_false(flavour_version_matches(&f, "4.9.1-v8+"));

        /* Bookworm: auto_initramfs with arm_64bit. */
        eval("auto_initramfs=1\narm_64bit=1\n", &res);
        assert_int_equal(flavour_detect(root, root, &res, &f, why, sizeof(why)), 0);
        assert_string_equal(f.kind->image, "kernel8.img");
        assert_string_equal(f.initramfs_current, "initramfs8");

        /* Debian-style explicit kernel, then Debian's raspi-firmware. */
        eval("kernel=vmlinuz-6.1.0-50-amd64\ninitramfs initrd.img-6.1.0-50-amd64\n", &res);
        assert_int_equal(flavour_detect(root, root, &res, &f, why, sizeof(why)), 0);
        assert_null(f.kind);
        assert_string_equal(f.explicit_version, "6.1.0-50-amd64");
        assert_string_equal(f.raspi_firmware_evidence, "");
        assert_true(flavour_version_matches(&f, "6.1.0-51-amd64"));
        assert_false(flavour_version_matches(&f, "6.1.0-51-arm64"));
        free(test_write(root, "etc-default-raspi-firmware", ""));
        assert_true(
            asprintf(&p,
                     "mkdir -p %s/etc/default %s/boot && mv "
                     "%s/etc-default-raspi-firmware %s/etc/default/raspi-firmware "
                     "&& touch %s/boot/vmlinuz-6.1.0-50-amd64 "
                     "%s/boot/vmlinuz-6.1.0-9-amd64 %s/boot/vmlinuz-6.1.0-60-amd64.dpkg-bak",
                     root, root, root, root, root, root, root) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        assert_int_equal(flavour_detect(root, root, &res, &f, why, sizeof(why)), 0);
        assert_string_equal(f.raspi_firmware_evidence, "/etc/default/raspi-firmware");
        assert_int_equal(flavour_raspi_firmware_choice(root, ver, sizeof(ver)), 0);
        assert_string_equal(ver, "6.1.0-50-amd64");

        /* A kernel file of its own name (a self-built kernel copied over kernel-custom.img):
         * the version is the one its banner declares. */
        free(test_write(root, "kernel-custom.img",
                        "arm64 Image... Linux version 6.6.51-v8+ (me@host) (gcc) #1\n"));
        eval("kernel=kernel-custom.img\ninitramfs initrd.img-6.6.50-v8+ followkernel\n", &res);
        assert_int_equal(flavour_detect(root, root, &res, &f, why, sizeof(why)), 0);
        assert_null(f.kind);
        assert_true(f.version_from_image);
        assert_string_equal(f.explicit_version, "6.6.51-v8+");
        assert_non_null(strstr(f.description, "read from the image"));
        assert_true(flavour_version_matches(&f, "6.6.51-v8+"));
        free(test_write(root, "kernel-custom.img", "\x1f\x8b\x08 gzip"));
        assert_int_equal(flavour_detect(root, root, &res, &f, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "gzip"));

        /* A kernel file the agent does not understand. */
        eval("kernel=u-boot.bin\n", &res);
        assert_int_equal(flavour_detect(root, root, &res, &f, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "u-boot.bin"));
        test_rmtree(root);
        free(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_kind_for_version),
            cmocka_unit_test(test_debian_style),
            cmocka_unit_test(test_detect),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
