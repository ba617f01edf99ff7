/* The Pi's identity record in its boot folder; see identity.h. */
#include "identity.h"
#include "beneath.h"
#include "fileio.h"
#include "generation.h"
#include "kvfile.h"
#include "rootpath.h"
#include "util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#define IDENTITY_MAX 4096

static const struct kv_field identity_fields[] = {
    KV_STR_FIELD(struct identity, serial, KV_REQUIRED), KV_STR_FIELD(struct identity, model, 0),
    KV_STR_FIELD(struct identity, hostname, 0),         KV_STR_FIELD(struct identity, updated, 0),
    KV_STR_FIELD(struct identity, command, 0),          KV_STR_FIELD(struct identity, version, 0),
    KV_UINT_FIELD(struct identity, confirm_timeout, 0),
};

/* The hostname of the tree under ROOT (its /etc/hostname), else this machine's. */
static void read_hostname(const char *root, char *buf, size_t size)
{
        _cleanup_free_ char *path = NULL;

        buf[0] = '\0';
        if (root && root[0] && !streq(root, "/")) {
                path = root_path(root, "/etc/hostname");
                if (path && file_read_value(path, buf, size) == 0) {
                        str_strip_trailing(buf);
                        if (buf[0])
                                return;
                }
        }
        if (gethostname(buf, size - 1) < 0)
                buf[0] = '\0';
        buf[size - 1] = '\0';
}

int identity_record(const char *root, const struct netroot_config *cfg, const char *model,
                    const char *serial, const char *command, struct error *err)
{
        _cleanup_close_ int bfd = -1, sfd = -1;
        _cleanup_free_ char *boot = NULL;
        struct identity id = {0};
        time_t now = time(NULL);
        struct tm tm;
        int r;

        r = piinfo_serial(root, serial ? serial : cfg->agent.serial, id.serial, sizeof(id.serial));
        if (r < 0)
                return error_set(err, r, "the serial number is unknown: %s", strerror(-r));
        if (piinfo_model(root, model ? model : cfg->agent.model, id.model, sizeof(id.model)) < 0)
                id.model[0] = '\0';
        read_hostname(root, id.hostname, sizeof(id.hostname));
        gmtime_r(&now, &tm);
        strftime(id.updated, sizeof(id.updated), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(id.command, sizeof(id.command), "%s", command);
        snprintf(id.version, sizeof(id.version), "%s", NETROOT_VERSION);
        id.confirm_timeout = (unsigned)(cfg->boot.confirm_timeout_usec / 1000000u);

        /* [agent] boot_dir as every command takes it: an absolute one goes under ROOT. */
        boot = root_path_arg(root, cfg->agent.boot_dir);
        if (!boot)
                return error_set(err, -ENOMEM, "out of memory");
        bfd = beneath_open_dir(boot);
        if (bfd < 0)
                return error_set(err, bfd, "%s: %s", boot, strerror(-bfd));
        if (mkdirat(bfd, GEN_STORE, 0755) < 0 && errno != EEXIST)
                return error_set(err, -errno, "%s/%s: %s", boot, GEN_STORE, strerror(errno));
        sfd = openat_beneath(bfd, GEN_STORE, O_RDONLY | O_DIRECTORY, 0);
        if (sfd < 0)
                return error_set(err, sfd, "%s/%s: %s", boot, GEN_STORE, strerror(-sfd));
        return kv_save_at(sfd, IDENTITY_FILE, identity_fields, ARRAY_SIZE(identity_fields), &id,
                          0644, err);
}

int identity_load(const char *boot_dir, struct identity *id, struct error *err)
{
        _cleanup_close_ int bfd = -1;
        _cleanup_free_ char *shown = NULL;

        memset(id, 0, sizeof(*id));
        if (asprintf(&shown, "%s/%s/%s", boot_dir, GEN_STORE, IDENTITY_FILE) < 0)
                return error_set(err, -ENOMEM, "out of memory");
        bfd = beneath_open_dir(boot_dir);
        if (bfd < 0)
                return error_set(err, bfd, "%s: %s", boot_dir, strerror(-bfd));
        return kv_load_at(bfd, GEN_STORE "/" IDENTITY_FILE, shown, IDENTITY_MAX, identity_fields,
                          ARRAY_SIZE(identity_fields), id, err);
}
