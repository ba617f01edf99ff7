/* Just enough JSON for the agent's own files (status.json, transaction records) and for
 * --json output: an escaping writer and a small, bounded DOM parser. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* Appends S as a quoted JSON string; bytes that are not valid UTF-8 become U+FFFD. */
void json_put_string(struct strbuf *sb, const char *s);

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
        enum json_type type;
        bool boolean;
        double number;
        char *string;             /* JSON_STRING */
        char *key;                /* set when this value is a member of an object */
        struct json_value *child; /* first element or member */
        struct json_value *next;  /* next sibling */
};

/* Parses TEXT (LEN bytes). On error returns -EINVAL and writes "line N: reason" to ERR. */
int json_parse(const char *text, size_t len, struct json_value **out, char *err, size_t errsize);
void json_free(struct json_value *v);

/* Object member lookup; NULL when absent or V is not an object. */
const struct json_value *json_get(const struct json_value *v, const char *key);
/* Typed getters with a fallback for absent or mistyped members. */
const char *json_get_string(const struct json_value *v, const char *key, const char *fallback);
double json_get_number(const struct json_value *v, const char *key, double fallback);
bool json_get_bool(const struct json_value *v, const char *key, bool fallback);

/* Serialises V (pretty-printed, two-space indent) onto SB. */
void json_write(struct strbuf *sb, const struct json_value *v, int indent);
