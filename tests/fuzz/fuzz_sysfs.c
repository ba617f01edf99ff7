/* Values the agent reads from sysfs and procfs. Byte 0 picks the parser:
 *   0  an LED's trigger list (led_parse_triggers())
 *   1  /proc/cpuinfo's Serial line (piinfo_parse_serial())
 *   2  the iSCSI session: mountinfo and a sysfs device path (the static parsers of session.c,
 *      included here), then session_read() on a fake sysfs tree whose attribute files hold
 *      the input's NUL-separated pieces, and the verdict and description built from it.
 * Invariants: results are terminated strings within their bounds, and what is reported is
 * consistent with the input (the active trigger is offered, a serial is lower-case hex). */
#include "fuzz.h"

#include "led.h"
#include "piinfo.h"

#include "session.c"

#include <ctype.h>
#include <sys/stat.h>

static bool has_word(const char *list, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = list; (p = strstr(p, word)); p++)
                if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

static void fuzz_led(const uint8_t *data, size_t size)
{
        char *list = fuzz_strndup(data, size);
        char active[LED_NAME_MAX], offered[LED_TRIGGERS_MAX];
        int r = led_parse_triggers(list, active, sizeof(active), offered, sizeof(offered));

        FUZZ_TERMINATED(active);
        FUZZ_TERMINATED(offered);
        FUZZ_CHECK(r == 0 || r == -ENODATA || r == -ENOBUFS, "%d", r);
        if (r == 0) {
                FUZZ_CHECK(!strpbrk(active, " \n"), "active trigger '%s'", active);
                FUZZ_CHECK(!strchr(offered, '\n') && !strstr(offered, "  ") && offered[0] != ' ',
                           "offered list '%s'", offered);
                if (active[0] && strlen(active) < sizeof(active) - 1)
                        FUZZ_CHECK(has_word(offered, active), "'%s' not in '%s'", active, offered);
        }
        free(list);
}

static void fuzz_piinfo(const uint8_t *data, size_t size)
{
        char *text = fuzz_strndup(data, size);
        char serial[PIINFO_SERIAL_MAX];
        size_t n;
        int r = piinfo_parse_serial(text, serial, sizeof(serial));

        if (r == 0) {
                FUZZ_TERMINATED(serial);
                n = strlen(serial);
                FUZZ_CHECK(n == PIINFO_SERIAL_LEN, "serial '%s'", serial);
                for (size_t i = 0; i < n; i++)
                        FUZZ_CHECK(isxdigit((unsigned char)serial[i]) &&
                                       !isupper((unsigned char)serial[i]),
                                   "serial '%s'", serial);
                /* Leading zeros stay: the bootloader asks for 0b615590/, not b615590/. */
        } else {
                FUZZ_CHECK(r == -ENODATA, "%d", r);
        }
        free(text);
}

/* The attribute files of the fake tree, in the order the input's pieces fill them. */
static const char *const attrs[] = {
    "proc/self/mountinfo",
    "sys/class/iscsi_session/session1/state",
    "sys/class/iscsi_session/session1/targetname",
    "sys/class/iscsi_session/session1/initiatorname",
    "sys/class/iscsi_session/session1/tpgt",
    "sys/class/iscsi_session/session1/recovery_tmo",
    "sys/class/iscsi_connection/connection1:0/address",
    "sys/class/iscsi_connection/connection1:0/port",
    "sys/class/iscsi_connection/connection1:0/persistent_address",
    "sys/class/iscsi_connection/connection1:0/persistent_port",
    "sys/class/iscsi_host/host0/netdev",
    "sys/class/iscsi_host/host0/ipaddress",
    "sys/block/sda/device/state",
};

static const char *fake_tree(void)
{
        static char root[512];
        static const char *const dirs[] = {
            "proc/self",
            "sys/devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda/sda1",
            "sys/dev/block",
            "sys/class/iscsi_session/session1",
            "sys/class/iscsi_connection/connection1:0",
            "sys/class/iscsi_host/host0",
            "sys/block/sda/device",
        };
        char path[1024];

        if (root[0])
                return root;
        snprintf(root, sizeof(root), "%s/pi", fuzz_tmpdir());
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
                if (mkdir_parents(path, 0755) < 0)
                        abort();
        }
        snprintf(path, sizeof(path), "%s/sys/dev/block/8:1", root);
        if (symlink("../../devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda/sda1",
                    path) < 0)
                abort();
        snprintf(path, sizeof(path), "%s/sys/class/iscsi_session/session1/device", root);
        if (symlink("../../../devices/platform/host0/session1", path) < 0)
                abort();
        return root;
}

static void check_snapshot(const struct session_snapshot *s)
{
        FUZZ_TERMINATED(s->root_source);
        FUZZ_TERMINATED(s->root_dev);
        FUZZ_TERMINATED(s->state_raw);
        FUZZ_TERMINATED(s->targetname);
        FUZZ_TERMINATED(s->initiatorname);
        FUZZ_TERMINATED(s->address);
        FUZZ_TERMINATED(s->persistent_address);
        FUZZ_TERMINATED(s->host_netdev);
        FUZZ_TERMINATED(s->host_ipaddress);
        FUZZ_TERMINATED(s->disk);
        FUZZ_TERMINATED(s->disk_state_raw);
        FUZZ_CHECK(s->port <= 65535 && s->persistent_port <= 65535, "port %u/%u", s->port,
                   s->persistent_port);
        FUZZ_CHECK(s->state == session_state_from_string(s->state_raw), "state");
        FUZZ_CHECK(strcmp(s->targetname, "(null)") != 0, "(null) shown as a name");
}

static void fuzz_session(const uint8_t *data, size_t size)
{
        const char *root = fake_tree();
        const uint8_t *piece;
        char path[1024], *text;
        struct session_locator loc;
        struct session_snapshot snap;
        struct session_verdict v;
        struct devpath d;
        unsigned maj = 0, min = 0;
        char source[SESSION_NAME_MAX], desc[512];
        size_t n;
        int r;

        /* The static parsers, straight on the first two pieces. */
        n = fuzz_take(&data, &size, 0, &piece);
        text = fuzz_strndup(piece, n);
        r = mountinfo_find_root(text, &maj, &min, source, sizeof(source));
        if (r == 0)
                FUZZ_TERMINATED(source);
        free(text);
        n = fuzz_take(&data, &size, 0, &piece);
        text = fuzz_strndup(piece, n);
        devpath_parse(text, &d);
        FUZZ_TERMINATED(d.disk);
        FUZZ_TERMINATED(d.leaf);
        FUZZ_CHECK(!strchr(d.leaf, '/') && !strchr(d.disk, '/'), "'/' in a component");
        free(text);

        /* The rest fills the fake tree; a missing piece is a missing file. */
        for (size_t i = 0; i < ARRAY_SIZE(attrs); i++) {
                snprintf(path, sizeof(path), "%s/%s", root, attrs[i]);
                if (size == 0 && i > 0) {
                        unlink(path);
                        continue;
                }
                n = fuzz_take(&data, &size, 0, &piece);
                fuzz_write_file(path, piece, n);
        }
        session_locator_init(&loc, "iqn.2024-01.lan.nas:pi");
        r = session_read(root, &loc, &snap);
        FUZZ_CHECK(r == 0 || r == 1 || r == -ENOENT, "session_read: %d", r);
        if (r < 0)
                return;
        FUZZ_CHECK((r == 1) == snap.present, "present");
        check_snapshot(&snap);
        session_assess(&snap, 1, 0, &v);
        FUZZ_CHECK(v.n_reasons <= SESSION_REASONS_MAX, "%u reasons", v.n_reasons);
        for (unsigned i = 0; i < v.n_reasons; i++) {
                FUZZ_TERMINATED(v.reasons[i].text);
                FUZZ_TERMINATED(v.reasons[i].code);
                FUZZ_CHECK(v.reasons[i].code[0], "reason %u has no code", i);
        }
        session_describe(&snap, desc, sizeof(desc));
        FUZZ_TERMINATED(desc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        switch (data[0] % 3) {
        case 0:
                fuzz_led(data + 1, size - 1);
                break;
        case 1:
                fuzz_piinfo(data + 1, size - 1);
                break;
        default:
                fuzz_session(data + 1, size - 1);
                break;
        }
        return 0;
}
