/* SHA-256 (FIPS 180-4), for boot-file manifests and comparing what the TFTP server serves. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE    65 /* 64 hex digits + NUL */

struct sha256_ctx {
        uint32_t state[8];
        uint64_t length; /* bytes hashed so far */
        uint8_t block[64];
        size_t used;
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t digest[SHA256_DIGEST_SIZE]);
void sha256_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char hex[SHA256_HEX_SIZE]);

/* Hashes a whole file (streaming, O_NOFOLLOW). Writes lower-case hex. */
int sha256_file(const char *path, char hex[SHA256_HEX_SIZE]);

/* Hashes what is left to read of an open file (64 KiB reads); does not close FD. */
int sha256_fd(int fd, char hex[SHA256_HEX_SIZE]);
