/* Every absolute path the agent touches goes through here, so that --root DIR confines
 * tests and the demo to a sandbox tree and never reaches the real machine. */
#pragma once

/* Returns a newly allocated path: ROOT + ABS, or a copy of ABS when ROOT is NULL, "" or "/".
 * ABS must be absolute. Returns NULL with errno set on failure. */
char *root_path(const char *root, const char *abs);

/* Like root_path but formats ABS first. */
char *root_pathf(const char *root, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
