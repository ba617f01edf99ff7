/* sha256sum(1) manifests ("<64 hex digits>  <name>" per line): what a generation saved, what the
 * Pi booted, what a firmware backup holds. One reader and writer for all of them. Names are
 * paths inside the folder the manifest describes, checked when read and when written. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "sha256.h"
#include "strbuf.h"

#define MANIFEST_MAX (1024 * 1024)

struct manifest_entry {
        char *name;
        char sha256[SHA256_HEX_SIZE];
};

struct manifest {
        struct manifest_entry *e;
        size_t n;
};

void manifest_free(struct manifest *m);

int manifest_parse(const char *text, size_t len, const char *file, struct manifest *m,
                   struct error *err);
int manifest_format(const struct manifest *m, char **out, size_t *len);

/* NAME under DIRFD (never through a symlink); DISPLAY names it in messages. */
int manifest_load_at(int dirfd, const char *name, const char *display, struct manifest *m,
                     struct error *err);
int manifest_save_at(int dirfd, const char *name, const struct manifest *m, struct error *err);

/* Adds NAME with SHA (or replaces its entry). -EXDEV when NAME leaves the folder. */
int manifest_add(struct manifest *m, const char *name, const char *sha);

/* Hashes NAME under DIRFD and adds it. Returns 1 added, 0 when the file does not exist, <0. */
int manifest_add_file(struct manifest *m, int dirfd, const char *name);

const struct manifest_entry *manifest_find(const struct manifest *m, const char *name);

/* Compares every entry with the file under DIRFD: returns how many are missing, unreadable or
 * changed, each named in REPORT ("NAME: changed"), one per line. */
int manifest_compare_at(const struct manifest *m, int dirfd, struct strbuf *report);
