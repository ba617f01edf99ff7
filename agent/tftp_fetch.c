/* TFTP fetch with libcurl, hashed on the fly: nothing is written to disk.
 *
 * curl_global_init() is not called here: curl_easy_init() performs it implicitly when nobody
 * did (libcurl 7.88). That implicit init is not thread-safe, which is acceptable because only
 * netrootctl, a single-threaded program, fetches over TFTP; the daemon never links libcurl. */
#include "tftp_fetch.h"
#include "util.h"

#include <curl/curl.h>
#include <time.h>

/* 8192-byte blocks: ten times faster than 1468 on loopback (FACTS.md) and served by tftpd-hpa
 * and dnsmasq; a server that refuses the option makes libcurl fall back to 512. */
#define TFTP_BLKSIZE 8192

struct fetch_state {
        struct sha256_ctx sha;
        uint64_t bytes;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct fetch_state *st = userdata;
        size_t len = size * nmemb;

        sha256_update(&st->sha, ptr, len);
        st->bytes += len;
        return len;
}

static double mono_sec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Only printable ASCII, so a hostile server name or path cannot forge lines in a log. */
static bool text_printable(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
                        return false;
        return true;
}

/* One transfer. NO_OPTIONS sends a plain RRQ (512-byte blocks, no tsize). */
static CURLcode fetch_once(const char *url, unsigned timeout_ms, bool no_options,
                           struct fetch_state *st, char errbuf[CURL_ERROR_SIZE])
{
        CURL *curl;
        CURLcode rc;

        curl = curl_easy_init();
        if (!curl)
                return CURLE_FAILED_INIT;
        sha256_init(&st->sha);
        st->bytes = 0;
        errbuf[0] = '\0';
        if ((rc = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf)) != CURLE_OK ||
            (rc = curl_easy_setopt(curl, CURLOPT_URL, url)) != CURLE_OK ||
            (rc = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "tftp")) != CURLE_OK ||
            (rc = curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "tftp")) != CURLE_OK ||
            (rc = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms)) != CURLE_OK ||
            (rc = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms)) !=
                CURLE_OK ||
            (rc = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
            (rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data)) != CURLE_OK ||
            (rc = curl_easy_setopt(curl, CURLOPT_WRITEDATA, st)) != CURLE_OK)
                goto out;
        if (no_options)
                rc = curl_easy_setopt(curl, CURLOPT_TFTP_NO_OPTIONS, 1L);
        else
                rc = curl_easy_setopt(curl, CURLOPT_TFTP_BLKSIZE, (long)TFTP_BLKSIZE);
        if (rc != CURLE_OK)
                goto out;
        rc = curl_easy_perform(curl);
out:
        curl_easy_cleanup(curl);
        return rc;
}

/* RC (not CURLE_OK) in words in RESULT->error, as a negative errno. */
static int fetch_error(CURLcode rc, const char *server, const char *path, unsigned timeout_ms,
                       const char *errbuf, struct tftp_fetch_result *result)
{
        switch (rc) {
        case CURLE_FAILED_INIT:
                snprintf(result->error, sizeof(result->error), "cannot initialise libcurl");
                return -ENOMEM;
        case CURLE_TFTP_NOTFOUND:
                /* curl's own text for this code is misleading (FACTS.md) */
                snprintf(result->error, sizeof(result->error),
                         "file %s not found on TFTP server %s", path, server);
                return -ENOENT;
        case CURLE_OPERATION_TIMEDOUT:
                snprintf(result->error, sizeof(result->error),
                         "no answer from TFTP server %s within %g s", server, timeout_ms / 1000.0);
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                snprintf(result->error, sizeof(result->error),
                         "TFTP server %s refused the connection", server);
                return -ECONNREFUSED;
        case CURLE_TFTP_PERM:
                snprintf(result->error, sizeof(result->error), "TFTP server %s denies access to %s",
                         server, path);
                return -EIO;
        default:
                /* libcurl 7.88 leaves a stale "getpeername() failed" in the error buffer of
                 * TFTP transfers (curl PR #11332): its generic text is then the better one. */
                snprintf(result->error, sizeof(result->error), "TFTP fetch of %s from %s: %.120s",
                         path, server,
                         errbuf[0] && strncmp(errbuf, "getpeername", 11) != 0
                             ? errbuf
                             : curl_easy_strerror(rc));
                return -EIO;
        }
}

int tftp_fetch_sha256(const char *server, const char *path, unsigned timeout_ms,
                      struct tftp_fetch_result *result)
{
        _cleanup_free_ char *url = NULL;
        char errbuf[CURL_ERROR_SIZE];
        struct fetch_state st;
        uint8_t digest[SHA256_DIGEST_SIZE];
        CURLcode rc;
        double t0;

        if (!result)
                return -EINVAL;
        memset(result, 0, sizeof(*result));
        if (str_empty(server) || str_empty(path) || timeout_ms == 0 || !text_printable(server) ||
            !text_printable(path) || strchr(server, '/')) {
                snprintf(result->error, sizeof(result->error), "invalid TFTP server or path");
                return -EINVAL;
        }
        while (*path == '/')
                path++;
        if (asprintf(&url, "tftp://%s/%s", server, path) < 0) {
                url = NULL;
                return -ENOMEM;
        }

        t0 = mono_sec();
        rc = fetch_once(url, timeout_ms, false, &st, errbuf);
        if (rc == CURLE_TFTP_ILLEGAL && st.bytes == 0) {
                /* libcurl 7.88 rejects the "tsize 0" a server announces for an EMPTY file
                 * ("invalid tsize value in OACK packet"). A plain request carries no options
                 * to reject; the time left of the budget bounds it. */
                unsigned used_ms = (unsigned)((mono_sec() - t0) * 1000);

                if (used_ms < timeout_ms)
                        rc = fetch_once(url, timeout_ms - used_ms, true, &st, errbuf);
        }
        result->seconds = mono_sec() - t0;
        result->bytes = st.bytes;

        if (rc != CURLE_OK)
                return fetch_error(rc, server, path, timeout_ms, errbuf, result);
        sha256_final(&st.sha, digest);
        sha256_hex(digest, result->sha256);
        return 0;
}
