#include "bootcheck.h"

#include "initrd.h"
#include "util.h"

#include <sys/stat.h>

static bool is_file(const char *path)
{
        struct stat st;

        return path && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int boot_check(const char *root, const struct boot_view *v, char *why, size_t size)
{
        _cleanup_free_ char *kernel = NULL;
        int r;

        if (v->eval_r < 0) {
                snprintf(why, size, "%s", v->error[0] ? v->error : strerror(-v->eval_r));
                return v->eval_r;
        }
        if (bootcfg_diag_error(&v->diag)) {
                snprintf(why, size, "%s", bootcfg_diag_error(&v->diag));
                return 0;
        }
        kernel = boot_view_path(v, v->res.kernel);
        if (!kernel)
                return -ENOMEM;
        if (!is_file(kernel)) {
                snprintf(why, size, "config.txt boots kernel %s, which is missing", v->res.kernel);
                return 0;
        }
        if (v->res.n_initramfs == 0) {
                snprintf(why, size,
                         "config.txt loads no initramfs: the iSCSI root cannot be mounted");
                return 0;
        }
        for (size_t i = 0; i < v->res.n_initramfs; i++) {
                _cleanup_free_ char *f = boot_view_path(v, v->res.initramfs[i]);
                char w[2048];

                if (!f)
                        return -ENOMEM;
                if (!is_file(f)) {
                        snprintf(why, size, "config.txt loads initramfs %s, which is missing",
                                 v->res.initramfs[i]);
                        return 0;
                }
                r = initrd_passes_check(root, f, v->kver[0] ? v->kver : NULL, w, sizeof(w));
                if (r != 1) {
                        snprintf(why, size, "initramfs %s %s: %s", v->res.initramfs[i],
                                 r == 0 ? "fails the iSCSI root check" : "cannot be read", w);
                        return 0;
                }
        }
        snprintf(why, size, "config.txt boots %s with initramfs %s (passes the iSCSI root check)",
                 v->res.kernel, v->res.initramfs[0]);
        return 1;
}
