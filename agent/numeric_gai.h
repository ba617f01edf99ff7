/* getaddrinfo() for numeric addresses without name service (see numeric_gai.c). */
#pragma once

#include <stdbool.h>

/* A numeric IPv4 or IPv6 address (no scope, no brackets): what inet_pton() accepts. */
bool numeric_gai_is_address(const char *host);
