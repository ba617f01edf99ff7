/* What dpkg says is installed under a --root tree (/var/lib/dpkg/status), for the preflight, the
 * hooks and doctor: whether a package is installed and at which version. Read only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* 1 when PKG is "install ok installed" (VER, when not NULL, gets its version), 0 when not (or
 * dpkg's status cannot be read), <0 on allocation failure. */
int dpkg_installed(const char *root, const char *pkg, char *ver, size_t size);

/* 1 when PKG's file list (/var/lib/dpkg/info/PKG.list or PKG:ARCH.list) has the line PATH, 0
 * when not (or no list: the package is not installed), <0 on allocation failure. Only PKG's own
 * list is read: "will dpkg touch PATH in this run" asks about the run's packages, not every
 * package on the system. */
int dpkg_lists_path(const char *root, const char *pkg, const char *path);
