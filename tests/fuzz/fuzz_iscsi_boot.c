/* The iSCSI boot parameters: iscsi_boot_parse() on an iscsi.initramfs fragment and a kernel
 * command line. Input: byte 0 says which of the two are present, then the fragment, a NUL,
 * and the command line. Invariants: the return says whether a target name was found; numbers
 * are in range; an error leaves the result cleared and names where it is. */
#include "fuzz.h"

#include "iscsi_boot.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char file[] = "/etc/iscsi/iscsi.initramfs";
        struct iscsi_boot b, cleared;
        const uint8_t *piece;
        char *frag, *cmdline, err[ISCSI_BOOT_ERROR_MAX];
        size_t n;
        unsigned flags;
        int r;

        if (size < 1)
                return 0;
        flags = data[0];
        data++;
        size--;
        n = fuzz_take(&data, &size, 0, &piece);
        frag = fuzz_strndup(piece, n);
        cmdline = fuzz_strndup(data, size);

        memset(&b, 0x5a, sizeof(b)); /* the parser must not rely on a cleared OUT */
        r = iscsi_boot_parse(flags & 1 ? frag : NULL, file, flags & 2 ? NULL : cmdline, &b, err,
                             sizeof(err));
        FUZZ_TERMINATED(err);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL, "iscsi_boot_parse: %d", r);
                FUZZ_CHECK(strncmp(err, file, sizeof(file) - 1) == 0 ||
                               strncmp(err, ISCSI_BOOT_CMDLINE_PATH ":",
                                       sizeof(ISCSI_BOOT_CMDLINE_PATH)) == 0,
                           "error does not say where: %s", err);
                iscsi_boot_init(&cleared);
                FUZZ_CHECK(memcmp(&b, &cleared, sizeof(b)) == 0, "a failed parse left values");
        } else {
                FUZZ_CHECK(r == (b.target_name[0] != '\0'), "r=%d, target '%s'", r, b.target_name);
                FUZZ_TERMINATED(b.initiator);
                FUZZ_TERMINATED(b.target_name);
                FUZZ_TERMINATED(b.target_ip);
                FUZZ_TERMINATED(b.lun);
                FUZZ_TERMINATED(b.username);
                FUZZ_TERMINATED(b.password);
                FUZZ_TERMINATED(b.in_username);
                FUZZ_TERMINATED(b.in_password);
                FUZZ_CHECK(b.target_port <= 65535, "port %u", b.target_port);
                FUZZ_CHECK(b.target_group >= -1 && b.target_group <= 65535, "tpgt %d",
                           b.target_group);
                FUZZ_CHECK(b.sources < 16, "sources %#x", b.sources);
                FUZZ_CHECK(
                    strcmp(iscsi_boot_mask(b.password), b.password[0] ? "********" : "(none)") == 0,
                    "mask");
        }
        iscsi_boot_clear(&b);
        free(frag);
        free(cmdline);
        return 0;
}
