/* Small initramfs files for the unit tests (test_initrd, test_upgrade): a newc writer and an
 * initramfs like Debian's (uncompressed early cpio, then a compressed main archive) with what
 * the initrd check wants for an iSCSI root, or without parts of it (FLAGS). */
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/wait.h>
#include <unistd.h>

#include "initrd.h"
#include "util.h"

extern char **environ;

/* ---- a tiny newc writer ---- */

struct cw {
        unsigned char *buf;
        size_t len, cap;
};

static inline void cw_put(struct cw *w, const void *p, size_t n)
{
        if (w->len + n > w->cap) {
                w->cap = (w->len + n) * 2 + 64;
                w->buf = realloc(w->buf, w->cap);
                assert_non_null(w->buf);
        }
        memcpy(w->buf + w->len, p, n);
        w->len += n;
}

static inline void cw_align(struct cw *w, size_t to)
{
        static const unsigned char zeros[512];

        while (w->len % to)
                cw_put(w, zeros, MIN(sizeof(zeros), to - w->len % to));
}

static inline void cw_entry(struct cw *w, const char *name, unsigned mode, const char *data)
{
        size_t size = data ? strlen(data) : 0;
        char hdr[CPIO_HEADER_SIZE + 1];

        snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X",
                 1u, mode, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, strlen(name) + 1, 0u);
        cw_put(w, hdr, CPIO_HEADER_SIZE);
        cw_put(w, name, strlen(name) + 1);
        cw_align(w, 4);
        if (size)
                cw_put(w, data, size);
        cw_align(w, 4);
}

static inline void cw_trailer(struct cw *w)
{
        cw_entry(w, "TRAILER!!!", 0, NULL);
}

static inline void write_file(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        close(fd);
}

/* Runs TOOL -c < IN and appends its output to OUT. */
static inline void compress_append(const char *tool, const char *in, const char *out)
{
        posix_spawn_file_actions_t fa;
        char *argv[] = {(char *)tool, "-c", "-q", NULL};
        pid_t pid;
        int status;

        if (streq(tool, "gzip"))
                argv[2] = "-n";
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_APPEND, 0);
        assert_int_equal(posix_spawnp(&pid, tool, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

enum { WITH_SD_MOD = 1, SD_MOD_BUILTIN = 2, NO_ISCSISTART = 4, WITH_CONF = 8 };

/* An initramfs like Debian's: uncompressed early cpio, then a compressed main archive. */
static inline void testinitrd_make(const char *dir, const char *path, const char *tool,
                                   const char *kv, unsigned flags)
{
        char main_path[PATH_MAX], km[256], name[320];
        struct cw early = {0}, m = {0};

        snprintf(km, sizeof(km), "usr/lib/modules/%s/kernel/", kv);

        cw_entry(&early, "kernel", 040755, NULL);
        cw_entry(&early, "kernel/x86/microcode/AuthenticAMD.bin", 0100644, "ucode!");
        cw_trailer(&early);
        cw_align(&early, 512);
        write_file(path, early.buf, early.len);

        cw_entry(&m, ".", 040755, NULL);
        cw_entry(&m, "lib", 0120777, "usr/lib");
        if (!(flags & NO_ISCSISTART))
                cw_entry(&m, "usr/sbin/iscsistart", 0100755, "ELF");
        if (flags & WITH_CONF)
                cw_entry(&m, "etc/iscsi.initramfs", 0100644, "ISCSI_TARGET_NAME=iqn.x\n");
        snprintf(name, sizeof(name), "usr/lib/modules/%s", kv);
        cw_entry(&m, name, 040755, NULL);
        snprintf(name, sizeof(name), "%sdrivers/scsi/iscsi_tcp.ko", km);
        cw_entry(&m, name, 0100644, "m");
        snprintf(name, sizeof(name), "%sdrivers/scsi/libiscsi.ko.zst", km);
        cw_entry(&m, name, 0100644, "m");
        snprintf(name, sizeof(name), "%sdrivers/scsi/libiscsi_tcp.ko.xz", km);
        cw_entry(&m, name, 0100644, "m");
        snprintf(name, sizeof(name), "%sdrivers/scsi/scsi_transport_iscsi.ko", km);
        cw_entry(&m, name, 0100644, "m");
        if (flags & WITH_SD_MOD) {
                snprintf(name, sizeof(name), "%sdrivers/scsi/sd_mod.ko", km);
                cw_entry(&m, name, 0100644, "m");
        }
        snprintf(name, sizeof(name), "%sdrivers/net/usb/smsc95xx.ko", km);
        cw_entry(&m, name, 0100644, "m");
        snprintf(name, sizeof(name), "%sarch/x86/crypto/crc32c-intel.ko", km);
        cw_entry(&m, name, 0100644, "m");
        snprintf(name, sizeof(name), "usr/lib/modules/%s/modules.builtin", kv);
        cw_entry(&m, name, 0100644,
                 (flags & SD_MOD_BUILTIN)
                     ? "kernel/fs/ext4/ext4.ko\nkernel/drivers/scsi/sd_mod.ko\n"
                     : "kernel/fs/ext4/ext4.ko\n");
        cw_trailer(&m);
        snprintf(main_path, sizeof(main_path), "%s/main.cpio", dir);
        write_file(main_path, m.buf, m.len);
        compress_append(tool, main_path, path);
        free(early.buf);
        free(m.buf);
}
