#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fail if the man pages miss what the sources define.

  check-man.py --conf CONFIG_TABLES_C MHTEST_CONF_5_SCD --cli MHTEST_C MHTEST_8_SCD
               [--options GENERATOR_C MHTEST_GENERATOR_8_SCD] [--ids MESSAGE_IDS_H MHTEST_8_SCD]
               [--units UNITS_MESON_BUILD MHTEST@.SERVICE_8_SCD]

mhtest.conf(5): every section type of config-tables.c has a heading naming it ("[Bridge NAME]")
and the file it belongs to (mhtest.conf, hosts.d or jobs.d, as config.c loads it); every key of
its table is an entry "*Key=*" under that heading; a key with a default names it after the word
"Default".
mhtest(8): every verb of mhtest.c's verb table is an entry "*verb ...*", every subverb of its
usage ("config show|validate|hash") an entry "*config show*", every long option "*--option*".
--options: every long option of another program's option table is "*--option*" in its page.
--ids: every MESSAGE_ID of message-ids.h is listed in the page.
--units: every unit template of units/meson.build is named in the page.
"""
import os
import re
import sys

errors = []


def error(msg):
    errors.append(msg)


def strip_c_comments(text):
    return re.sub(r'/\*.*?\*/', '', text, flags=re.S)


def parse_tables(config_tables_c):
    text = strip_c_comments(open(config_tables_c, encoding='utf-8').read())
    tables = {}
    for m in re.finditer(r'static const ConfigKey (\w+)\[\] = \{(.*?)\n\};', text, re.S):
        keys = []
        # An entry starts with { "Name", CONFIG_TYPE, O(...), DEFAULT, ...
        for k in re.finditer(r'\{\s*"([^"]+)",\s*(CONFIG_\w+),\s*O\([^)]*\),\s*(NULL|"[^"]*")', m.group(2)):
            default = None if k.group(3) == 'NULL' else k.group(3)[1:-1]
            keys.append((k.group(1), k.group(2), default))
        tables[m.group(1)] = keys
    sections = {}
    for m in re.finditer(r'const SectionType (section_\w+) = \{(.*?)\};', text, re.S):
        body = m.group(2)
        name = re.search(r'\.name\s*=\s*"([^"]+)"', body)
        keys = re.search(r'\.keys\s*=\s*(\w+)', body)
        named = re.search(r'\.named\s*=\s*true', body) is not None
        if not name or not keys:
            error(f'{config_tables_c}: cannot parse {m.group(1)}')
            continue
        if keys.group(1) not in tables:
            error(f'{config_tables_c}: {m.group(1)} uses unknown key table {keys.group(1)}')
            continue
        sections[m.group(1)] = (name.group(1), named, tables[keys.group(1)])
    if not sections:
        error(f'{config_tables_c}: no section types found')
    return sections


def parse_file_kinds(config_c):
    """Which file each section type is read from, from the type lists config.c loads with."""
    text = strip_c_comments(open(config_c, encoding='utf-8').read())
    kinds = {}
    for var, kind in (('main_types', 'mhtest.conf'), ('host_types', 'hosts.d'), ('job_types', 'jobs.d')):
        m = re.search(var + r'\[\]\s*=\s*\{(.*?)\};', text, re.S)
        if not m:
            error(f'{config_c}: cannot find {var}[]')
            continue
        for s in re.findall(r'&(section_\w+)', m.group(1)):
            kinds[s] = kind
    # [Match] is evaluated by the loader before the typed sections, in job files only
    # ("[Match] is only allowed in job files").
    if '[Match] is only allowed in job files' in text:
        kinds.setdefault('section_match', 'jobs.d')
    return kinds


def headings(scd):
    """Split an scdoc page into (heading, body) by level-1 and level-2 headings."""
    out = []
    cur, body = None, []
    for line in scd.splitlines():
        if line.startswith('# ') or line.startswith('## '):
            if cur is not None:
                out.append((cur, '\n'.join(body)))
            cur, body = line.lstrip('#').strip(), []
        else:
            body.append(line)
    if cur is not None:
        out.append((cur, '\n'.join(body)))
    return out


def entries(body):
    """Definition-list entries: a line "*Key=*" followed by its indented text."""
    out = {}
    cur = None
    for line in body.splitlines():
        m = re.match(r'^\*([A-Za-z0-9-]+)=\*', line)
        if m:
            cur = m.group(1)
            out.setdefault(cur, '')
            continue
        if cur is not None:
            if line and not line[0].isspace():
                cur = None
            else:
                out[cur] += line + '\n'
    return out


def check_conf(config_tables_c, conf_scd):
    sections = parse_tables(config_tables_c)
    kinds = parse_file_kinds(os.path.join(os.path.dirname(config_tables_c), 'config.c'))
    page = headings(open(conf_scd, encoding='utf-8').read())
    for var, (name, named, keys) in sorted(sections.items()):
        kind = kinds.get(var)
        if not kind:
            error(f'{config_tables_c}: {var} is not loaded from any file by config.c')
            continue
        title = f'[{name} NAME]' if named else f'[{name}]'
        blocks = [b for h, b in page if title in h and kind in h]
        if not blocks:
            error(f'{conf_scd}: no heading with "{title}" and "{kind}" for {var}')
            continue
        documented = {}
        for b in blocks:
            documented.update(entries(b))
        for key, ctype, default in keys:
            if key not in documented:
                error(f'{conf_scd}: {title} ({kind}): key {key}= is not documented')
                continue
            if default is not None:
                text = ' '.join(documented[key].split())
                m = re.search(r'Defaults?\b(.*)', text)
                if not m or not re.search(r'(?<![\w.])' + re.escape(default) + r'(?![\w.])', m.group(1)):
                    error(f'{conf_scd}: {title} ({kind}): {key}= does not say "Default ... {default}"')


def check_cli(mhtest_c, cli_scd):
    text = strip_c_comments(open(mhtest_c, encoding='utf-8').read())
    page = open(cli_scd, encoding='utf-8').read()
    m = re.search(r'static const Verb verbs\[\] = \{(.*?)\n\};', text, re.S)
    if not m:
        error(f'{mhtest_c}: cannot find the verb table')
        return
    verbs = re.findall(r'\{\s*"([^"]+)",\s*\d+,\s*\d+,\s*\w+,\s*"([^"]*)"', m.group(1))
    if not verbs:
        error(f'{mhtest_c}: no verbs found in the verb table')
    for verb, usage in verbs:
        if not re.search(r'^\*' + re.escape(verb) + r'[\* ]', page, re.M):
            error(f'{cli_scd}: verb "{verb}" has no entry "*{verb}*"')
        words = usage.split()
        if len(words) > 1 and '|' in words[1]:
            for sub in words[1].split('|'):
                if not re.search(r'^\*' + re.escape(verb + ' ' + sub) + r'\*', page, re.M):
                    error(f'{cli_scd}: "{verb} {sub}" has no entry "*{verb} {sub}*"')
    check_options(mhtest_c, cli_scd)


def check_options(source_c, scd):
    text = strip_c_comments(open(source_c, encoding='utf-8').read())
    page = open(scd, encoding='utf-8').read()
    o = re.search(r'static const struct option options\[\] = \{(.*?)\};', text, re.S)
    if not o:
        error(f'{source_c}: cannot find the option table')
        return
    for opt in re.findall(r'\{\s*"([^"]+)"', o.group(1)):
        if not re.search(r'\*--' + re.escape(opt) + r'[\*=]', page):
            error(f'{scd}: option --{opt} is not documented')


def check_ids(message_ids_h, scd):
    page = open(scd, encoding='utf-8').read()
    ids = re.findall(r'^#define\s+(MHTEST_MESSAGE_\w+)\s+"([0-9a-f]+)"', open(message_ids_h, encoding='utf-8').read(), re.M)
    if not ids:
        error(f'{message_ids_h}: no MESSAGE_IDs found')
    for name, mid in ids:
        if mid not in page:
            error(f'{scd}: {name} ({mid}) is not listed')


def check_units(units_meson, scd):
    page = open(scd, encoding='utf-8').read()
    units = re.findall(r"'([\w@.-]+\.service)'", open(units_meson, encoding='utf-8').read())
    if not units:
        error(f'{units_meson}: no unit templates found')
    for u in units:
        if u not in page.split('# SYNOPSIS')[0]:
            error(f'{scd}: unit {u} is not named in the NAME section')


def main(argv):
    checks = {'--conf': check_conf, '--cli': check_cli, '--options': check_options, '--ids': check_ids,
              '--units': check_units}
    args = argv[1:]
    if not args or len(args) % 3 != 0:
        print(__doc__, file=sys.stderr)
        return 2
    for i in range(0, len(args), 3):
        if args[i] not in checks:
            print(__doc__, file=sys.stderr)
            return 2
        checks[args[i]](args[i + 1], args[i + 2])
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f'{len(errors)} problem(s)', file=sys.stderr)
        return 1
    print('man pages cover every section, key, verb and option')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
