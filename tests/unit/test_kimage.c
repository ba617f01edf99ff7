/* The release a kernel image declares (kimage.h), on files built from the real formats: the x86
 * setup header (Documentation/arch/x86/boot.rst) and the "Linux version" banner of an
 * uncompressed arm64 Image. */
#include "testutil.h"

#include "beneath.h"
#include "kimage.h"

#include <fcntl.h>
#include <unistd.h>

static void write_bytes(const char *dir, const char *name, const void *data, size_t len)
{
        char *p;
        int fd;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        close(fd);
        free(p);
}

static int release_of(const char *dir, const char *name, char *rel, char *why)
{
        int dfd = beneath_open_dir(dir), r;

        assert_true(dfd >= 0);
        r = kimage_release(dfd, name, rel, 128, why, 256);
        close(dfd);
        return r;
}

static void test_bzimage(void **state)
{
        static const char text[] = "6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP "
                                   "PREEMPT_DYNAMIC Debian 6.1.192-2";
        char *dir = test_tmpdir(), rel[128], why[256];
        unsigned char *img = calloc(1, 0x4000);
        unsigned off = 0x3000 - 0x200;

        (void)state;
        memcpy(img + 0x202, "HdrS", 4);
        img[0x206] = 0x0f, img[0x207] = 0x02; /* boot protocol 2.15 */
        img[0x20e] = off & 0xff, img[0x20f] = off >> 8;
        memcpy(img + 0x3000, text, sizeof(text));
        write_bytes(dir, "kernel-lab.img", img, 0x4000);
        assert_int_equal(release_of(dir, "kernel-lab.img", rel, why), 0);
        assert_string_equal(rel, "6.1.0-56-amd64");

        /* Boot protocol 1.x has no kernel_version field: no release, and no guess. */
        img[0x207] = 0x01;
        write_bytes(dir, "old.img", img, 0x4000);
        assert_int_equal(release_of(dir, "old.img", rel, why), -ENODATA);
        free(img);
        test_rmtree(dir);
        free(dir);
}

static void test_banner(void **state)
{
        /* The banner straddles the scanner's 1 MiB chunks; a printk format before it
         * ("Linux version %s") is no release. */
        static const char fmt[] = "Linux version %s (%s)";
        static const char banner[] = "Linux version 6.6.51-v8+ (builder@host) (gcc 12) #1 SMP";
        size_t len = (3u << 20) + 4096, at = (1u << 20) - 10;
        char *dir = test_tmpdir(), rel[128], why[256];
        unsigned char *img = calloc(1, len);

        (void)state;
        memcpy(img + 0x38, "ARM\x64", 4); /* arm64 Image header magic */
        memcpy(img + 4096, fmt, sizeof(fmt) - 1);
        memcpy(img + at, banner, sizeof(banner) - 1);
        write_bytes(dir, "kernel-custom.img", img, len);
        assert_int_equal(release_of(dir, "kernel-custom.img", rel, why), 0);
        assert_string_equal(rel, "6.6.51-v8+");
        free(img);
        test_rmtree(dir);
        free(dir);
}

static void test_unreadable(void **state)
{
        static const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3};
        unsigned char zimage[0x400] = {0};
        char *dir = test_tmpdir(), rel[128], why[256], *p;

        (void)state;
        write_bytes(dir, "vmlinuz", gz, sizeof(gz));
        assert_int_equal(release_of(dir, "vmlinuz", rel, why), -ENODATA);
        assert_non_null(strstr(why, "gzip"));
        zimage[0x24] = 0x18, zimage[0x25] = 0x28, zimage[0x26] = 0x6f, zimage[0x27] = 0x01;
        write_bytes(dir, "kernel-custom.img", zimage, sizeof(zimage));
        assert_int_equal(release_of(dir, "kernel-custom.img", rel, why), -ENODATA);
        assert_non_null(strstr(why, "zImage"));
        free(test_write(dir, "u-boot.bin", "U-Boot 2023.01 for rpi\n"));
        assert_int_equal(release_of(dir, "u-boot.bin", rel, why), -ENODATA);
        assert_non_null(strstr(why, "u-boot.bin"));
        assert_int_equal(release_of(dir, "missing.img", rel, why), -ENOENT);
        /* A name leading out of the boot folder is not followed. */
        assert_true(asprintf(&p, "ln -s /etc/hostname %s/link.img", dir) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        assert_true(release_of(dir, "link.img", rel, why) < 0);
        assert_int_equal(release_of(dir, "../x.img", rel, why), -EXDEV);
        test_rmtree(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bzimage),
            cmocka_unit_test(test_banner),
            cmocka_unit_test(test_unreadable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
