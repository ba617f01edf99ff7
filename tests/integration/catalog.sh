#!/bin/bash
# The journal catalog: every MESSAGE_ID of agent/msgid.h has exactly one entry in
# units/netroot-agent.catalog with the required header fields and an explanation, the catalog has
# no entry for an ID the code does not define, and journalctl itself parses every entry.
. "$(dirname "$0")/../lib/common.sh"

command -v journalctl >/dev/null || skip "journalctl not installed (package systemd)"

MSGID_H=$TOP/agent/msgid.h
CATALOG=$TOP/units/netroot-agent.catalog
[ -f "$MSGID_H" ] || fail "$MSGID_H missing"
[ -f "$CATALOG" ] || fail "$CATALOG missing"

mapfile -t ids < <(sed -n 's/^#define[[:space:]]\+MSGID_[A-Z0-9_]\+[[:space:]]\+"\([^"]*\)".*/\1/p' "$MSGID_H")
[ "${#ids[@]}" -gt 0 ] || fail "no MSGID_ defines found in $MSGID_H"
pass "${#ids[@]} message IDs in msgid.h"

for id in "${ids[@]}"; do
	[[ $id =~ ^[0-9a-f]{32}$ ]] || fail "msgid.h: '$id' is not 32 lower-case hex digits"
done
dups=$(printf '%s\n' "${ids[@]}" | sort | uniq -d)
[ -z "$dups" ] || fail "msgid.h defines an ID more than once: $dups"
pass "IDs are well-formed and unique"

# One entry per ID, each with its header fields and a non-empty explanation.
for id in "${ids[@]}"; do
	n=$(grep -c -x -- "-- $id" "$CATALOG")
	[ "$n" = 1 ] || fail "catalog: $n entries for $id (expected 1)"
	entry=$(awk -v id="$id" '$0 == "-- " id { on = 1; next } /^-- [0-9a-f]{32}$/ { on = 0 } on' "$CATALOG")
	for field in "Subject: " "Defined-By: netroot-agent" "Support: " "Documentation: man:netrootd(8)"; do
		grep -q -- "^$field" <<<"$entry" || fail "catalog entry $id lacks '$field'"
	done
	body=$(awk 'seen && NF { print } !NF { seen = 1 }' <<<"$entry")
	[ -n "$body" ] || fail "catalog entry $id has no explanation after its header"
done
pass "every ID has one complete catalog entry"

mapfile -t cat_ids < <(sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' "$CATALOG")
for id in "${cat_ids[@]}"; do
	printf '%s\n' "${ids[@]}" | grep -qx -- "$id" || fail "catalog entry $id has no MSGID_ in msgid.h"
done
pass "no stale catalog entries"

# journalctl's own parser, on a private root so the system's catalog database is not touched.
mkdir -p "$T/root/usr/lib/systemd/catalog"
cp "$CATALOG" "$T/root/usr/lib/systemd/catalog/"
journalctl --root="$T/root" --update-catalog >"$T/update.log" 2>&1 \
	|| fail "journalctl --update-catalog failed: $(cat "$T/update.log")"
[ ! -s "$T/update.log" ] || fail "journalctl --update-catalog complained: $(cat "$T/update.log")"
journalctl --root="$T/root" --list-catalog >"$T/list" 2>&1 || fail "journalctl --list-catalog failed"
for id in "${ids[@]}"; do
	grep -q "^$id netroot-agent: " "$T/list" || fail "journalctl did not parse the entry $id: $(cat "$T/list")"
	journalctl --root="$T/root" --dump-catalog "$id" 2>&1 | grep -q '^Subject: ' \
		|| fail "journalctl --dump-catalog $id shows no Subject"
done
listed=$(grep -c ' netroot-agent: ' "$T/list")
assert_eq "$listed" "${#ids[@]}" "journalctl lists every entry"
