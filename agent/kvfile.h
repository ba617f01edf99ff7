/* The agent's small state files (generation records, the upgrade journal, the pending file, the
 * apt marker, the boot lock's holder) in one strict KEY=VALUE format, described by a field table:
 *
 *   - one "key=value" per line, every line ending in "\n" (a last line without it means the file
 *     was cut short: refused); "#" comments and empty lines are skipped; CRLF is read as LF;
 *   - a NUL or other control character, a duplicate key, a value longer than its field, a number
 *     or flag that does not parse, a name leaving its folder, a missing required key: refused
 *     with "FILE:LINE: what";
 *   - keys the table does not know are skipped: a newer agent may have added them.
 * Writing refuses what reading would refuse (a control character, a name leaving its folder),
 * so the agent never writes a file it cannot read back. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

enum kv_type {
        KV_STR,  /* char[size], any text without control characters */
        KV_NAME, /* char[size], "" or a path inside its folder (name_inside) */
        KV_UINT, /* unsigned */
        KV_LONG, /* long */
        KV_BOOL, /* bool, written 0 or 1 */
        KV_ENUM, /* int, the index of the value in choices */
};

#define KV_REQUIRED (1u << 0)
#define KV_NONZERO  (1u << 1) /* KV_UINT: 0 is not a value */

struct kv_field {
        const char *key;
        enum kv_type type;
        size_t offset;
        size_t size; /* KV_STR, KV_NAME: the buffer's size */
        unsigned flags;
        const char *const *choices; /* KV_ENUM: NULL-terminated */
};

#define KV_MEMBER_SIZE(type, member) sizeof(((type *)0)->member)
#define KV_STR_FIELD(type, member, flags)                                                          \
        {                                                                                          \
#member, KV_STR, offsetof(type, member), KV_MEMBER_SIZE(type, member), flags, NULL \
        }
#define KV_NAME_FIELD(type, member, flags)                                                         \
        {                                                                                          \
#member, KV_NAME, offsetof(type, member), KV_MEMBER_SIZE(type, member), flags,     \
                    NULL                                                                           \
        }
#define KV_UINT_FIELD(type, member, flags)                                                         \
        {                                                                                          \
#member, KV_UINT, offsetof(type, member), 0, flags, NULL                           \
        }
#define KV_LONG_FIELD(type, member, flags)                                                         \
        {                                                                                          \
#member, KV_LONG, offsetof(type, member), 0, flags, NULL                           \
        }
#define KV_BOOL_FIELD(type, member, flags)                                                         \
        {                                                                                          \
#member, KV_BOOL, offsetof(type, member), 0, flags, NULL                           \
        }
#define KV_ENUM_FIELD(type, member, flags, choices)                                                \
        {                                                                                          \
#member, KV_ENUM, offsetof(type, member), 0, flags, choices                        \
        }

/* Parses TEXT into OBJ, which the caller zeroed (fields not in the file stay 0). FILE names the
 * file in messages. */
int kv_parse(const char *text, size_t len, const char *file, const struct kv_field *fields,
             size_t n_fields, void *obj, struct error *err);

/* Formats OBJ, one line per field in table order. *OUT is malloc'ed and NUL-terminated. */
int kv_format(const struct kv_field *fields, size_t n_fields, const void *obj, char **out,
              size_t *out_len, struct error *err);

/* Reads NAME under DIRFD (never through a symlink, at most MAX bytes); DISPLAY names it in
 * messages. -ENOENT passes through with the message set. */
int kv_load_at(int dirfd, const char *name, const char *display, size_t max,
               const struct kv_field *fields, size_t n_fields, void *obj, struct error *err);

/* Formats OBJ and replaces NAME under DIRFD atomically (fsync, rename, fsync of the folder). */
int kv_save_at(int dirfd, const char *name, const struct kv_field *fields, size_t n_fields,
               const void *obj, mode_t mode, struct error *err);

/* The same for a path. */
int kv_load(const char *path, size_t max, const struct kv_field *fields, size_t n_fields, void *obj,
            struct error *err);
int kv_save(const char *path, const struct kv_field *fields, size_t n_fields, const void *obj,
            mode_t mode, struct error *err);
