#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Render an scdoc page whose name scdoc refuses (like "mhtest@.service").

scdoc only accepts [A-Za-z0-9._-] in the preamble name. The page keeps its real name in its
first line; this script hands scdoc a stand-in name and puts the real one back into the .TH
line of the output. Pages with plain names pass through unchanged.

It also replaces @KEY@ by VALUE for each KEY=VALUE argument (installation paths).

Usage: render-man.py SCDOC INPUT OUTPUT [KEY=VALUE...]
"""
import os
import re
import subprocess
import sys

PREAMBLE = re.compile(r'^(?P<name>[^()\s]+)\((?P<section>[0-9][A-Za-z0-9]*)\)(?P<rest>.*)$')
SCDOC_NAME = re.compile(r'^[A-Za-z0-9._-]+$')
STAND_IN = 'mhtest-render-man-stand-in'


def fail(msg):
    print(f'render-man: {msg}', file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) < 4:
        fail('usage: render-man.py SCDOC INPUT OUTPUT [KEY=VALUE...]')
    scdoc, src, dst = argv[1:4]
    with open(src, encoding='utf-8') as f:
        text = f.read()
    for d in argv[4:]:
        key, eq, value = d.partition('=')
        if not eq or not re.fullmatch(r'[A-Z][A-Z0-9_]*', key):
            fail(f'bad definition "{d}" (expected KEY=VALUE)')
        text = text.replace(f'@{key}@', value)
    first, sep, body = text.partition('\n')
    m = PREAMBLE.match(first)
    if not m:
        fail(f'{src}:1: expected a preamble like "name(8)", got "{first}"')
    name = m.group('name')
    if '"' in name or '\\' in name:
        fail(f'{src}:1: page name "{name}" cannot be quoted in roff')
    if not SCDOC_NAME.match(name):
        text = f"{STAND_IN}({m.group('section')}){m.group('rest')}{sep}{body}"

    p = subprocess.run([scdoc], input=text, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        fail(f'scdoc failed on {src}: {p.stderr.strip()}')
    out = p.stdout
    if not SCDOC_NAME.match(name):
        th = f'.TH "{STAND_IN}" '
        if out.count(th) != 1 or out.count(STAND_IN) != 1:
            fail(f'{src}: unexpected scdoc output, cannot put the name "{name}" back')
        out = out.replace(th, f'.TH "{name}" ')
    # man's .TH turns hyphenation back on after scdoc's .nh; names and paths must not be split.
    out = re.sub(r'^(\.TH .*\n)', r'\1.nh\n', out, count=1, flags=re.M)

    tmp = dst + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(out)
    os.replace(tmp, dst)


if __name__ == '__main__':
    main(sys.argv)
