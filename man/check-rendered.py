#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Each rendered page NAME.SECTION says .TH "NAME" "SECTION" (so man -l shows the real name,
"mhtest@.service" included) and has a NAME section that starts with that name.

  check-rendered.py PAGE...
"""
import os
import re
import sys


def main(argv):
    errors = []
    for path in argv[1:]:
        base = os.path.basename(path)
        name, _, section = base.rpartition('.')
        text = open(path, encoding='utf-8').read()
        th = re.findall(r'^\.TH "([^"]*)" "([^"]*)"', text, re.M)
        if th != [(name, section)]:
            errors.append(f'{path}: .TH is {th}, expected [("{name}", "{section}")]')
        m = re.search(r'^\.SH NAME\n(?:\.P\n)?(.*)$', text, re.M)
        first = m.group(1).replace('\\&', '') if m else ''
        if not (first.startswith(name + ' ') or first.startswith(name + ',')):
            errors.append(f'{path}: the NAME section does not start with "{name}"')
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f'{len(argv) - 1} page(s) carry their names')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
