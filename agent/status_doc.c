#include "status_doc.h"

#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <signal.h>

static bool pid_alive(long pid)
{
        if (pid < 1 || pid > 4194304)
                return false;
        return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int status_doc_load(const char *root, const char *run_dir, struct status_doc *d, char *err,
                    size_t err_size)
{
        _cleanup_free_ char *path = root_pathf(root, "%s/%s", run_dir, STATUS_FILE), *text = NULL;
        size_t len;
        int r;

        memset(d, 0, sizeof(*d));
        if (err_size)
                err[0] = '\0';
        if (!path)
                return -ENOMEM;
        r = file_read_regular(path, STATUS_FILE_MAX, &text, &len);
        if (r < 0) {
                snprintf(err, err_size, "%s: %s", path, file_strerror(r));
                return r;
        }
        r = json_parse(text, len, &d->json, err, err_size);
        if (r < 0)
                return -EBADMSG;
        snprintf(d->state, sizeof(d->state), "%s", json_get_string(d->json, "state", ""));
        d->pid = (long)json_get_number(d->json, "pid", 0);
        d->updated = json_get_number(d->json, "updated", 0);
        d->since = json_get_number(d->json, "since", 0);
        d->running = pid_alive(d->pid);
        return 0;
}

void status_doc_free(struct status_doc *d)
{
        json_free(d->json);
        d->json = NULL;
}

const char *status_doc_reason(const struct status_doc *d, size_t i, const char **code)
{
        const struct json_value *reasons = json_get(d->json, "reasons");
        const struct json_value *r = reasons ? reasons->child : NULL;

        for (; r && i; r = r->next)
                i--;
        if (!r)
                return NULL;
        /* Older daemons wrote plain strings. */
        if (r->type == JSON_STRING) {
                if (code)
                        *code = "";
                return r->string;
        }
        if (code)
                *code = json_get_string(r, "code", "");
        return json_get_string(r, "text", "");
}
