#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fail unless every MESSAGE_ID of message-ids.h has exactly one entry in the journal catalog,
each entry with a Subject:, and the catalog has no entry for an id the code does not define.

  check-catalog.py MESSAGE_IDS_H MHTEST_CATALOG
"""
import re
import sys


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    header = open(argv[1], encoding='utf-8').read()
    catalog = open(argv[2], encoding='utf-8').read()
    errors = []

    ids = re.findall(r'^#define\s+(MHTEST_MESSAGE_\w+)\s+"([^"]*)"', header, re.M)
    if not ids:
        errors.append(f'{argv[1]}: no MHTEST_MESSAGE_* definitions found')
    seen = {}
    for name, mid in ids:
        if not re.fullmatch(r'[0-9a-f]{32}', mid):
            errors.append(f'{argv[1]}: {name} "{mid}" is not 128 bits in lower-case hex')
        if mid in seen:
            errors.append(f'{argv[1]}: {name} and {seen[mid]} share the id {mid}')
        seen[mid] = name

    # An entry: "-- ID" (optionally followed by a language), header lines, a blank line, text.
    entries = {}
    blocks = re.split(r'^-- ', catalog, flags=re.M)[1:]
    for block in blocks:
        first, _, rest = block.partition('\n')
        mid = first.split()[0] if first.split() else ''
        entries.setdefault(mid, []).append(rest)
    for name, mid in ids:
        if mid not in entries:
            errors.append(f'{argv[2]}: no entry for {name} ({mid})')
            continue
        if len(entries[mid]) > 1:
            errors.append(f'{argv[2]}: {len(entries[mid])} entries for {name} ({mid})')
        for rest in entries[mid]:
            head = rest.split('\n\n', 1)[0]
            if not re.search(r'^Subject: \S', head, re.M):
                errors.append(f'{argv[2]}: entry for {name} ({mid}) has no Subject:')
            if '\n\n' not in rest or not rest.split('\n\n', 1)[1].strip():
                errors.append(f'{argv[2]}: entry for {name} ({mid}) has no text')
    for mid in entries:
        if mid not in seen:
            errors.append(f'{argv[2]}: entry {mid} matches no MHTEST_MESSAGE_* of {argv[1]}')

    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f'{len(ids)} MESSAGE_IDs, each documented in the catalog')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
