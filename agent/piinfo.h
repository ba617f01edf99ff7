/* Which Raspberry Pi this is: the model string the firmware's config.txt filters are judged by,
 * and the serial number that names the Pi's folder on the TFTP server. */
#pragma once

#include <stddef.h>

#define PIINFO_MODEL_MAX  128
#define PIINFO_SERIAL_MAX 17 /* 16 hex digits + NUL */

/* Reads <ROOT>/proc/device-tree/model (a NUL-terminated string, no newline).
 * Returns 0, -ENOENT when absent, -ENODATA when empty, or another negative errno. */
int piinfo_read_model(const char *root, char *buf, size_t size);

/* Reads the Serial line of <ROOT>/proc/cpuinfo as the TFTP folder name: lower-case hex,
 * leading zeros stripped ("00000000511e57f7" -> "511e57f7").
 * Returns 0, -ENOENT when the file is absent, -ENODATA when it has no usable Serial line. */
int piinfo_read_serial(const char *root, char *buf, size_t size);

/* The parsing half of piinfo_read_serial, for text already in memory. */
int piinfo_parse_serial(const char *cpuinfo, char *buf, size_t size);
