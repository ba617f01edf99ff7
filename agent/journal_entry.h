/* journald's native protocol, the client side: one datagram = one entry = a list of fields
 * (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/). netrootd builds its entries itself so that it
 * can send them on a socket of its own without ever waiting (see log_sink.h); libsystemd's
 * sd_journal_sendv() blocks when journald stops reading. */
#pragma once

#include <stddef.h>

#include "strbuf.h"

/* A field value longer than this is cut: an entry stays far below the datagram size limit of the
 * socket (its send buffer), so no entry ever needs the memfd form of the protocol. */
#define JOURNAL_VALUE_MAX 2048

/* Appends FIELD ("KEY=value") to the entry in SB. A value holding a newline goes in the binary
 * form (KEY, newline, 64-bit little-endian length, value, newline); any other as "KEY=value\n".
 * A value is cut at JOURNAL_VALUE_MAX bytes. Returns -EINVAL, appending nothing, for a key
 * journald would refuse (empty, over 64 characters, not A-Z 0-9 _, or starting with _ or a
 * digit) or a FIELD without '='. */
int journal_entry_add(struct strbuf *sb, const char *field);
