/* Fetches a file from a TFTP server with libcurl and hashes it on the fly: the proof that the
 * server the Pi boots from serves what the agent wrote. */
#pragma once

#include <stdint.h>

#include "sha256.h"

struct tftp_fetch_result {
        uint64_t bytes;
        char sha256[SHA256_HEX_SIZE];
        double seconds;
        char error[256]; /* plain words when the fetch failed ("file not found on server …") */
};

/* Fetches tftp://SERVER/PATH (SERVER is HOST or HOST:PORT; PATH relative to the TFTP root, e.g.
 * "511e57f7/config.txt") within TIMEOUT_MS. Returns 0, -ENOENT when the server says the file is
 * missing, -ETIMEDOUT, -ECONNREFUSED or -EIO (RESULT->error says more). */
int tftp_fetch_sha256(const char *server, const char *path, unsigned timeout_ms,
                      struct tftp_fetch_result *result);
