/* status.json: json_parse() and json_write(), and netrootctl status reading the file
 * (ctl_status(), human and --json output). Invariants: a parsed document written out parses
 * back to the same tree; text with a NUL byte is no JSON; `status --json` prints one valid
 * JSON object whatever the file held. */
#include "fuzz.h"

#include "ctl.h"
#include "fileio.h"
#include "json.h"

#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>

static bool same_tree(const struct json_value *a, const struct json_value *b)
{
        for (; a && b; a = a->next, b = b->next) {
                if (a->type != b->type || !a->key != !b->key ||
                    (a->key && strcmp(a->key, b->key) != 0))
                        return false;
                switch (a->type) {
                case JSON_BOOL:
                        if (a->boolean != b->boolean)
                                return false;
                        break;
                case JSON_NUMBER:
                        if (a->number != b->number)
                                return false;
                        break;
                case JSON_STRING:
                        if (strcmp(a->string, b->string) != 0)
                                return false;
                        break;
                case JSON_ARRAY:
                case JSON_OBJECT:
                        if (!same_tree(a->child, b->child))
                                return false;
                        break;
                case JSON_NULL:
                        break;
                }
        }
        return !a && !b;
}

static void fuzz_json(const char *text, size_t len)
{
        struct json_value *doc = NULL, *doc2 = NULL;
        struct strbuf sb = {0};
        char err[128];
        int r;

        r = json_parse(text, len, &doc, err, sizeof(err));
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL && strncmp(err, "line ", 5) == 0, "%d %s", r, err);
                return;
        }
        FUZZ_CHECK(!memchr(text, '\0', len), "text with a NUL byte parsed as JSON");
        json_write(&sb, doc, 0);
        FUZZ_CHECK(!sb.oom, "oom");
        r = json_parse(sb_str(&sb), sb.len, &doc2, err, sizeof(err));
        FUZZ_CHECK(r == 0, "written JSON does not parse: %s\n%s", err, sb_str(&sb));
        FUZZ_CHECK(same_tree(doc, doc2), "round trip changed the document:\n%s", sb_str(&sb));
        json_free(doc);
        json_free(doc2);
        sb_free(&sb);
}

/* netrootctl status on a sandbox whose <run_dir>/status.json is the input. Its stdout goes to
 * a memfd so the --json output can be checked. */
static void fuzz_ctl_status(const uint8_t *data, size_t size)
{
        static struct ctl_context ctx;
        static char path[600];
        static int out_fd = -1;
        char *argv_human[] = {"status", NULL}, *argv_json[] = {"status", "--json", NULL};
        static char buf[1 << 20];
        struct json_value *doc = NULL;
        char err[128];
        ssize_t n;
        int r;

        if (out_fd < 0) {
                char dir[512];

                config_set_defaults(&ctx.cfg);
                ctx.root = fuzz_tmpdir();
                snprintf(dir, sizeof(dir), "%s%s", ctx.root, ctx.cfg.agent.run_dir);
                if (mkdir_parents(dir, 0755) < 0)
                        abort();
                snprintf(path, sizeof(path), "%s/status.json", dir);
                out_fd = memfd_create("stdout", 0);
                fflush(stdout);
                if (out_fd < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
                        abort();
        }
        fuzz_write_file(path, data, size);

        optind = 0;
        (void)ctl_status(&ctx, 1, argv_human);
        fflush(stdout);

        if (ftruncate(STDOUT_FILENO, 0) < 0 || lseek(STDOUT_FILENO, 0, SEEK_SET) < 0)
                abort();
        optind = 0;
        r = ctl_status(&ctx, 2, argv_json);
        fflush(stdout);
        n = pread(STDOUT_FILENO, buf, sizeof(buf) - 1, 0);
        if (ftruncate(STDOUT_FILENO, 0) < 0 || lseek(STDOUT_FILENO, 0, SEEK_SET) < 0)
                abort();
        if (n <= 0) /* a file that is no JSON object: the error went to stderr */
                return;
        FUZZ_CHECK((size_t)n < sizeof(buf) - 1, "output larger than the buffer");
        buf[n] = '\0';
        r = json_parse(buf, (size_t)n, &doc, err, sizeof(err));
        FUZZ_CHECK(r == 0 && doc->type == JSON_OBJECT, "status --json printed no JSON object: %s",
                   err);
        FUZZ_CHECK(json_get(doc, "running"), "status --json has no \"running\"");
        json_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_json((const char *)data, size);
        if (size <= 65536)
                fuzz_ctl_status(data, size);
        return 0;
}
