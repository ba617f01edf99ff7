#include "ipv6.h"
#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <dirent.h>
#include <sys/stat.h>

#define SYSCTL_CONF "/etc/sysctl.d/90-netroot-ipv6.conf"

static void note_changed(struct ipv6_result *res, const char *name)
{
        size_t used = strlen(res->changed_names);

        snprintf(res->changed_names + used, sizeof(res->changed_names) - used, "%s%s",
                 used ? " " : "", name);
}

static int enforce_one(const char *conf_dir, const char *name, const char *want,
                       struct ipv6_result *res)
{
        _cleanup_free_ char *path = NULL;
        char value[16];
        int r;

        if (asprintf(&path, "%s/%s/disable_ipv6", conf_dir, name) < 0)
                return -ENOMEM;
        r = file_read_value(path, value, sizeof(value));
        if (r == -ENOENT)
                return 0; /* the interface went away while we looked */
        res->checked++;
        if (r >= 0 && streq(value, want))
                return 0;
        r = file_write_value(path, want);
        if (r < 0 && r != -ENOENT) {
                res->failed++;
                if (!res->error[0])
                        snprintf(res->error, sizeof(res->error), "%s: %s", path, strerror(-r));
                return r;
        }
        res->changed++;
        note_changed(res, name);
        return 0;
}

int ipv6_enforce(const char *root, enum ipv6_mode mode, struct ipv6_result *res)
{
        _cleanup_free_ char *conf_dir = root_path(root, "/proc/sys/net/ipv6/conf");
        const char *want = mode == IPV6_MODE_DISABLE ? "1" : "0";
        DIR *dir;
        struct dirent *de;

        memset(res, 0, sizeof(*res));
        if (!conf_dir)
                return -ENOMEM;
        dir = opendir(conf_dir);
        if (!dir) {
                if (errno != ENOENT)
                        return -errno;
                return 0; /* no IPv6 in this kernel (yet): nothing to keep */
        }
        res->available = true;
        if (mode == IPV6_MODE_KEEP) {
                closedir(dir);
                return 0;
        }
        /* `all` first: the kernel propagates it to every interface, which saves most writes. */
        enforce_one(conf_dir, "all", want, res);
        enforce_one(conf_dir, "default", want, res);
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.' || streq(de->d_name, "all") ||
                    streq(de->d_name, "default"))
                        continue;
                enforce_one(conf_dir, de->d_name, want, res);
        }
        closedir(dir);
        return res->failed ? -EIO : 0;
}

int ipv6_write_sysctl_conf(const char *root, enum ipv6_mode mode, const char *config_path)
{
        _cleanup_free_ char *path = root_path(root, SYSCTL_CONF), *old = NULL, *text = NULL;
        _cleanup_free_ char *dir = root_path(root, "/etc/sysctl.d");
        const char *v = mode == IPV6_MODE_DISABLE ? "1" : "0";
        int r;

        if (!path || !dir)
                return -ENOMEM;
        if (mode == IPV6_MODE_KEEP) {
                struct stat st;
                if (lstat(path, &st) < 0)
                        return 0;
                r = file_remove(path);
                return r < 0 ? r : 1;
        }
        if (asprintf(&text,
                     "# Written by netrootd from [ipv6] mode=%s in %s.\n"
                     "# Edit that file instead: netrootd rewrites this one.\n"
                     "net.ipv6.conf.all.disable_ipv6 = %s\n"
                     "net.ipv6.conf.default.disable_ipv6 = %s\n",
                     ipv6_mode_to_string(mode), config_path, v, v) < 0)
                return -ENOMEM;
        if (file_read_all(path, 64 * 1024, &old, NULL) >= 0 && streq(old, text))
                return 0;
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                return r;
        r = file_write_atomic(path, text, strlen(text), 0644);
        return r < 0 ? r : 1;
}
