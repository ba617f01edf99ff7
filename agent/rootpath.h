/* Every absolute path the agent touches goes through here, so that --root DIR confines
 * tests and the demo to a sandbox tree and never reaches the real machine. */
#pragma once

/* Returns a newly allocated path: ROOT + ABS, or a copy of ABS when ROOT is NULL, "" or "/".
 * ABS must be absolute. Returns NULL with errno set on failure. */
char *root_path(const char *root, const char *abs);

/* Like root_path but formats ABS first. */
char *root_pathf(const char *root, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For a folder given on the command line: an absolute DIR goes under ROOT like every other path,
 * a relative one (e.g. a Pi's folder on the NAS, "tftpboot/511e57f7") is taken as it is. */
char *root_path_arg(const char *root, const char *dir);
