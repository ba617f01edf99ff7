/* The doctor's iSCSI checks: cmdline.txt's ISCSI_* against the running session, root= against
 * the device / is on, iscsid and the session's recovery timeout. */
#include "doctor_check.h"

#include "fileio.h"
#include "iscsi_boot.h"
#include "rootpath.h"

#include <arpa/inet.h>

/* open-iscsi's README advises 86400 for a root on iSCSI; below the kernel default 120 s an
 * ordinary NAS reboot already takes the root down. */
#define TMO_FAIL_BELOW 120
#define TMO_WARN_BELOW 600

/* COMMAND_LINE_SIZE of the Pi kernels (arm, arm64), with its NUL. */
#define DOCTOR_KERNEL_CMDLINE_MAX 2048

static bool cmdline_unreadable(struct doctor_ctx *c, struct doctor_check *ck)
{

        if (c->cmdline_r == 0 && c->cl_ok)
                return false;
        doctor_say(ck, DOCTOR_FAIL, "cannot read %s/%s: %s", c->boot_sys, c->cmdline_name,
                   c->cmdline_r < 0 ? strerror(-c->cmdline_r) : "out of memory");
        doctor_fix(ck, "mount this Pi's TFTP folder on %s (see boot-mount)", c->boot_sys);
        return true;
}

/* A value the image builder was to fill in ($ISCSI_TARGET_IQN, @ROOT@): the initramfs gets the
 * placeholder itself. Adds a FAIL and returns true when one is found. */
static bool cmdline_template_left(struct doctor_ctx *c, struct doctor_check *ck)
{
        for (size_t i = 0; i < c->cl.n; i++) {
                const struct cmdline_param *p = &c->cl.params[i];
                const char *v = p->value;

                if (!v || (!cmdline_is_iscsi_key(p->key) && !streq(p->key, "root")))
                        continue;
                if (!strchr(v, '$') && !(v[0] == '@' && strchr(v + 1, '@')))
                        continue;
                /* The key is shown, never the value: it may be a password. */
                doctor_say(ck, DOCTOR_FAIL,
                           "%s: %s= holds an unexpanded template variable ('$…' or '@…@'): the "
                           "initramfs would use it as it is",
                           c->cmdline_name, p->key);
                doctor_fix(ck,
                           "write the real value into %s (the script that generated it did not "
                           "substitute it)",
                           c->cmdline_name);
                return true;
        }
        return false;
}

/* What open-iscsi's local-top/iscsi does with the values: it exits without a login when the
 * target name or IP is empty (unless ISCSI_AUTO), and passes ISCSI_INITIATOR to iscsistart -i
 * as it is. Adds a FAIL and returns true when the initramfs would not log in. */
static bool cmdline_login_refused(struct doctor_ctx *c, struct doctor_check *ck,
                                  const struct iscsi_boot *b, const char *conf)
{
        char autov[64] = "";
        bool iscsi_auto =
            cmdline_get(&c->cl, "ISCSI_AUTO") || cmdline_get(&c->cl, "iscsi_auto") ||
            (conf && doctor_conf_value(conf, "ISCSI_AUTO", autov, sizeof(autov)) && autov[0]);

        if (!b->target_ip[0] && !iscsi_auto) {
                doctor_say(ck, DOCTOR_FAIL,
                           "%s names target %s but ISCSI_TARGET_IP is empty: open-iscsi's "
                           "initramfs script exits without logging in, and the root is not found",
                           c->cmdline_name, b->target_name);
                doctor_fix(ck, "set ISCSI_TARGET_IP=<the NAS's address> in %s", c->cmdline_name);
                return true;
        }
        if (strncmp(b->initiator, "InitiatorName=", 14) == 0) {
                doctor_say(ck, DOCTOR_FAIL,
                           "%s: ISCSI_INITIATOR=%s keeps the 'InitiatorName=' of "
                           "/etc/iscsi/initiatorname.iscsi: iscsistart logs in with that whole "
                           "string as its name, which the target refuses",
                           c->cmdline_name, b->initiator);
                doctor_fix(ck, "set ISCSI_INITIATOR=%s in %s", b->initiator + 14, c->cmdline_name);
                return true;
        }
        return false;
}

/* The kernel gets the first line only, and at most COMMAND_LINE_SIZE bytes of it (2048 on arm
 * and arm64) without a word: an ISCSI_ setting past either is as good as absent. */
static bool cmdline_cut(struct doctor_ctx *c, struct doctor_check *ck)
{
        size_t len = strcspn(c->cmdline_text, "\n");

        if (c->cl.lines > 1) {
                doctor_say(ck, DOCTOR_FAIL, "%s has %u lines: the kernel gets only the first",
                           c->cmdline_name, c->cl.lines);
                doctor_fix(ck, "join %s into one line", c->cmdline_name);
                return true;
        }
        if (len >= DOCTOR_KERNEL_CMDLINE_MAX) {
                doctor_say(ck, DOCTOR_FAIL,
                           "%s is %zu characters long: the kernel keeps only the first %d",
                           c->cmdline_name, len, DOCTOR_KERNEL_CMDLINE_MAX - 1);
                doctor_fix(ck, "shorten %s", c->cmdline_name);
                return true;
        }
        return false;
}

static void no_target_named(struct doctor_ctx *c, struct doctor_check *ck)
{
        bool dracut = cmdline_get(&c->cl, "netroot") != NULL;

        doctor_say(ck, DOCTOR_FAIL,
                   "%s names no ISCSI_TARGET_NAME: the initramfs will not log in to the root "
                   "disk%s",
                   c->cmdline_name,
                   dracut ? " (netroot=iscsi:… is dracut's syntax; initramfs-tools' "
                            "open-iscsi script ignores it)"
                          : "");
        doctor_fix(ck,
                   "add ISCSI_INITIATOR=… ISCSI_TARGET_NAME=… ISCSI_TARGET_IP=… "
                   "ISCSI_TARGET_PORT=3260 to %s (one line)",
                   c->cmdline_name);
}

/* What B says against the session that carries / now. */
static void compare_session(struct doctor_ctx *c, struct doctor_check *ck,
                            const struct iscsi_boot *b)
{
        const struct session_snapshot *s = &c->snap;
        unsigned port = b->target_port ? b->target_port : 3260;
        char diff[DOCTOR_TEXT_MAX] = "";

        if (!streq(b->target_name, s->targetname))
                doctor_appendf(diff, sizeof(diff), "target %s, session %s", b->target_name,
                               s->targetname);
        if (b->initiator[0] && s->initiatorname[0] && !streq(b->initiator, s->initiatorname))
                doctor_appendf(diff, sizeof(diff), "initiator %s, session %s", b->initiator,
                               s->initiatorname);
        if (b->target_ip[0] && s->persistent_address[0] &&
            !streq(b->target_ip, s->persistent_address))
                doctor_appendf(diff, sizeof(diff), "target IP %s, session portal %s", b->target_ip,
                               s->persistent_address);
        if (s->persistent_port && port != s->persistent_port)
                doctor_appendf(diff, sizeof(diff), "port %u, session port %u", port,
                               s->persistent_port);
        if (diff[0]) {
                struct in6_addr a;
                bool hostname = b->target_ip[0] && inet_pton(AF_INET, b->target_ip, &a) != 1 &&
                                inet_pton(AF_INET6, b->target_ip, &a) != 1;

                /* A host name cannot be compared with the address the session has. */
                doctor_say(ck, DOCTOR_FAIL, "%s differs from the running root session%u: %s",
                           c->cmdline_name, s->sid, diff);
                if (hostname && streq(b->target_name, s->targetname) &&
                    (!b->initiator[0] || streq(b->initiator, s->initiatorname)) &&
                    (!s->persistent_port || port == s->persistent_port))
                        ck->result = DOCTOR_WARN;
                doctor_fix(ck,
                           "make ISCSI_* in %s name the target this Pi runs from (session%u: %s at "
                           "%s:%u)",
                           c->cmdline_name, s->sid, s->targetname, s->persistent_address,
                           s->persistent_port);
                return;
        }
        doctor_say(ck, DOCTOR_OK, "%s logs in as the running session%u does: %s at %s:%u%s%s",
                   c->cmdline_name, s->sid, s->targetname, s->persistent_address,
                   s->persistent_port, b->initiator[0] ? " as " : "", b->initiator);
        if (cmdline_get(&c->cl, "netroot")) {
                ck->result = DOCTOR_WARN;
                snprintf(ck->detail + strlen(ck->detail), sizeof(ck->detail) - strlen(ck->detail),
                         "; its netroot= is dracut's syntax, which initramfs-tools ignores");
                doctor_fix(ck, "remove netroot=… from %s to avoid confusion", c->cmdline_name);
        }
}

/* B as parsed from cmdline.txt (R: iscsi_boot_parse's positive result) and CONF (the
 * initramfs's iscsi.initramfs, may be NULL): would the initramfs log in, and to the session that
 * carries / now? */
static void judge_boot_settings(struct doctor_ctx *c, struct doctor_check *ck,
                                const struct iscsi_boot *b, const char *conf, int r)
{
        const struct session_snapshot *s = &c->snap;

        if (cmdline_template_left(c, ck))
                return;
        if (r == 0 || !b->target_name[0]) {
                no_target_named(c, ck);
                return;
        }
        if (cmdline_login_refused(c, ck, b, conf))
                return;
        if (c->snap_r <= 0) {
                doctor_say(ck, DOCTOR_WARN,
                           "%s names target %s, but no iSCSI session carries / now (root %s): "
                           "nothing to compare",
                           c->cmdline_name, b->target_name,
                           s->root_source[0] ? s->root_source : "unknown");
                doctor_fix(ck, "boot from the network and run the doctor again");
                return;
        }
        compare_session(c, ck, b);
}

void doctor_check_cmdline_iscsi(struct doctor_ctx *c, struct doctor_check *ck)
{
        _cleanup_free_ char *conf = NULL;
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];
        int r;

        if (cmdline_unreadable(c, ck) || cmdline_cut(c, ck))
                return;
        (void)doctor_read_rooted(c->root, ISCSI_BOOT_INITRAMFS_PATH, DOCTOR_SMALL_FILE_MAX, &conf);
        iscsi_boot_init(&b);
        r = iscsi_boot_parse(conf, ISCSI_BOOT_INITRAMFS_PATH, c->cmdline_text, &b, err,
                             sizeof(err));
        if (r < 0) {
                doctor_say(ck, DOCTOR_FAIL, "%s", err);
                doctor_fix(ck, "correct the line named");
                return;
        }
        judge_boot_settings(c, ck, &b, conf, r);
        iscsi_boot_clear(&b);
}

static const char *dev_basename_of(const char *source)
{
        return strncmp(source, "/dev/", 5) == 0 ? path_base(source) : "";
}

/* root=iscsi:…: the initramfs logs in and finds the disk itself. */
static void root_is_iscsi(struct doctor_ctx *c, struct doctor_check *ck, const char *shown)
{
        struct iscsi_boot b;
        char err[ISCSI_BOOT_ERROR_MAX];

        /* Read as open-iscsi's initramfs reads it (credentials end at the first '@'). */
        iscsi_boot_init(&b);
        if (iscsi_boot_parse(NULL, NULL, c->cmdline_text, &b, err, sizeof(err)) < 0) {
                doctor_say(ck, DOCTOR_FAIL, "root=%s: %s", shown, err);
                doctor_fix(ck, "correct root= in %s", c->cmdline_name);
                return;
        }
        iscsi_boot_clear(&b);
        doctor_say(ck, DOCTOR_OK, "root=%s: the initramfs logs in and finds the disk itself",
                   shown);
}

/* The device ROOT_ARG names, into TARGET: through /dev/disk/by-* for UUID=, PARTUUID= and
 * LABEL=, as it is otherwise. Returns false when it said why it cannot tell. */
static bool resolve_root_arg(struct doctor_ctx *c, struct doctor_check *ck, const char *root_arg,
                             const char *shown, const char *rootdev, char *target, size_t size)
{
        const char *by = NULL, *key = NULL;
        _cleanup_free_ char *link = NULL;
        ssize_t n;

        by = doctor_disk_link(root_arg, &key);
        if (!by) {
                snprintf(target, size, "%s", root_arg);
                return true;
        }
        if (!*key || strchr(key, '/')) {
                doctor_say(ck, DOCTOR_FAIL, "root=%s is malformed", shown);
                doctor_fix(ck, "set root=UUID=<UUID of the iSCSI root fs> (sudo blkid)");
                return false;
        }
        link = root_pathf(c->root, "%s%s", by, key);
        n = link ? readlink(link, target, size - 1) : -1;
        if (n < 0) {
                doctor_say(ck, DOCTOR_WARN, "root=%s: cannot verify, no %s%s (/ is on %s)", shown,
                           by, key, rootdev);
                doctor_fix(ck, "check that 'sudo blkid /dev/%s' shows %s", rootdev, root_arg);
                return false;
        }
        target[n] = '\0';
        return true;
}

void doctor_check_cmdline_root(struct doctor_ctx *c, struct doctor_check *ck)
{
        const struct session_snapshot *s = &c->snap;
        const char *root_arg, *rootdev;
        _cleanup_free_ char *shown = NULL;
        char target[PATH_MAX];

        if (cmdline_unreadable(c, ck))
                return;
        root_arg = cmdline_get(&c->cl, "root");
        if (!root_arg) {
                doctor_say(ck, DOCTOR_FAIL,
                           "%s has no root=: the kernel does not know the "
                           "root file system",
                           c->cmdline_name);
                doctor_fix(ck, "add root=UUID=<UUID of the iSCSI root fs> (sudo blkid) to %s",
                           c->cmdline_name);
                return;
        }
        shown = cmdline_masked_value("root", root_arg);
        if (!shown) {
                doctor_say(ck, DOCTOR_WARN, "out of memory");
                return;
        }
        if (strncmp(root_arg, "iscsi:", 6) == 0) {
                root_is_iscsi(c, ck, shown);
                return;
        }
        rootdev = s->root_dev[0] ? s->root_dev : dev_basename_of(s->root_source);
        if (c->snap_r < 0 || !rootdev[0]) {
                doctor_say(ck, DOCTOR_WARN,
                           "root=%s: cannot verify, the device of / is unknown (no mountinfo)",
                           shown);
                doctor_fix(ck, "compare with 'findmnt /' and 'blkid' on the Pi");
                return;
        }
        if (!resolve_root_arg(c, ck, root_arg, shown, rootdev, target, sizeof(target)))
                return;
        if (!streq(path_base(target), rootdev)) {
                doctor_say(ck, DOCTOR_FAIL,
                           "root=%s is %s, but / is mounted from %s: the next boot mounts another "
                           "file system",
                           shown, path_base(target), rootdev);
                doctor_fix(ck, "set root=UUID=<UUID from 'sudo blkid /dev/%s'> in %s", rootdev,
                           c->cmdline_name);
                return;
        }
        doctor_say(ck, DOCTOR_OK, "root=%s is %s, the device / is mounted from", shown, rootdev);
}

static bool unit_file_present(const struct doctor_ctx *c, const char *unit)
{
        static const char *const dirs[] = {"/lib/systemd/system", "/usr/lib/systemd/system",
                                           "/etc/systemd/system"};

        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                _cleanup_free_ char *p = root_pathf(c->root, "%s/%s", dirs[i], unit);

                if (doctor_is_regular(p))
                        return true;
        }
        return false;
}

void doctor_check_iscsid(struct doctor_ctx *c, struct doctor_check *ck)
{
        int running = session_iscsid_running(c->root);
        bool socket = unit_file_present(c, "iscsid.socket");
        bool service = unit_file_present(c, "iscsid.service");
        bool enabled = doctor_rooted_exists(
                           c->root, "/etc/systemd/system/sockets.target.wants/iscsid.socket") ||
                       doctor_rooted_exists(
                           c->root, "/etc/systemd/system/multi-user.target.wants/iscsid.service");

        if (running == 1) {
                doctor_say(ck, DOCTOR_OK, "iscsid is running: it recovers a dropped root session");
                return;
        }
        if (!socket && !service) {
                doctor_say(ck, DOCTOR_FAIL,
                           "iscsid is not installed: a dropped connection is never recovered, the "
                           "root goes offline after recovery_tmo");
                doctor_fix(ck, "sudo apt-get install open-iscsi && sudo systemctl enable --now "
                               "iscsid.socket");
                return;
        }
        if (!enabled) {
                doctor_say(
                    ck, DOCTOR_FAIL,
                    "iscsid is not running and %s is not enabled: nothing recovers a dropped "
                    "root session",
                    socket ? "iscsid.socket" : "iscsid.service");
                doctor_fix(ck, "sudo systemctl enable --now %s",
                           socket ? "iscsid.socket iscsid.service" : "iscsid.service");
                return;
        }
        doctor_say(ck, DOCTOR_WARN,
                   "iscsid is enabled but not running now: until it runs and adopts the session, "
                   "a dropped connection is not recovered");
        doctor_fix(ck, "sudo systemctl start iscsid");
}

static enum doctor_result judge_tmo(long tmo)
{
        return tmo < TMO_FAIL_BELOW ? DOCTOR_FAIL : tmo < TMO_WARN_BELOW ? DOCTOR_WARN : DOCTOR_OK;
}

void doctor_check_recovery_tmo(struct doctor_ctx *c, struct doctor_check *ck)
{
        _cleanup_free_ char *conf = NULL;
        enum doctor_result worst = DOCTOR_OK, r;
        char v[64], live[128] = "", file[160] = "";
        unsigned long conf_tmo = 0;
        bool have_live = c->snap_r > 0 && c->snap.recovery_tmo >= 0, have_conf = false;

        if (doctor_read_rooted(c->root, "/etc/iscsi/iscsid.conf", DOCTOR_SMALL_FILE_MAX, &conf) ==
                0 &&
            doctor_conf_value(conf, "node.session.timeo.replacement_timeout", v, sizeof(v)) &&
            parse_uint(v, &conf_tmo) == 0)
                have_conf = true;
        if (have_live) {
                snprintf(live, sizeof(live), "session%u recovery_tmo %d s", c->snap.sid,
                         c->snap.recovery_tmo);
                worst = judge_tmo(c->snap.recovery_tmo);
        }
        if (have_conf) {
                snprintf(file, sizeof(file), "iscsid.conf replacement_timeout %lu s", conf_tmo);
                r = judge_tmo(conf_tmo > 86400UL * 365 ? 86400L * 365 : (long)conf_tmo);
                worst = r > worst ? r : worst;
        }
        if (!have_live && !have_conf) {
                doctor_say(ck, DOCTOR_WARN,
                           "cannot tell: no root session and no "
                           "node.session.timeo.replacement_timeout in /etc/iscsi/iscsid.conf");
                doctor_fix(ck, "set node.session.timeo.replacement_timeout = 86400 in "
                               "/etc/iscsi/iscsid.conf");
                return;
        }
        doctor_say(ck, worst, "%s%s%s%s", live, live[0] && file[0] ? ", " : "", file,
                   worst == DOCTOR_FAIL ? ": a short NAS outage takes the root offline"
                   : worst == DOCTOR_WARN
                       ? ": a NAS reboot can outlast it (open-iscsi advises 86400)"
                       : "");
        if (worst != DOCTOR_OK && !have_live)
                doctor_fix(ck, "set node.session.timeo.replacement_timeout = 86400 in "
                               "/etc/iscsi/iscsid.conf");
        else if (worst != DOCTOR_OK)
                doctor_fix(ck,
                           "set node.session.timeo.replacement_timeout = 86400 in "
                           "/etc/iscsi/iscsid.conf; for now: echo 86400 > "
                           "/sys/class/iscsi_session/session%u/recovery_tmo",
                           c->snap.sid);
}
