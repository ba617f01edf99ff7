/* cmdline.txt kept logging into the iSCSI root through Debian's raspi-firmware hook, which
 * rewrites cmdline.txt from scratch (root=$ROOTPART + /etc/default/raspi-extra-cmdline) on every
 * kernel install, removal and initramfs rebuild (FACTS, "Kernel packages and hooks"). Run after
 * that hook (kernel postinst.d, postrm.d, /etc/initramfs/post-update.d, apt-post): when the
 * cmdline file config.txt names no longer carries the running root's iSCSI login
 * (bootcheck.h), it is put back from the newest generation whose copy does (a generation keeps
 * the boot from before its change, which booted).
 *
 * Also the lasting fix: the ISCSI_* (and ip=) parameters of the live cmdline.txt in
 * /etc/default/raspi-extra-cmdline and its root= as ROOTPART in /etc/default/raspi-firmware, so
 * the hook itself writes a cmdline.txt that boots. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct netroot_config;

#define RASPI_EXTRA_CMDLINE     "/etc/default/raspi-extra-cmdline"
#define RASPI_FIRMWARE_DEFAULTS "/etc/default/raspi-firmware"

enum cmdline_repair_outcome {
        CMDLINE_REPAIR_NOT_NEEDED, /* it logs into the root (or is no concern of ours) */
        CMDLINE_REPAIR_DONE,       /* put back from generation GEN */
        CMDLINE_REPAIR_IMPOSSIBLE, /* broken and no good generation has a copy that works */
};

struct cmdline_repair {
        enum cmdline_repair_outcome outcome;
        unsigned gen;      /* DONE: the generation it came from */
        char name[256];    /* the cmdline file, as config.txt names it */
        char broken[1024]; /* what was wrong with it */
        char detail[1024]; /* DONE: what it is now; IMPOSSIBLE: why nothing could be used */
        bool lasting_fix;  /* /etc/default/raspi-extra-cmdline and ROOTPART are in place */
};

/* Checks and repairs the cmdline file of ROOT's boot folder (CFG's boot_dir). Returns 0 with
 * OUT filled, or a negative errno (OUT->detail says why). */
int cmdline_repair_run(const char *root, const struct netroot_config *cfg,
                       struct cmdline_repair *out);

/* What raspi-firmware's hook would write into cmdline.txt with ROOT's current settings (its
 * fixed part, root=$ROOTPART, then raspi-extra-cmdline), as the boot check needs it: only
 * root= and the extra parameters. Newly allocated, NULL on allocation failure. */
char *cmdline_raspi_firmware_would_write(const char *root);

/* The lasting fix from the cmdline text LIVE (the one that boots): its iSCSI parameters and ip=
 * replace those in /etc/default/raspi-extra-cmdline (other parameters there stay), its root=
 * becomes ROOTPART= in /etc/default/raspi-firmware. WHAT says what was written. */
int cmdline_lasting_fix_write(const char *root, const char *live, char *what, size_t size);
