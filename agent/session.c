#include "session.h"
#include "fileio.h"
#include "rootpath.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>

/* dm-crypt on LVM on iSCSI is two levels of slaves; more is not a root disk anyone boots. */
#define SLAVE_DEPTH_MAX 4

/* ---- small helpers ---- */

static bool copy_str(char *dst, size_t size, const char *src)
{
        size_t n = strlen(src);

        if (n >= size) {
                dst[0] = '\0';
                return false;
        }
        memcpy(dst, src, n + 1);
        return true;
}

/* "<prefix><digits>" with nothing else: "session12" → 12. */
static bool parse_numbered(const char *s, const char *prefix, unsigned *out)
{
        size_t plen = strlen(prefix);
        unsigned long v;

        if (strncmp(s, prefix, plen) != 0 || parse_uint(s + plen, &v) < 0 || v > UINT32_MAX)
                return false;
        *out = (unsigned)v;
        return true;
}

/* Reads DIR/NAME into BUF. The kernel prints unset string attributes as "(null)": that is
 * "unknown" here, like a missing file. */
static int read_attr(const char *dir, const char *name, char *buf, size_t size)
{
        char path[PATH_MAX];
        int r;

        buf[0] = '\0';
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                return -ENAMETOOLONG;
        r = file_read_value(path, buf, size);
        if (r < 0) {
                buf[0] = '\0';
                return r;
        }
        if (streq(buf, "(null)"))
                buf[0] = '\0';
        return 0;
}

static int read_attr_int(const char *dir, const char *name, int *out)
{
        char buf[SESSION_SHORT_MAX];
        char *end;
        long v;

        *out = -1;
        if (read_attr(dir, name, buf, sizeof(buf)) < 0 || !buf[0])
                return -ENODATA;
        errno = 0;
        v = strtol(buf, &end, 10);
        if (errno || *end || v < INT32_MIN || v > INT32_MAX)
                return -EINVAL;
        *out = (int)v;
        return 0;
}

static unsigned read_attr_port(const char *dir, const char *name)
{
        int v;

        if (read_attr_int(dir, name, &v) < 0 || v <= 0 || v > 65535)
                return 0;
        return (unsigned)v;
}

/* ---- "/" in mountinfo ---- */

/* Finds the last mount on "/" (later mounts hide earlier ones) in mountinfo TEXT:
 * "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS…] - FSTYPE SOURCE SUPEROPTS". */
static int mountinfo_find_root(char *text, unsigned *maj, unsigned *min, char *source,
                               size_t source_size)
{
        bool found = false;
        char *save = NULL;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mnt[8], src[SESSION_NAME_MAX];
                unsigned a, b;
                const char *dash;

                if (sscanf(line, "%*u %*u %u:%u %*s %7s", &a, &b, mnt) != 3 || !streq(mnt, "/"))
                        continue;
                dash = strstr(line, " - ");
                if (!dash || sscanf(dash, " - %*s %223s", src) != 1)
                        src[0] = '\0';
                *maj = a;
                *min = b;
                copy_str(source, source_size, src);
                found = true;
        }
        return found ? 0 : -ENOENT;
}

static int locate_root(const char *root, struct session_locator *loc)
{
        _cleanup_free_ char *path = root_path(root, "/proc/self/mountinfo");
        _cleanup_free_ char *text = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = file_read_all(path, 1 << 20, &text, NULL);
        if (r < 0)
                return r;
        r = mountinfo_find_root(text, &loc->root_major, &loc->root_minor, loc->root_source,
                                sizeof(loc->root_source));
        if (r < 0)
                return r;
        loc->root_known = true;
        return 0;
}

/* ---- walking a resolved sysfs device path ---- */

struct devpath {
        unsigned host, sid;
        bool has_host, has_session;
        char disk[SESSION_SHORT_MAX]; /* the component after "block" */
        char leaf[SESSION_SHORT_MAX]; /* the last component: the device itself */
};

/* REL is a resolved path below /sys, e.g.
 * "devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda/sda1". Only the part below
 * /sys is parsed, so a sandbox folder named "session1" cannot fool it. */
static void devpath_parse(const char *rel, struct devpath *d)
{
        const char *p = rel;
        bool after_block = false;

        memset(d, 0, sizeof(*d));
        while (*p) {
                char comp[NAME_MAX + 1];
                size_t n = strcspn(p, "/");

                if (n > 0 && n < sizeof(comp)) {
                        memcpy(comp, p, n);
                        comp[n] = '\0';
                        if (after_block && !d->disk[0])
                                copy_str(d->disk, sizeof(d->disk), comp);
                        after_block = streq(comp, "block");
                        if (parse_numbered(comp, "session", &d->sid))
                                d->has_session = true;
                        else if (!d->has_session && parse_numbered(comp, "host", &d->host))
                                d->has_host = true;
                        copy_str(d->leaf, sizeof(d->leaf), comp);
                }
                p += n;
                p += strspn(p, "/");
        }
}

/* Resolves PATH (a sysfs symlink) and parses what lies below SYSROOT (resolved <root>/sys). */
static int resolve_devpath(const char *sysroot, const char *path, struct devpath *d,
                           char **resolved)
{
        _cleanup_free_ char *real = realpath(path, NULL);
        size_t slen = strlen(sysroot);

        if (!real)
                return -errno;
        if (strncmp(real, sysroot, slen) != 0 || (real[slen] != '/' && real[slen] != '\0'))
                return -EXDEV;
        devpath_parse(real + slen, d);
        if (resolved)
                *resolved = TAKE_PTR(real);
        return 0;
}

/* A dm or md device has no session in its path: follow the first of its slaves instead. */
static int follow_slaves(const char *sysroot, const char *devdir, struct devpath *d, int depth)
{
        _cleanup_free_ char *slaves = NULL;
        DIR *dir;
        struct dirent *de;
        int r = -ENOENT;

        if (depth >= SLAVE_DEPTH_MAX || asprintf(&slaves, "%s/slaves", devdir) < 0)
                return -ENOENT;
        dir = opendir(slaves);
        if (!dir)
                return -errno;
        while ((de = readdir(dir))) {
                _cleanup_free_ char *child = NULL, *resolved = NULL;
                struct devpath sub;

                if (de->d_name[0] == '.' || asprintf(&child, "%s/%s", slaves, de->d_name) < 0)
                        continue;
                if (resolve_devpath(sysroot, child, &sub, &resolved) < 0)
                        continue;
                if (!sub.has_session)
                        r = follow_slaves(sysroot, resolved, &sub, depth + 1);
                else
                        r = 0;
                if (r == 0) {
                        char leaf[SESSION_SHORT_MAX];

                        /* "/" stays the dm device; the disk is the slave's. */
                        memcpy(leaf, d->leaf, sizeof(leaf));
                        *d = sub;
                        memcpy(d->leaf, leaf, sizeof(leaf));
                        break;
                }
        }
        closedir(dir);
        return r;
}

/* ---- discovery ---- */

static void locator_forget(struct session_locator *loc)
{
        loc->found = false;
        loc->found_by = SESSION_FOUND_NONE;
        loc->sid = loc->host = 0;
        loc->disk[0] = '\0';
}

/* Fills D from the block device of "/". Returns 0 when it sits under a session. */
static int discover_by_root_device(const char *root, const char *sysroot,
                                   struct session_locator *loc, struct devpath *d)
{
        _cleanup_free_ char *link = NULL, *resolved = NULL;
        int r;

        loc->root_dev[0] = '\0';
        loc->root_dev_missing = false;
        link = root_pathf(root, "/sys/dev/block/%u:%u", loc->root_major, loc->root_minor);
        if (!link)
                return -ENOMEM;
        r = resolve_devpath(sysroot, link, d, &resolved);
        if (r < 0) {
                /* Major 0 is an anonymous device (btrfs, overlay, nfs): no sysfs entry is
                 * expected. Any other block device without one has been removed. */
                loc->root_dev_missing = r == -ENOENT && loc->root_major != 0;
                return r;
        }
        copy_str(loc->root_dev, sizeof(loc->root_dev), d->leaf);
        if (d->has_session)
                return 0;
        return follow_slaves(sysroot, resolved, d, 0);
}

/* Finds the block device below SESSION_DEV (the session's device folder): target*, then
 * H:C:T:L, then block/NAME. The first LUN with a disk wins; LUN 0 of many targets is a
 * controller without one. */
static void find_session_disk(const char *session_dev, char *disk, size_t size)
{
        DIR *sdir = opendir(session_dev);
        struct dirent *t;

        disk[0] = '\0';
        if (!sdir)
                return;
        while (!disk[0] && (t = readdir(sdir))) {
                _cleanup_free_ char *tpath = NULL;
                DIR *tdir;
                struct dirent *l;

                if (strncmp(t->d_name, "target", 6) != 0 ||
                    asprintf(&tpath, "%s/%s", session_dev, t->d_name) < 0)
                        continue;
                tdir = opendir(tpath);
                if (!tdir)
                        continue;
                while (!disk[0] && (l = readdir(tdir))) {
                        _cleanup_free_ char *bpath = NULL;
                        DIR *bdir;
                        struct dirent *b;

                        if (!isdigit((unsigned char)l->d_name[0]) ||
                            asprintf(&bpath, "%s/%s/block", tpath, l->d_name) < 0)
                                continue;
                        bdir = opendir(bpath);
                        if (!bdir)
                                continue;
                        while (!disk[0] && (b = readdir(bdir)))
                                if (b->d_name[0] != '.')
                                        copy_str(disk, size, b->d_name);
                        closedir(bdir);
                }
                closedir(tdir);
        }
        closedir(sdir);
}

/* The newest session logged in to LOC->target (older ones may be leftovers). */
static int find_session_by_target(const char *root, const struct session_locator *loc,
                                  unsigned *sid)
{
        _cleanup_free_ char *classdir = root_path(root, "/sys/class/iscsi_session");
        DIR *dir;
        struct dirent *de;
        bool found = false;

        if (!classdir)
                return -ENOMEM;
        dir = opendir(classdir);
        if (!dir)
                return -errno;
        while ((de = readdir(dir))) {
                _cleanup_free_ char *sdir = NULL;
                char name[SESSION_NAME_MAX];
                unsigned n;

                if (!parse_numbered(de->d_name, "session", &n) ||
                    asprintf(&sdir, "%s/%s", classdir, de->d_name) < 0)
                        continue;
                if (read_attr(sdir, "targetname", name, sizeof(name)) < 0 ||
                    !streq(name, loc->target))
                        continue;
                if (!found || n > *sid)
                        *sid = n;
                found = true;
        }
        closedir(dir);
        return found ? 0 : -ENOENT;
}

static int discover_by_target(const char *root, const char *sysroot, struct session_locator *loc,
                              struct devpath *d)
{
        _cleanup_free_ char *devlink = NULL, *resolved = NULL;
        unsigned sid = 0;
        int r;

        if (!loc->target[0])
                return -ENOENT;
        r = find_session_by_target(root, loc, &sid);
        if (r < 0)
                return r;
        devlink = root_pathf(root, "/sys/class/iscsi_session/session%u/device", sid);
        if (!devlink)
                return -ENOMEM;
        r = resolve_devpath(sysroot, devlink, d, &resolved);
        if (r < 0 || !d->has_session || d->sid != sid)
                return r < 0 ? r : -ENOENT;
        find_session_disk(resolved, d->disk, sizeof(d->disk));
        return 0;
}

static int set_dir(char *dst, size_t size, char *allocated)
{
        bool ok;

        if (!allocated)
                return -ENOMEM;
        ok = copy_str(dst, size, allocated);
        free(allocated);
        return ok ? 0 : -ENAMETOOLONG;
}

/* Reads what the kernel fixes for the session's lifetime, so the poll does not. */
static void read_static_attrs(const char *root, struct session_locator *loc)
{
        _cleanup_free_ char *hostdir = root_pathf(root, "/sys/class/iscsi_host/host%u", loc->host);
        int tpgt;

        read_attr(loc->session_dir, "targetname", loc->targetname, sizeof(loc->targetname));
        read_attr(loc->session_dir, "initiatorname", loc->initiatorname,
                  sizeof(loc->initiatorname));
        loc->tpgt = read_attr_int(loc->session_dir, "tpgt", &tpgt) == 0 ? tpgt : -1;
        read_attr(loc->conn_dir, "persistent_address", loc->persistent_address,
                  sizeof(loc->persistent_address));
        loc->persistent_port = read_attr_port(loc->conn_dir, "persistent_port");
        loc->host_netdev[0] = '\0';
        /* Software iSCSI reports "default" (no binding): only a real name helps the caller. */
        if (hostdir &&
            read_attr(hostdir, "netdev", loc->host_netdev, sizeof(loc->host_netdev)) == 0 &&
            streq(loc->host_netdev, "default"))
                loc->host_netdev[0] = '\0';
}

static int adopt_session(const char *root, struct session_locator *loc, const struct devpath *d,
                         enum session_found_by how)
{
        int r;

        loc->sid = d->sid;
        loc->host = d->has_host ? d->host : 0;
        copy_str(loc->disk, sizeof(loc->disk), d->disk);
        r = set_dir(loc->session_dir, sizeof(loc->session_dir),
                    root_pathf(root, "/sys/class/iscsi_session/session%u", loc->sid));
        if (r >= 0)
                r = set_dir(
                    loc->conn_dir, sizeof(loc->conn_dir),
                    root_pathf(root, "/sys/class/iscsi_connection/connection%u:0", loc->sid));
        if (r >= 0)
                r = set_dir(loc->host_dir, sizeof(loc->host_dir),
                            root_pathf(root, "/sys/class/iscsi_host/host%u", loc->host));
        if (r >= 0 && loc->disk[0])
                r = set_dir(loc->disk_dev_dir, sizeof(loc->disk_dev_dir),
                            root_pathf(root, "/sys/block/%s/device", loc->disk));
        if (r < 0)
                return r;
        if (!loc->disk[0])
                loc->disk_dev_dir[0] = '\0';
        read_static_attrs(root, loc);
        loc->found_by = how;
        loc->found = true;
        return 0;
}

static int discover(const char *root, struct session_locator *loc)
{
        _cleanup_free_ char *sys = root_path(root, "/sys");
        _cleanup_free_ char *sysroot = NULL;
        struct devpath d;

        locator_forget(loc);
        if (!sys)
                return -ENOMEM;
        sysroot = realpath(sys, NULL);
        if (!sysroot)
                return -errno;
        if (discover_by_root_device(root, sysroot, loc, &d) == 0)
                return adopt_session(root, loc, &d, SESSION_FOUND_BY_ROOT_DEVICE);
        if (discover_by_target(root, sysroot, loc, &d) == 0)
                return adopt_session(root, loc, &d, SESSION_FOUND_BY_TARGET);
        return -ENOENT;
}

/* ---- the steady path ---- */

static void snapshot_root(const struct session_locator *loc, struct session_snapshot *out)
{
        out->root_major = loc->root_major;
        out->root_minor = loc->root_minor;
        memcpy(out->root_source, loc->root_source, sizeof(out->root_source));
        memcpy(out->root_dev, loc->root_dev, sizeof(out->root_dev));
        out->root_dev_missing = loc->root_dev_missing;
        out->last_sid = loc->last_sid;
}

/* Returns -ENOENT when the session's state file is gone: the session was destroyed. */
static int snapshot_session(const struct session_locator *loc, struct session_snapshot *out)
{
        int r;

        r = read_attr(loc->session_dir, "state", out->state_raw, sizeof(out->state_raw));
        if (r == -ENOENT || r == -ENOTDIR)
                return -ENOENT;
        out->present = true;
        out->found_by = loc->found_by;
        out->sid = loc->sid;
        out->host = loc->host;
        out->state = session_state_from_string(out->state_raw);
        memcpy(out->targetname, loc->targetname, sizeof(out->targetname));
        memcpy(out->initiatorname, loc->initiatorname, sizeof(out->initiatorname));
        out->tpgt = loc->tpgt;
        read_attr_int(loc->session_dir, "recovery_tmo", &out->recovery_tmo);

        read_attr(loc->conn_dir, "address", out->address, sizeof(out->address));
        out->port = read_attr_port(loc->conn_dir, "port");
        memcpy(out->persistent_address, loc->persistent_address, sizeof(out->persistent_address));
        out->persistent_port = loc->persistent_port;
        memcpy(out->host_netdev, loc->host_netdev, sizeof(out->host_netdev));
        read_attr(loc->host_dir, "ipaddress", out->host_ipaddress, sizeof(out->host_ipaddress));

        memcpy(out->disk, loc->disk, sizeof(out->disk));
        if (!loc->disk[0]) {
                out->disk_state = DISK_STATE_UNKNOWN;
                return 0;
        }
        r = read_attr(loc->disk_dev_dir, "state", out->disk_state_raw, sizeof(out->disk_state_raw));
        if (r == -ENOENT || r == -ENOTDIR)
                out->disk_state = DISK_STATE_GONE;
        else
                out->disk_state = disk_state_from_string(out->disk_state_raw);
        return 0;
}

void session_locator_init(struct session_locator *loc, const char *target)
{
        memset(loc, 0, sizeof(*loc));
        loc->tpgt = -1;
        if (!str_empty(target))
                copy_str(loc->target, sizeof(loc->target), target);
}

void session_locator_reset(struct session_locator *loc)
{
        locator_forget(loc);
}

int session_read(const char *root, struct session_locator *loc, struct session_snapshot *out)
{
        int r;

        memset(out, 0, sizeof(*out));
        out->tpgt = -1;
        out->recovery_tmo = -1;
        if (!loc->root_known) {
                r = locate_root(root, loc);
                if (r < 0)
                        return r;
        }
        if (!loc->found)
                discover(root, loc);
        if (loc->found && snapshot_session(loc, out) == -ENOENT) {
                /* Session numbers are never reused before a reboot: a vanished session is gone
                 * for good, and a new one (if any) has to be found again. */
                loc->last_sid = loc->sid;
                memset(out, 0, sizeof(*out));
                out->tpgt = -1;
                out->recovery_tmo = -1;
                if (discover(root, loc) == 0)
                        snapshot_session(loc, out);
        }
        if (loc->found && out->present)
                loc->last_sid = 0;
        snapshot_root(loc, out);
        return out->present ? 1 : 0;
}

/* ---- iscsid ---- */

static bool comm_is(const char *procdir, const char *pid, const char *want)
{
        char path[PATH_MAX], comm[32];

        if ((size_t)snprintf(path, sizeof(path), "%s/%s/comm", procdir, pid) >= sizeof(path))
                return false;
        return file_read_value(path, comm, sizeof(comm)) == 0 && streq(comm, want);
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char)*s))
                        return false;
        return true;
}

int session_iscsid_running(const char *root)
{
        _cleanup_free_ char *procdir = root_path(root, "/proc");
        _cleanup_free_ char *pidfile = root_path(root, "/run/iscsid.pid");
        char pid[32];
        DIR *dir;
        struct dirent *de;
        bool running = false;

        if (!procdir || !pidfile)
                return -ENOMEM;
        /* iscsid.service writes its pid file: one read instead of a /proc walk when it is up. */
        if (file_read_value(pidfile, pid, sizeof(pid)) == 0 && all_digits(pid) &&
            comm_is(procdir, pid, "iscsid"))
                return 1;
        dir = opendir(procdir);
        if (!dir)
                return -errno;
        while (!running && (de = readdir(dir)))
                running = all_digits(de->d_name) && comm_is(procdir, de->d_name, "iscsid");
        closedir(dir);
        return running ? 1 : 0;
}

/* ---- names ---- */

static const char *const session_state_names[] = {
    [SESSION_STATE_UNKNOWN] = "unknown",
    [SESSION_STATE_LOGGED_IN] = "LOGGED_IN",
    [SESSION_STATE_FAILED] = "FAILED",
    [SESSION_STATE_FREE] = "FREE",
};

static const char *const disk_state_names[] = {
    [DISK_STATE_UNKNOWN] = "unknown",
    [DISK_STATE_RUNNING] = "running",
    [DISK_STATE_BLOCKED] = "blocked",
    [DISK_STATE_OFFLINE] = "offline",
    [DISK_STATE_TRANSPORT_OFFLINE] = "transport-offline",
    [DISK_STATE_GONE] = "gone",
    [DISK_STATE_OTHER] = "other",
};

const char *session_state_to_string(enum session_state s)
{
        return (unsigned)s < ARRAY_SIZE(session_state_names) ? session_state_names[s] : "unknown";
}

const char *disk_state_to_string(enum disk_state s)
{
        return (unsigned)s < ARRAY_SIZE(disk_state_names) ? disk_state_names[s] : "unknown";
}

enum session_state session_state_from_string(const char *s)
{
        for (unsigned i = SESSION_STATE_LOGGED_IN; i < ARRAY_SIZE(session_state_names); i++)
                if (streq(s, session_state_names[i]))
                        return (enum session_state)i;
        return SESSION_STATE_UNKNOWN;
}

enum disk_state disk_state_from_string(const char *s)
{
        for (unsigned i = DISK_STATE_RUNNING; i <= DISK_STATE_TRANSPORT_OFFLINE; i++)
                if (streq(s, disk_state_names[i]))
                        return (enum disk_state)i;
        return str_empty(s) ? DISK_STATE_UNKNOWN : DISK_STATE_OTHER;
}

/* ---- judging ---- */

static void add_reason(struct session_verdict *v, enum health_state h, const char *code,
                       const char *fmt, ...) _printf_(4, 5);

static void add_reason(struct session_verdict *v, enum health_state h, const char *code,
                       const char *fmt, ...)
{
        struct health_reason *r;
        va_list ap;

        if (h > v->health)
                v->health = h;
        if (v->n_reasons >= SESSION_REASONS_MAX)
                return;
        r = &v->reasons[v->n_reasons];
        snprintf(r->code, sizeof(r->code), "%s", code);
        va_start(ap, fmt);
        vsnprintf(r->text, sizeof(r->text), fmt, ap);
        va_end(ap);
        v->reason_health[v->n_reasons++] = h;
}

/* "/dev/sda1" when sysfs named the device, else the mount source, else "MAJ:MIN". */
static void root_name(const struct session_snapshot *s, char *buf, size_t size)
{
        if (s->root_dev[0])
                snprintf(buf, size, "/dev/%s", s->root_dev);
        else if (s->root_source[0])
                snprintf(buf, size, "%s", s->root_source);
        else
                snprintf(buf, size, "%u:%u", s->root_major, s->root_minor);
}

static void assess_absent(const struct session_snapshot *s, struct session_verdict *v)
{
        char rootdev[SESSION_NAME_MAX + 8];

        root_name(s, rootdev, sizeof(rootdev));
        if (s->last_sid)
                add_reason(v, HEALTH_FAILED, "session-gone", "session%u that carried / is gone",
                           s->last_sid);
        if (s->root_dev_missing) {
                add_reason(v, HEALTH_FAILED, "root-disk-removed",
                           "the disk of / (%s, %u:%u) was removed: / has no disk under it", rootdev,
                           s->root_major, s->root_minor);
                return;
        }
        if (s->last_sid)
                return;
        /* DEGRADED, not OK: this agent is installed on Pis that are meant to boot from iSCSI,
         * so a local root usually means the boot fell back to the SD card. Not FAILED: "/" is
         * fine, there is just no network disk to watch. */
        add_reason(v, HEALTH_DEGRADED, "no-iscsi-root", "no iSCSI session for / (root is %s)",
                   rootdev);
}

static void assess_state(const struct session_snapshot *s, struct session_verdict *v)
{
        switch (s->state) {
        case SESSION_STATE_LOGGED_IN:
                break;
        case SESSION_STATE_FAILED:
                if (s->recovery_tmo >= 0)
                        add_reason(v, HEALTH_FAILED, "session-failed",
                                   "session%u: FAILED (connection to %s lost; I/O waits up to "
                                   "%d s for recovery, then / goes offline)",
                                   s->sid,
                                   s->persistent_address[0] ? s->persistent_address : "target",
                                   s->recovery_tmo);
                else
                        add_reason(v, HEALTH_FAILED, "session-failed",
                                   "session%u: FAILED (connection lost)", s->sid);
                break;
        case SESSION_STATE_FREE:
                add_reason(v, HEALTH_FAILED, "session-free", "session%u: FREE (not logged in)",
                           s->sid);
                break;
        case SESSION_STATE_UNKNOWN:
                add_reason(v, HEALTH_DEGRADED, "session-state-unknown", "session%u: state %s",
                           s->sid, s->state_raw[0] ? s->state_raw : "unreadable");
                break;
        }
}

/* Only SCSI device states that end in I/O errors are FAILED; the transitional ones
 * (created, quiesce, created-blocked) are DEGRADED. */
static void assess_disk(const struct session_snapshot *s, struct session_verdict *v)
{
        switch (s->disk_state) {
        case DISK_STATE_RUNNING:
                break;
        case DISK_STATE_BLOCKED:
                add_reason(v, HEALTH_DEGRADED, "disk-blocked",
                           "session%u: disk %s is blocked (I/O held while the session recovers)",
                           s->sid, s->disk);
                break;
        case DISK_STATE_OFFLINE:
        case DISK_STATE_TRANSPORT_OFFLINE:
                add_reason(v, HEALTH_FAILED, "disk-offline",
                           "session%u: disk %s is %s: I/O on / fails", s->sid, s->disk,
                           disk_state_to_string(s->disk_state));
                break;
        case DISK_STATE_GONE:
                add_reason(v, HEALTH_FAILED, "disk-removed", "session%u: disk %s was removed",
                           s->sid, s->disk);
                break;
        case DISK_STATE_OTHER:
                add_reason(v,
                           streq(s->disk_state_raw, "deleted") || streq(s->disk_state_raw, "cancel")
                               ? HEALTH_FAILED
                               : HEALTH_DEGRADED,
                           "disk-state", "session%u: disk %s is %s", s->sid, s->disk,
                           s->disk_state_raw);
                break;
        case DISK_STATE_UNKNOWN:
                add_reason(v, HEALTH_DEGRADED, "disk-unknown",
                           "session%u: no disk found for the session", s->sid);
                break;
        }
}

void session_assess(const struct session_snapshot *s, int iscsid_running, int min_recovery_tmo,
                    struct session_verdict *v)
{
        memset(v, 0, sizeof(*v));
        v->health = HEALTH_OK;
        if (!s->present) {
                assess_absent(s, v);
                return;
        }
        assess_state(s, v);
        assess_disk(s, v);
        /* Only iscsid reconnects a dropped session; the initramfs's iscsistart is long gone. */
        if (iscsid_running == 0)
                add_reason(v, HEALTH_DEGRADED, "iscsid-not-running",
                           "iscsid not running: a dropped session will not recover");
        /* Short recovery_tmo is DEGRADED although nothing is broken yet: any outage longer than
         * it (a NAS or switch reboot takes minutes) takes the disk offline and ext4 aborts, and
         * preventing exactly that is this agent's job. The floor is 600 s by default, above the
         * open-iscsi default of 120 s, which open-iscsi itself calls unfit for a root disk
         * (it advises replacement_timeout=86400); callers may pass their own. */
        if (min_recovery_tmo == 0)
                min_recovery_tmo = SESSION_RECOVERY_TMO_MIN;
        if (min_recovery_tmo > 0 && s->recovery_tmo >= 0 && s->recovery_tmo < min_recovery_tmo)
                add_reason(v, HEALTH_DEGRADED, "recovery-tmo-short",
                           "session%u: recovery_tmo is %d s: an outage longer than that takes / "
                           "offline (open-iscsi advises replacement_timeout=86400 for a root disk)",
                           s->sid, s->recovery_tmo);
}

void session_describe(const struct session_snapshot *s, char *buf, size_t size)
{
        char rootdev[SESSION_NAME_MAX + 8];

        if (!s->present) {
                root_name(s, rootdev, sizeof(rootdev));
                snprintf(buf, size, "no iSCSI session for / (root is %s)", rootdev);
                return;
        }
        snprintf(buf, size, "session%u %s %s portal %s:%u disk %s %s recovery_tmo %d", s->sid,
                 s->state_raw[0] ? s->state_raw : "unknown",
                 s->targetname[0] ? s->targetname : "(no target name)",
                 s->persistent_address[0] ? s->persistent_address : "?", s->persistent_port,
                 s->disk[0] ? s->disk : "-",
                 s->disk_state_raw[0] ? s->disk_state_raw : disk_state_to_string(s->disk_state),
                 s->recovery_tmo);
}
