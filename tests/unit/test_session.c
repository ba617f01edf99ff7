/* session.c against a FAKE sysfs tree: the host kernel has no iSCSI initiator, so
 * tests/lib/fake_sysfs.sh lays out the kernel's real format (FACTS.md) in a temporary folder.
 * Also iscsi_events.c's parser, fed crafted NETLINK_ISCSI datagrams. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/netlink.h>
#include <malloc.h>
#include <sys/stat.h>

#include "iscsi_events.h"
#include "session.h"
#include "util.h"

#define TARGET "iqn.2000-01.com.synology:BlackSyno.PiTarget"

struct fixture {
        char dir[128];  /* the temporary folder */
        char root[192]; /* the sandbox root inside it */
        struct session_locator loc;
        struct session_snapshot snap;
        struct session_verdict verdict;
};

static const char *script_path(void)
{
        static char path[512];
        const char *src = getenv("NETROOT_SRCDIR");
        const char *slash;

        if (src) {
                snprintf(path, sizeof(path), "%s/tests/lib/fake_sysfs.sh", src);
                return path;
        }
        /* __FILE__ is "tests/unit/test_session.c" from the top folder, where tests run. */
        slash = strrchr(__FILE__, '/');
        snprintf(path, sizeof(path), "%.*s/../lib/fake_sysfs.sh",
                 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
        return path;
}

/* Runs fake_sysfs.sh functions: sh("fake_disk_state %s sda blocked"), %s = the sandbox root. */
static void sh(struct fixture *f, const char *fmt)
{
        char cmd[2048], body[1024];

        snprintf(body, sizeof(body), fmt, f->root, f->root);
        snprintf(cmd, sizeof(cmd), "bash -c '. %s && %s'", script_path(), body);
        assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        if (access(script_path(), R_OK) != 0) {
                fprintf(stderr,
                        "fake_sysfs.sh not found at %s (run from the top folder or set "
                        "NETROOT_SRCDIR)\n",
                        script_path());
                free(f);
                return -1;
        }
        /* Folder names that look like sysfs ones must not fool the path walk. */
        strcpy(f->dir, "/tmp/netroot-session9-host7.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->root, sizeof(f->root), "%s/host3/session5", f->dir);
        sh(f, "mkdir -p %s && fake_iscsi_tree %s");
        session_locator_init(&f->loc, NULL);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", f->dir);
        free(f);
        return 0;
}

static int read_and_assess(struct fixture *f, int iscsid, int min_tmo)
{
        int r = session_read(f->root, &f->loc, &f->snap);

        session_assess(&f->snap, iscsid, min_tmo, &f->verdict);
        return r;
}

static bool has_reason(const struct session_verdict *v, const char *text)
{
        for (unsigned i = 0; i < v->n_reasons; i++)
                if (strstr(v->reasons[i].text, text))
                        return true;
        return false;
}

static bool has_code(const struct session_verdict *v, const char *code)
{
        for (unsigned i = 0; i < v->n_reasons; i++)
                if (strcmp(v->reasons[i].code, code) == 0)
                        return true;
        return false;
}

static void print_reasons(const struct session_verdict *v)
{
        for (unsigned i = 0; i < v->n_reasons; i++)
                printf("    %s: %s\n", health_state_to_string(v->reason_health[i]),
                       v->reasons[i].text);
}

static void test_logged_in(void **state)
{
        struct fixture *f = *state;
        const struct session_snapshot *s = &f->snap;
        char line[512];

        assert_int_equal(read_and_assess(f, 1, -1), 1);
        assert_true(s->present);
        assert_int_equal(s->found_by, SESSION_FOUND_BY_ROOT_DEVICE);
        assert_int_equal(s->sid, 1);
        assert_int_equal(s->host, 0);
        assert_int_equal(s->root_major, 8);
        assert_int_equal(s->root_minor, 0);
        assert_string_equal(s->root_source, "/dev/sda");
        assert_string_equal(s->root_dev, "sda");
        assert_int_equal(s->state, SESSION_STATE_LOGGED_IN);
        assert_string_equal(s->state_raw, "LOGGED_IN");
        assert_string_equal(s->targetname, TARGET);
        assert_string_equal(s->initiatorname, "iqn.2016-11.org.raspberrypi:superpi");
        assert_int_equal(s->tpgt, 1);
        assert_int_equal(s->recovery_tmo, 120);
        assert_string_equal(s->address, "192.168.1.10");
        assert_int_equal(s->port, 3260);
        assert_string_equal(s->persistent_address, "192.168.1.10");
        assert_int_equal(s->persistent_port, 3260);
        assert_string_equal(s->host_netdev, ""); /* "default": software iSCSI, no binding */
        assert_string_equal(s->host_ipaddress, "192.168.1.50");
        assert_string_equal(s->disk, "sda");
        assert_int_equal(s->disk_state, DISK_STATE_RUNNING);
        assert_int_equal(f->verdict.health, HEALTH_OK);
        assert_int_equal(f->verdict.n_reasons, 0);
        session_describe(s, line, sizeof(line));
        printf("    %s\n", line);
        assert_non_null(strstr(line, "session1 LOGGED_IN " TARGET " portal 192.168.1.10:3260"));
}

static void test_short_recovery_tmo(void **state)
{
        struct fixture *f = *state;

        /* The default floor (600 s) flags the open-iscsi default of 120 s. */
        read_and_assess(f, 1, 0);
        print_reasons(&f->verdict);
        assert_int_equal(f->verdict.health, HEALTH_DEGRADED);
        assert_true(has_reason(&f->verdict, "session1: recovery_tmo is 120 s"));
        assert_true(has_code(&f->verdict, "recovery-tmo-short"));
        sh(f, "fake_recovery_tmo %s session1 86400");
        read_and_assess(f, 1, 0);
        assert_int_equal(f->snap.recovery_tmo, 86400);
        assert_int_equal(f->verdict.health, HEALTH_OK);
}

static void test_failed_and_back(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(read_and_assess(f, 1, -1), 1);
        sh(f, "fake_session_state %s session1 FAILED && fake_disk_state %s sda blocked");
        assert_int_equal(read_and_assess(f, 1, -1), 1);
        print_reasons(&f->verdict);
        assert_int_equal(f->snap.state, SESSION_STATE_FAILED);
        assert_int_equal(f->snap.disk_state, DISK_STATE_BLOCKED);
        assert_int_equal(f->verdict.health, HEALTH_FAILED);
        assert_true(has_reason(&f->verdict, "session1: FAILED"));
        assert_true(has_code(&f->verdict, "session-failed"));
        assert_true(has_reason(&f->verdict, "up to 120 s"));
        assert_true(has_reason(&f->verdict, "session1: disk sda is blocked"));
        assert_true(has_code(&f->verdict, "disk-blocked"));

        sh(f, "fake_session_state %s session1 LOGGED_IN && fake_disk_state %s sda running");
        assert_int_equal(read_and_assess(f, 1, -1), 1);
        assert_int_equal(f->snap.sid, 1);
        assert_int_equal(f->verdict.health, HEALTH_OK);
}

static void test_state_free(void **state)
{
        struct fixture *f = *state;

        sh(f, "fake_session_state %s session1 FREE");
        assert_int_equal(read_and_assess(f, 1, -1), 1);
        print_reasons(&f->verdict);
        assert_int_equal(f->snap.state, SESSION_STATE_FREE);
        assert_int_equal(f->verdict.health, HEALTH_FAILED);
        assert_true(has_reason(&f->verdict, "session1: FREE (not logged in)"));
        assert_true(has_code(&f->verdict, "session-free"));
}

static void test_disk_states(void **state)
{
        struct fixture *f = *state;

        sh(f, "fake_disk_state %s sda blocked");
        read_and_assess(f, 1, -1);
        assert_int_equal(f->verdict.health, HEALTH_DEGRADED);
        sh(f, "fake_disk_state %s sda transport-offline");
        read_and_assess(f, 1, -1);
        print_reasons(&f->verdict);
        assert_int_equal(f->snap.disk_state, DISK_STATE_TRANSPORT_OFFLINE);
        assert_int_equal(f->verdict.health, HEALTH_FAILED);
        assert_true(has_reason(&f->verdict, "disk sda is transport-offline"));
        assert_true(has_code(&f->verdict, "disk-offline"));
        sh(f, "fake_disk_state %s sda offline");
        read_and_assess(f, 1, -1);
        assert_int_equal(f->snap.disk_state, DISK_STATE_OFFLINE);
        assert_int_equal(f->verdict.health, HEALTH_FAILED);
        sh(f, "fake_disk_state %s sda quiesce");
        read_and_assess(f, 1, -1);
        assert_int_equal(f->snap.disk_state, DISK_STATE_OTHER);
        assert_string_equal(f->snap.disk_state_raw, "quiesce");
        assert_int_equal(f->verdict.health, HEALTH_DEGRADED);
}

static void test_vanished_and_rediscovered(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(read_and_assess(f, 1, -1), 1);
        sh(f, "fake_remove_session %s 1");
        assert_int_equal(read_and_assess(f, 1, -1), 0);
        print_reasons(&f->verdict);
        assert_false(f->snap.present);
        assert_int_equal(f->snap.last_sid, 1);
        assert_true(f->snap.root_dev_missing);
        assert_int_equal(f->verdict.health, HEALTH_FAILED);
        assert_true(has_reason(&f->verdict, "session1 that carried / is gone"));
        assert_true(has_code(&f->verdict, "session-gone"));
        assert_true(has_reason(&f->verdict, "was removed"));
        /* Still gone on the next poll. */
        assert_int_equal(read_and_assess(f, 1, -1), 0);
        assert_int_equal(f->snap.last_sid, 1);

        /* A new login: session2 on its own SCSI host, the disk back as 8:0. */
        sh(f, "fake_add_session %s 2 1 sda 8");
        assert_int_equal(read_and_assess(f, 1, -1), 1);
        assert_int_equal(f->snap.sid, 2);
        assert_int_equal(f->snap.host, 1);
        assert_int_equal(f->snap.last_sid, 0);
        assert_false(f->snap.root_dev_missing);
        assert_int_equal(f->verdict.health, HEALTH_OK);
}

static void test_root_on_partition(void **state)
{
        struct fixture *f = *state;

        sh(f, "fake_root_on %s 8:1 /dev/sda1");
        assert_int_equal(read_and_assess(f, 1, -1), 1);
        assert_string_equal(f->snap.root_dev, "sda1");
        assert_string_equal(f->snap.disk, "sda");
        assert_int_equal(f->snap.sid, 1);
}

static void test_root_not_on_iscsi(void **state)
{
        struct fixture *f = *state;

        sh(f, "fake_local_root %s");
        assert_int_equal(read_and_assess(f, 1, -1), 0);
        print_reasons(&f->verdict);
        assert_false(f->snap.present);
        assert_string_equal(f->snap.root_dev, "mmcblk0p2");
        assert_false(f->snap.root_dev_missing);
        assert_int_equal(f->verdict.health, HEALTH_DEGRADED);
        assert_true(has_reason(&f->verdict, "no iSCSI session for / (root is /dev/mmcblk0p2)"));
        assert_true(has_code(&f->verdict, "no-iscsi-root"));
}

static void test_fallback_by_target(void **state)
{
        struct fixture *f = *state;

        /* A btrfs root shows an anonymous device 0:31: the path walk cannot find the disk. */
        sh(f, "fake_root_on %s 0:31 /dev/sda btrfs");
        assert_int_equal(read_and_assess(f, 1, -1), 0);
        assert_false(f->snap.root_dev_missing);

        session_locator_init(&f->loc, TARGET);
        sh(f, "fake_add_session %s 3 2 sdb 8 iqn.2000-01.com.example:other");
        assert_int_equal(read_and_assess(f, 1, -1), 1);
        assert_int_equal(f->snap.found_by, SESSION_FOUND_BY_TARGET);
        assert_int_equal(f->snap.sid, 1);
        assert_string_equal(f->snap.disk, "sda");
        assert_int_equal(f->snap.disk_state, DISK_STATE_RUNNING);

        /* Of two sessions to the boot target, the newest wins. */
        sh(f, "fake_add_session %s 4 3 sdc 8");
        session_locator_reset(&f->loc);
        assert_int_equal(read_and_assess(f, 1, -1), 1);
        assert_int_equal(f->snap.sid, 4);
        assert_int_equal(f->snap.host, 3);
        assert_string_equal(f->snap.disk, "sdc");
}

static void test_root_on_dm(void **state)
{
        struct fixture *f = *state;

        /* LVM or dm-crypt: dm-0 (254:0) whose slave is sda1. */
        sh(f, "d=%s/sys/devices/virtual/block/dm-0 && mkdir -p $d/slaves && "
              "ln -s ../../../../platform/host0/session1/target0:0:0/0:0:0:1/block/sda/sda1 "
              "$d/slaves/sda1 && ln -s ../../devices/virtual/block/dm-0 %s/sys/dev/block/254:0");
        sh(f, "fake_root_on %s 254:0 /dev/mapper/vg-root");
        assert_int_equal(read_and_assess(f, 1, -1), 1);
        assert_string_equal(f->snap.root_dev, "dm-0");
        assert_string_equal(f->snap.disk, "sda");
        assert_int_equal(f->snap.sid, 1);
}

static void test_iscsid(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(session_iscsid_running(f->root), 0);
        read_and_assess(f, session_iscsid_running(f->root), -1);
        print_reasons(&f->verdict);
        assert_int_equal(f->verdict.health, HEALTH_DEGRADED);
        assert_true(has_reason(&f->verdict, "iscsid not running: a dropped session will not "
                                            "recover"));
        sh(f, "fake_iscsid %s running 612");
        assert_int_equal(session_iscsid_running(f->root), 1);
        read_and_assess(f, session_iscsid_running(f->root), -1);
        assert_int_equal(f->verdict.health, HEALTH_OK);
        /* The pid file fast path, and a stale pid file falling back to the scan. */
        sh(f, "mkdir -p %s/run && echo 612 > %s/run/iscsid.pid");
        assert_int_equal(session_iscsid_running(f->root), 1);
        sh(f, "echo 1 > %s/run/iscsid.pid");
        assert_int_equal(session_iscsid_running(f->root), 1);
        sh(f, "fake_iscsid %s stopped");
        assert_int_equal(session_iscsid_running(f->root), 0);
        /* No session: iscsid does not matter. */
        sh(f, "fake_local_root %s");
        session_locator_init(&f->loc, NULL); /* reset() keeps "/": it never moves */
        read_and_assess(f, 0, -1);
        assert_false(has_reason(&f->verdict, "iscsid"));
}

static void test_no_mountinfo(void **state)
{
        struct fixture *f = *state;

        sh(f, "rm %s/proc/self/mountinfo");
        assert_int_equal(session_read(f->root, &f->loc, &f->snap), -ENOENT);
}

/* The poll path: after discovery, session_read() must not allocate. mallinfo2() counts the
 * heap in normal builds; under ASan it reports nothing and this check is vacuous. */
static void test_steady_path_no_allocation(void **state)
{
        struct fixture *f = *state;
        struct mallinfo2 before, after;

        assert_int_equal(session_read(f->root, &f->loc, &f->snap), 1);
        before = mallinfo2();
        for (int i = 0; i < 100; i++)
                assert_int_equal(session_read(f->root, &f->loc, &f->snap), 1);
        after = mallinfo2();
        assert_int_equal(before.uordblks, after.uordblks);
}

/* ---- iscsi_events ---- */

/* Builds a datagram of one netlink message whose payload is a struct iscsi_uevent of 56 bytes
 * (the layout on x86_64, arm and arm64): type at 0, the kernel-to-user union at 40. */
static size_t craft(uint8_t *buf, size_t off, uint32_t type, uint32_t w0, uint32_t w1, uint32_t w2)
{
        struct nlmsghdr h = {.nlmsg_len = NLMSG_LENGTH(56), .nlmsg_type = 0};
        uint8_t *p = buf + off + NLMSG_HDRLEN;

        memset(buf + off, 0, NLMSG_SPACE(56));
        memcpy(buf + off, &h, sizeof(h));
        memcpy(p, &type, 4);
        memcpy(p + 40, &w0, 4);
        memcpy(p + 44, &w1, 4);
        memcpy(p + 48, &w2, 4);
        return off + NLMSG_SPACE(56);
}

static void test_events_parse(void **state)
{
        uint8_t buf[1024];
        struct iscsi_event ev[8];
        size_t len = 0;
        char tmp[32];

        (void)state;
        len = craft(buf, len, ISCSI_EVENT_CONN_ERROR, 1, 0, 1020);    /* sid, cid, err */
        len = craft(buf, len, ISCSI_EVENT_DESTROY_SESSION, 0, 1, 0);  /* host, sid */
        len = craft(buf, len, ISCSI_EVENT_CREATE_SESSION, 2, 1, 0);   /* sid, host */
        len = craft(buf, len, 101, 2, 0, 0);                          /* RECV_PDU: skipped */
        len = craft(buf, len, ISCSI_EVENT_CONN_LOGIN_STATE, 2, 0, 3); /* sid, cid, state */
        assert_int_equal(iscsi_events_parse(buf, len, ev, ARRAY_SIZE(ev)), 4);
        assert_int_equal(ev[0].type, ISCSI_EVENT_CONN_ERROR);
        assert_int_equal(ev[0].sid, 1);
        assert_int_equal(ev[0].code, 1020);
        assert_string_equal(iscsi_conn_error_to_string(ev[0].code, tmp, sizeof(tmp)),
                            "TCP connection closed");
        assert_int_equal(ev[1].type, ISCSI_EVENT_DESTROY_SESSION);
        assert_int_equal(ev[1].sid, 1);
        assert_int_equal(ev[1].host, 0);
        assert_int_equal(ev[2].type, ISCSI_EVENT_CREATE_SESSION);
        assert_int_equal(ev[2].sid, 2);
        assert_int_equal(ev[2].host, 1);
        assert_int_equal(ev[3].type, ISCSI_EVENT_CONN_LOGIN_STATE);
        assert_int_equal(ev[3].code, ISCSI_CONN_STATE_LOGGED_IN);
        assert_string_equal(iscsi_event_type_to_string(ev[3].type), "connection login state");
        assert_string_equal(iscsi_conn_error_to_string(1005, tmp, sizeof(tmp)), "iSCSI error 1005");

        /* MAX caps the output. */
        assert_int_equal(iscsi_events_parse(buf, len, ev, 1), 1);
}

static void test_events_parse_malformed(void **state)
{
        uint8_t buf[256];
        struct iscsi_event ev[4];
        struct nlmsghdr h;
        size_t len;

        (void)state;
        len = craft(buf, 0, ISCSI_EVENT_CONN_ERROR, 1, 0, 1020);
        /* Cut short: the datagram is shorter than nlmsg_len says. */
        assert_int_equal(iscsi_events_parse(buf, len - 8, ev, 4), 0);
        assert_int_equal(iscsi_events_parse(buf, 10, ev, 4), 0);
        assert_int_equal(iscsi_events_parse(buf, 0, ev, 4), 0);
        /* A header claiming a payload too small for the union. */
        memcpy(&h, buf, sizeof(h));
        h.nlmsg_len = NLMSG_LENGTH(20);
        memcpy(buf, &h, sizeof(h));
        assert_int_equal(iscsi_events_parse(buf, len, ev, 4), 0);
        /* nlmsg_len smaller than the header itself. */
        h.nlmsg_len = 4;
        memcpy(buf, &h, sizeof(h));
        assert_int_equal(iscsi_events_parse(buf, len, ev, 4), 0);
}

static void noop_handler(const struct iscsi_event *ev, void *userdata)
{
        (void)ev;
        (void)userdata;
}

/* This host has no iSCSI in its kernel: opening must fail cleanly, never crash. */
static void test_events_open_unavailable(void **state)
{
        sd_event *e = NULL;
        struct iscsi_events *ev = NULL;
        int r;

        (void)state;
        assert_int_equal(sd_event_new(&e), 0);
        r = iscsi_events_open(e, noop_handler, NULL, &ev);
        printf("    iscsi_events_open: %s\n", r < 0 ? strerror(-r) : "listening");
        assert_true(r == 0 || r == -EPROTONOSUPPORT || r == -EPERM);
        assert_true(r == 0 || ev == NULL);
        iscsi_events_free(ev);
        sd_event_unref(e);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_logged_in),
            T(test_short_recovery_tmo),
            T(test_failed_and_back),
            T(test_state_free),
            T(test_disk_states),
            T(test_vanished_and_rediscovered),
            T(test_root_on_partition),
            T(test_root_not_on_iscsi),
            T(test_fallback_by_target),
            T(test_root_on_dm),
            T(test_iscsid),
            T(test_no_mountinfo),
            T(test_steady_path_no_allocation),
            cmocka_unit_test(test_events_parse),
            cmocka_unit_test(test_events_parse_malformed),
            cmocka_unit_test(test_events_open_unavailable),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
