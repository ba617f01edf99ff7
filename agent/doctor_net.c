/* The doctor's network checks: no DHCP client reconfigures the root's link (dhcpcd, ifupdown),
 * and IPv6 as agent.conf asks. */
#include "doctor_check.h"

#include "fileio.h"
#include "ipv6.h"
#include "rootpath.h"

#include <dirent.h>

static void iscsi_iface(const struct doctor_ctx *c, char *iface, size_t size, bool *from_ip)
{
        const char *ip = c->pcl_ok ? cmdline_get(&c->pcl, "ip") : NULL;

        *from_ip = ip != NULL;
        doctor_ip_iface(ip, iface, size);
}

void doctor_check_dhcpcd(struct doctor_ctx *c, struct doctor_check *ck)
{
        _cleanup_free_ char *conf = NULL;
        char iface[64];
        bool from_ip;
        int r;

        iscsi_iface(c, iface, sizeof(iface), &from_ip);
        r = doctor_read_rooted(c->root, "/etc/dhcpcd.conf", DOCTOR_SMALL_FILE_MAX, &conf);
        if (r == -ENOENT) {
                doctor_say(ck, DOCTOR_SKIP, "no /etc/dhcpcd.conf: dhcpcd does not configure %s",
                           iface);
                return;
        }
        if (r < 0) {
                doctor_say(ck, DOCTOR_WARN, "cannot read /etc/dhcpcd.conf: %s", strerror(-r));
                doctor_fix(ck, "make /etc/dhcpcd.conf readable and re-run");
                return;
        }
        if (!doctor_dhcpcd_denies(conf, iface)) {
                doctor_say(
                    ck, DOCTOR_FAIL,
                    "/etc/dhcpcd.conf lets dhcpcd configure %s, which the kernel's ip= "
                    "already configured%s: two addresses, and a lease change can cut the root",
                    iface, from_ip ? "" : " (no ip= on the command line: assumed eth0)");
                doctor_fix(ck,
                           "add 'denyinterfaces %s' to /etc/dhcpcd.conf (then set DNS in "
                           "/etc/resolvconf.conf)",
                           iface);
                return;
        }
        doctor_say(ck, DOCTOR_OK, "/etc/dhcpcd.conf keeps dhcpcd away from %s", iface);
}

void doctor_check_ifupdown(struct doctor_ctx *c, struct doctor_check *ck)
{
        _cleanup_free_ char *dpath = root_path(c->root, "/etc/network/interfaces.d");
        _cleanup_free_ char *text = NULL;
        char iface[64], file[300] = "";
        unsigned line = 0;
        bool from_ip;
        DIR *d;

        iscsi_iface(c, iface, sizeof(iface), &from_ip);
        if (doctor_read_rooted(c->root, "/etc/network/interfaces", DOCTOR_SMALL_FILE_MAX, &text) ==
                0 &&
            (line = doctor_ifupdown_dhcp_line(text, iface)))
                snprintf(file, sizeof(file), "/etc/network/interfaces");
        d = !line && dpath ? opendir(dpath) : NULL;
        for (struct dirent *de; d && !line && (de = readdir(d));) {
                _cleanup_free_ char *p = NULL, *t = NULL;

                if (de->d_name[0] == '.' || asprintf(&p, "%s/%s", dpath, de->d_name) < 0)
                        continue;
                if (file_read_all(p, DOCTOR_SMALL_FILE_MAX, &t, NULL) == 0 &&
                    (line = doctor_ifupdown_dhcp_line(t, iface)))
                        snprintf(file, sizeof(file), "/etc/network/interfaces.d/%s", de->d_name);
        }
        if (d)
                closedir(d);
        if (line) {
                doctor_say(ck, DOCTOR_FAIL,
                           "%s line %u: 'iface %s inet dhcp' makes ifupdown run DHCP again on the "
                           "root's link",
                           file, line, iface);
                doctor_fix(ck, "change it to 'iface %s inet manual' (the initramfs configured %s)",
                           iface, iface);
                return;
        }
        doctor_say(ck, DOCTOR_OK, "no ifupdown DHCP stanza for %s", iface);
}

void doctor_check_ipv6(struct doctor_ctx *c, struct doctor_check *ck)
{
        const struct json_value *v6 = c->status ? json_get(c->status, "ipv6") : NULL;
        enum ipv6_mode mode = c->cfg->ipv6.mode;
        _cleanup_free_ char *p = NULL;
        char val[16];

        if (v6) {
                const char *m = json_get_string(v6, "mode", ipv6_mode_to_string(mode));
                const char *err = json_get_string(v6, "error", "");

                if (!json_get_bool(v6, "available", true)) {
                        doctor_say(ck, DOCTOR_OK, "no IPv6 in this kernel (netrootd status)");
                        return;
                }
                if (streq(m, "keep")) {
                        doctor_say(ck, DOCTOR_OK,
                                   "mode keep: netrootd leaves IPv6 as the system "
                                   "sets it");
                        return;
                }
                if (json_get_bool(v6, "applied", false)) {
                        doctor_say(ck, DOCTOR_OK, "mode %s applied by netrootd", m);
                        return;
                }
                doctor_say(ck, DOCTOR_WARN, "mode %s not applied%s%s", m, err[0] ? ": " : "", err);
                doctor_fix(ck, "journalctl -u netrootd; check [ipv6] in agent.conf");
                return;
        }
        p = root_path(c->root, "/proc/sys/net/ipv6/conf/all/disable_ipv6");
        if (!p || file_read_value(p, val, sizeof(val)) < 0) {
                doctor_say(ck, DOCTOR_OK,
                           "no IPv6 in this kernel (no "
                           "/proc/sys/net/ipv6/conf/all/disable_ipv6)");
                return;
        }
        if (mode == IPV6_MODE_KEEP) {
                doctor_say(ck, DOCTOR_OK, "mode keep: IPv6 is %s",
                           streq(val, "1") ? "disabled" : "enabled");
                return;
        }
        if (streq(val, mode == IPV6_MODE_DISABLE ? "1" : "0")) {
                doctor_say(ck, DOCTOR_OK,
                           "IPv6 is %s as agent.conf asks (netrootd status not "
                           "found)",
                           mode == IPV6_MODE_DISABLE ? "disabled" : "enabled");
                return;
        }
        doctor_say(ck, DOCTOR_WARN,
                   "agent.conf asks for IPv6 %s but it is %s (netrootd is "
                   "not running?)",
                   ipv6_mode_to_string(mode), streq(val, "1") ? "disabled" : "enabled");
        doctor_fix(ck,
                   "sudo systemctl start netrootd (or sysctl -w net.ipv6.conf.all.disable_ipv6=%s)",
                   mode == IPV6_MODE_DISABLE ? "1" : "0");
}
