#include "cmdline_repair.h"

#include "beneath.h"
#include "boot_view.h"
#include "bootcheck.h"
#include "cmdline.h"
#include "fileio.h"
#include "generation.h"
#include "rootpath.h"
#include "strbuf.h"
#include "util.h"

#include <fcntl.h>

#define TEXT_MAX (64 * 1024)

/* 1 when generation GEN has a copy of NAME that logs into the running root: *IDX is its index
 * in C (loaded, caller frees). */
static int usable_copy(const char *root, const char *boot_dir, int bfd, unsigned gen,
                       const char *name, struct gen_copies *c, size_t *idx, char *why, size_t size)
{
        struct gen_record rec;
        struct error e;
        _cleanup_free_ char *rel = NULL, *text = NULL;
        int i, r;

        /* Any status: a generation's copies are the boot from BEFORE its upgrade, which booted. */
        if (gen_record_load(boot_dir, gen, &rec, &e) < 0)
                return 0;
        if (gen_copies_load(boot_dir, gen, false, &rec, c, &e) < 0)
                return 0;
        i = gen_copies_find(c, name);
        if (i < 0 || asprintf(&rel, "%s/gen-%u/%s", GEN_STORE, gen, c->paths[i]) < 0) {
                gen_copies_free(c);
                return i < 0 ? 0 : -ENOMEM;
        }
        r = beneath_read(bfd, rel, TEXT_MAX, &text, NULL);
        if (r < 0) {
                gen_copies_free(c);
                return 0;
        }
        r = boot_check_cmdline(root, text, name, why, size);
        if (r != 1) {
                gen_copies_free(c);
                return r < 0 ? r : 0;
        }
        *idx = (size_t)i;
        return 1;
}

char *cmdline_raspi_firmware_would_write(const char *root)
{
        _cleanup_free_ char *dpath = root_path(root, RASPI_FIRMWARE_DEFAULTS);
        _cleanup_free_ char *xpath = root_path(root, RASPI_EXTRA_CMDLINE);
        _cleanup_free_ char *defaults = NULL, *extra = NULL;
        char rootpart[1024] = "";
        char *out = NULL;

        if (!dpath || !xpath)
                return NULL;
        /* ROOTPART=VALUE, ROOTPART='VALUE' or ROOTPART="VALUE" on a line of its own (the file is
         * sourced by the hook; anything cleverer is not ours to evaluate). */
        if (file_read_all(dpath, TEXT_MAX, &defaults, NULL) >= 0) {
                for (char *line = defaults; line && *line;) {
                        char *nl = strchr(line, '\n');
                        size_t len = nl ? (size_t)(nl - line) : strlen(line);

                        while (len && (*line == ' ' || *line == '\t'))
                                line++, len--;
                        if (len > 9 && strncmp(line, "ROOTPART=", 9) == 0) {
                                const char *v = line + 9;
                                size_t vl = len - 9;

                                if (vl >= 2 && (v[0] == '\'' || v[0] == '"') && v[vl - 1] == v[0])
                                        v++, vl -= 2;
                                snprintf(rootpart, sizeof(rootpart), "%.*s", (int)vl, v);
                        }
                        line = nl ? nl + 1 : NULL;
                }
        }
        if (file_read_all(xpath, TEXT_MAX, &extra, NULL) < 0)
                extra = NULL;
        if (extra)
                extra[strcspn(extra, "\n")] = '\0';
        /* ROOTPART unset: the hook takes findmnt's source of /, unknown here: left out, so the
         * check says root= is missing. */
        if (asprintf(&out, "console=tty0 %s%s rw fsck.repair=yes net.ifnames=0 cma=64M rootwait %s",
                     rootpart[0] ? "root=" : "", rootpart, extra ? extra : "") < 0)
                return NULL;
        return out;
}

static bool lasting_fix_in_place(const char *root)
{
        _cleanup_free_ char *would = cmdline_raspi_firmware_would_write(root);
        char why[1024];

        return would && boot_check_cmdline(root, would, "raspi-firmware's cmdline.txt", why,
                                           sizeof(why)) == 1;
}

/* Puts back the newest generation's copy of OUT->name that logs into this root; OUT says which
 * or why none. Negative errno only when the store cannot be read at all. */
static int restore_from_generations(const char *root, const struct boot_view *v,
                                    struct cmdline_repair *out)
{
        _cleanup_close_ int bfd = beneath_open_dir(v->boot_dir);
        _cleanup_free_ unsigned *gens = NULL;
        struct gen_copies c;
        struct error e;
        size_t n = 0, idx = 0;
        int r;

        out->outcome = CMDLINE_REPAIR_IMPOSSIBLE;
        if (bfd < 0) {
                snprintf(out->detail, sizeof(out->detail), "%s: %s", v->boot_dir, strerror(-bfd));
                return 0;
        }
        r = gen_list(v->boot_dir, &gens, &n);
        if (r < 0 || n == 0) {
                snprintf(out->detail, sizeof(out->detail),
                         "no generation in %s/%s to take a working %s from", v->boot_dir, GEN_STORE,
                         out->name);
                return 0;
        }
        snprintf(out->detail, sizeof(out->detail),
                 "no good generation in %s/%s has a %s that logs into this root", v->boot_dir,
                 GEN_STORE, out->name);
        for (size_t k = n; k-- > 0;) {
                char why[1024];

                r = usable_copy(root, v->boot_dir, bfd, gens[k], out->name, &c, &idx, why,
                                sizeof(why));
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                r = gen_copy_restore(v->boot_dir, gens[k], false, &c, idx, &e);
                gen_copies_free(&c);
                if (r < 0) {
                        snprintf(out->detail, sizeof(out->detail), "%s", error_text(&e));
                        return 0;
                }
                out->outcome = CMDLINE_REPAIR_DONE;
                out->gen = gens[k];
                snprintf(out->detail, sizeof(out->detail), "%s", why);
                break;
        }
        return 0;
}

int cmdline_repair_run(const char *root, const struct netroot_config *cfg,
                       struct cmdline_repair *out)
{
        struct boot_view_options bo = {.root = root, .cfg = cfg, .flavour = true};
        _cleanup_free_ char *path = NULL, *text = NULL;
        struct boot_view *v = boot_view_new();
        int r;

        memset(out, 0, sizeof(*out));
        if (!v)
                return -ENOMEM;
        r = boot_view_load(v, &bo);
        if (r < 0 && !(r == -EINVAL && v->eval_r == 0)) {
                snprintf(out->detail, sizeof(out->detail), "%s",
                         v->error[0] ? v->error : strerror(-r));
                goto done;
        }
        snprintf(out->name, sizeof(out->name), "%s", path_relative(v->res.cmdline));
        out->lasting_fix = lasting_fix_in_place(root);
        path = boot_view_path(v, v->res.cmdline);
        if (!path) {
                r = -ENOMEM;
                goto done;
        }
        r = file_read_regular(path, TEXT_MAX, &text, NULL);
        if (r >= 0) {
                r = boot_check_cmdline(root, text, out->name, out->broken, sizeof(out->broken));
                if (r < 0)
                        goto done;
                if (r == 1) {
                        out->outcome = CMDLINE_REPAIR_NOT_NEEDED;
                        r = 0;
                        goto done;
                }
        } else {
                snprintf(out->broken, sizeof(out->broken), "%s: %s", out->name, file_strerror(r));
        }
        r = restore_from_generations(root, v, out);
done:
        boot_view_free(v);
        free(v);
        return r;
}

static bool is_fix_key(const char *key)
{
        return cmdline_is_iscsi_key(key) || streq(key, "ip");
}

static void append_param(struct strbuf *sb, const struct cmdline_param *p)
{
        if (sb->len)
                sb_puts(sb, " ");
        if (!p->value)
                sb_puts(sb, p->key);
        else
                sb_printf(sb, strchr(p->value, ' ') ? "%s=\"%s\"" : "%s=%s", p->key, p->value);
}

int cmdline_lasting_fix_write(const char *root, const char *live, char *what, size_t size)
{
        _cleanup_free_ char *xpath = root_path(root, RASPI_EXTRA_CMDLINE);
        _cleanup_free_ char *dpath = root_path(root, RASPI_FIRMWARE_DEFAULTS);
        _cleanup_free_ char *old_extra = NULL, *defaults = NULL;
        struct cmdline lc = {0}, xc = {0};
        struct strbuf extra = {0}, def = {0};
        const char *rootarg;
        size_t n_iscsi = 0;
        int r;

        if (!xpath || !dpath)
                return -ENOMEM;
        r = cmdline_parse(live, strlen(live), &lc);
        if (r < 0)
                return r;
        rootarg = cmdline_get(&lc, "root");
        /* Other parameters the admin keeps there stay, ours replace theirs. */
        if (file_read_all(xpath, TEXT_MAX, &old_extra, NULL) >= 0 &&
            cmdline_parse(old_extra, strlen(old_extra), &xc) == 0)
                for (size_t i = 0; i < xc.n; i++)
                        if (!is_fix_key(xc.params[i].key))
                                append_param(&extra, &xc.params[i]);
        for (size_t i = 0; i < lc.n; i++)
                if (is_fix_key(lc.params[i].key)) {
                        append_param(&extra, &lc.params[i]);
                        n_iscsi += cmdline_is_iscsi_key(lc.params[i].key);
                }
        if (!n_iscsi && !(rootarg && strncmp(rootarg, "iscsi:", 6) == 0)) {
                snprintf(what, size, "the live cmdline carries no iSCSI parameters to keep");
                r = -ENODATA;
                goto out;
        }
        if (!rootarg || strchr(rootarg, '\'')) {
                snprintf(what, size, "the live cmdline has no usable root=");
                r = -ENODATA;
                goto out;
        }
        sb_puts(&extra, "\n");
        /* /etc/default/raspi-firmware: every line but ROOTPART= kept, then ours. */
        if (file_read_all(dpath, TEXT_MAX, &defaults, NULL) >= 0)
                for (char *line = defaults; line && *line;) {
                        char *nl = strchr(line, '\n');
                        size_t len = nl ? (size_t)(nl - line) : strlen(line);
                        const char *s = line;

                        while (*s == ' ' || *s == '\t')
                                s++;
                        if (strncmp(s, "ROOTPART=", 9) != 0)
                                sb_printf(&def, "%.*s\n", (int)len, line);
                        line = nl ? nl + 1 : NULL;
                }
        sb_printf(&def,
                  "# netroot-agent (netrootctl doctor --fix): the iSCSI root, as the Pi "
                  "boots it\nROOTPART='%s'\n",
                  rootarg);
        if (extra.oom || def.oom) {
                r = -ENOMEM;
                goto out;
        }
        r = file_write_atomic(xpath, sb_str(&extra), extra.len, 0644);
        if (r < 0) {
                snprintf(what, size, "writing %s: %s", xpath, strerror(-r));
                goto out;
        }
        r = file_write_atomic(dpath, sb_str(&def), def.len, 0644);
        if (r < 0) {
                snprintf(what, size, "writing %s: %s", dpath, strerror(-r));
                goto out;
        }
        snprintf(what, size, "%s: %.*s; %s: ROOTPART='%s'", RASPI_EXTRA_CMDLINE,
                 (int)(extra.len - 1), sb_str(&extra), RASPI_FIRMWARE_DEFAULTS, rootarg);
        r = 0;
out:
        cmdline_free(&lc);
        cmdline_free(&xc);
        sb_free(&extra);
        sb_free(&def);
        return r;
}
