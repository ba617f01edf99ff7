/* The kernel release a kernel image declares itself, read from the file: what a kernel file
 * that is overwritten in place under a fixed name (a self-built kernel copied to
 * kernel-custom.img, a local package's kernel.img) holds, when its name cannot say. */
#pragma once

#include <stddef.h>

/* Two ways a kernel carries its release where a reader can see it without running it:
 *   - x86 bzImage: the setup header ("HdrS" at 0x202, boot protocol 2.00+) points at a
 *     "RELEASE (builder) #1 ..." string (kernel_version at 0x20E, relative to 0x200);
 *   - an uncompressed image (arm64 Image, the Pi's kernel8.img): the banner
 *     "Linux version RELEASE (" in its read-only data.
 * A compressed image (ARM zImage, gzip) hides both.
 * Returns 0 with RELEASE filled in, -ENODATA when the image declares none that can be read
 * (WHY says why: compressed, no banner), -ENOENT when missing, other -errno on errors. NAME is
 * opened beneath DIRFD. */
int kimage_release(int dirfd, const char *name, char *release, size_t size, char *why,
                   size_t why_size);
