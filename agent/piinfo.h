/* Which Raspberry Pi this is: the model string the firmware's config.txt filters are judged by,
 * and the serial number that names the Pi's folder on the TFTP server. */
#pragma once

#include <stddef.h>

#define PIINFO_MODEL_MAX  128
#define PIINFO_SERIAL_MAX 17 /* room for 16 hex digits + NUL */
#define PIINFO_SERIAL_LEN 8  /* the folder name: low 32 bits, 8 hex digits */

/* Reads <ROOT>/proc/device-tree/model (a NUL-terminated string, no newline).
 * Returns 0, -ENOENT when absent, -ENODATA when empty, or another negative errno. */
int piinfo_read_model(const char *root, char *buf, size_t size);

/* Reads the Serial line of <ROOT>/proc/cpuinfo as the TFTP folder name the bootloader asks for:
 * the low 32 bits as 8 lower-case hex digits, leading zeros kept ("00000000511e57f7" ->
 * "511e57f7", "000000000b615590" -> "0b615590", "1000000022bba2d2" -> "22bba2d2").
 * Returns 0, -ENOENT when the file is absent, -ENODATA when it has no usable Serial line. */
int piinfo_read_serial(const char *root, char *buf, size_t size);

/* The parsing half of piinfo_read_serial, for text already in memory. */
int piinfo_parse_serial(const char *cpuinfo, char *buf, size_t size);

/* The identity agent.conf gives ([agent] model=, serial=) wins over the kernel's: a board whose
 * kernel shows no device tree or serial (an emulated Pi, a board netbooted by MAC address) still
 * names its folder and judges config.txt filters. CONFIGURED empty or "auto" reads the kernel's.
 * A configured serial is normalised as the Serial line is (so "b615590" names "0b615590"). */
int piinfo_model(const char *root, const char *configured, char *buf, size_t size);
int piinfo_serial(const char *root, const char *configured, char *buf, size_t size);
