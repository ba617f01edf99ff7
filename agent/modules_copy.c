#include "modules_copy.h"

#include "beneath.h"
#include "fileio.h"
#include "generation.h"
#include "rootpath.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#define MODULES_DEPTH_MAX 16

static bool plain_version(const char *ver)
{
        return ver && ver[0] && ver[0] != '.' && !strchr(ver, '/') && name_inside(ver);
}

/* Copies every regular file below DIRFD (REL inside SRC_TOP) to DST_PREFIX/REL under DST_FD. */
static int copy_tree(int src_top, int dirfd, const char *rel, int dst_fd, const char *dst_prefix,
                     unsigned depth, struct error *err)
{
        _cleanup_close_ int dup_fd = -1;
        struct dirent *de;
        DIR *d;
        int n = 0, r = 0;

        if (depth > MODULES_DEPTH_MAX)
                return error_set(err, -ELOOP, "%s: folders nested too deep", rel);
        dup_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return error_set(err, -errno, "%s: %s", rel, strerror(errno));
        d = fdopendir(dup_fd);
        if (!d)
                return error_set(err, -errno, "%s: %s", rel, strerror(errno));
        dup_fd = -1; /* owned by D */
        while (r >= 0 && (de = readdir(d))) {
                _cleanup_free_ char *sub = NULL, *dst = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (asprintf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) < 0 ||
                    asprintf(&dst, "%s/%s", dst_prefix, sub) < 0) {
                        r = error_set(err, -ENOMEM, "out of memory");
                        break;
                }
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = error_set(err, -errno, "%s: %s", sub, strerror(errno));
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int fd = openat(
                            dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        if (fd < 0) {
                                r = error_set(err, -errno, "%s: %s", sub, strerror(errno));
                                break;
                        }
                        r = copy_tree(src_top, fd, sub, dst_fd, dst_prefix, depth + 1, err);
                        if (r > 0)
                                n += r;
                } else if (S_ISREG(st.st_mode)) {
                        r = beneath_copy(src_top, sub, dst_fd, dst, 0);
                        if (r < 0)
                                r = error_set(err, r, "copying %s to %s: %s", sub, dst,
                                              file_strerror(r));
                        else
                                n++;
                }
                /* Symlinks (build, source) and other kinds: not needed to boot. */
        }
        closedir(d);
        return r < 0 ? r : n;
}

int modules_save(const char *root, const char *ver, const char *boot_dir, unsigned gen, bool tmp,
                 struct error *err)
{
        _cleanup_free_ char *src = NULL, *prefix = NULL;
        _cleanup_close_ int sfd = -1, bfd = -1;

        if (!plain_version(ver))
                return error_set(err, -EINVAL, "kernel version '%s': not a folder name",
                                 ver ? ver : "");
        src = root_pathf(root, "/lib/modules/%s", ver);
        if (!src || asprintf(&prefix, "%s/gen-%u%s/%s/%s", GEN_STORE, gen, tmp ? ".tmp" : "",
                             MODULES_COPY_DIR, ver) < 0)
                return error_set(err, -ENOMEM, "out of memory");
        sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0)
                return error_set(err, -errno, "%s: %s", src, strerror(errno));
        bfd = beneath_open_dir(boot_dir);
        if (bfd < 0)
                return error_set(err, bfd, "%s: %s", boot_dir, strerror(-bfd));
        return copy_tree(sfd, sfd, "", bfd, prefix, 0, err);
}

/* The one folder name inside FD ("" when none). */
static int only_entry(int fd, char *name, size_t size)
{
        _cleanup_close_ int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        struct dirent *de;
        DIR *d;

        name[0] = '\0';
        if (dup_fd < 0)
                return -errno;
        d = fdopendir(dup_fd);
        if (!d)
                return -errno;
        dup_fd = -1;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        snprintf(name, size, "%s", de->d_name);
                        break;
                }
        closedir(d);
        return 0;
}

int modules_restore(const char *root, const char *boot_dir, unsigned gen, char *ver,
                    size_t ver_size, struct error *err)
{
        _cleanup_free_ char *saved = NULL, *lm = NULL, *tmpname = NULL, *oldname = NULL;
        _cleanup_close_ int bfd = -1, mfd = -1, vfd = -1, lmfd = -1;
        struct stat st;
        int r;

        ver[0] = '\0';
        if (asprintf(&saved, "%s/gen-%u/%s", GEN_STORE, gen, MODULES_COPY_DIR) < 0 ||
            !(lm = root_path(root, "/lib/modules")))
                return error_set(err, -ENOMEM, "out of memory");
        bfd = beneath_open_dir(boot_dir);
        if (bfd < 0)
                return error_set(err, bfd, "%s: %s", boot_dir, strerror(-bfd));
        mfd = openat_beneath(bfd, saved, O_RDONLY | O_DIRECTORY, 0);
        if (mfd == -ENOENT)
                return 0;
        if (mfd < 0)
                return error_set(err, mfd, "%s/%s: %s", boot_dir, saved, file_strerror(mfd));
        r = only_entry(mfd, ver, ver_size);
        if (r < 0 || !plain_version(ver))
                return error_set(err, r < 0 ? r : -EINVAL, "%s/%s: no kernel version folder",
                                 boot_dir, saved);
        vfd = openat(mfd, ver, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (vfd < 0)
                return error_set(err, -errno, "%s/%s/%s: %s", boot_dir, saved, ver,
                                 strerror(errno));
        r = mkdir_parents(lm, 0755);
        if (r < 0)
                return error_set(err, r, "%s: %s", lm, strerror(-r));
        lmfd = open(lm, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lmfd < 0)
                return error_set(err, -errno, "%s: %s", lm, strerror(errno));
        if (asprintf(&tmpname, ".netroot-restore-%s", ver) < 0 ||
            asprintf(&oldname, ".netroot-old-%s", ver) < 0)
                return error_set(err, -ENOMEM, "out of memory");
        (void)beneath_remove_tree(lmfd, tmpname);
        (void)beneath_remove_tree(lmfd, oldname);
        r = copy_tree(vfd, vfd, "", lmfd, tmpname, 0, err);
        if (r < 0)
                return r;
        /* The folder there now (the new kernel's files of that version, or a partial one) goes
         * aside, the copy takes its name, the aside folder goes. */
        if (fstatat(lmfd, ver, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            renameat(lmfd, ver, lmfd, oldname) < 0)
                return error_set(err, -errno, "%s/%s: %s", lm, ver, strerror(errno));
        if (renameat(lmfd, tmpname, lmfd, ver) < 0)
                return error_set(err, -errno, "%s/%s: %s", lm, ver, strerror(errno));
        (void)fsync_dir(lmfd);
        (void)beneath_remove_tree(lmfd, oldname);
        return 1;
}
