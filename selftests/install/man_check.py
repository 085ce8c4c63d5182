#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Check a man page against the command it documents (test_install).

    man_check.py options PAGE HELPFILE     every option of the help is on the page
                                           and every option on the page is in the help
    man_check.py examples PAGE HELPFILE... every `kpilot ...` example of the page is
                                           one of the help examples (whitespace aside)
    man_check.py commands PAGE HELPFILE    every command `kpilot --help` lists has an
                                           entry in the page's COMMANDS

Prints what is wrong, one line each; exit 1 if anything is.
"""
import re
import sys

OPT_LINE = re.compile(r'^\s+(?:-(\S), )?--([a-z][a-z0-9-]*)')


def sections(page):
    """{section name: [lines]} of a man(7) page (.SS stays inside its .SH)."""
    out, cur = {}, None
    for line in open(page).read().split('\n'):
        m = re.match(r'^\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            cur = m.group(1)
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def unroff(s):
    return s.replace('\\-', '-').replace('\\e', '\\').replace('\\&', '')


def norm(s):
    return ' '.join(s.split())


def check_options(page, help_text):
    bad = []
    opts = sections(page).get('OPTIONS', [])
    text = unroff('\n'.join(opts))
    for line in help_text.split('\n'):
        m = OPT_LINE.match(line)
        if not m or m.group(2) == 'usage':
            continue
        short, name = m.groups()
        want = ('\\fB-%s\\fR, \\fB--%s\\fR' % (short, name)) if short else '\\fB--%s\\fR' % name
        if want not in text:
            bad.append('%s: --%s%s of --help is not in OPTIONS' %
                       (page, name, ' (-%s)' % short if short else ''))
    help_names = set(re.findall(r'--([a-z][a-z0-9-]*)', help_text))
    for name in sorted(set(re.findall(r'--([a-z][a-z0-9-]*)', text))):
        if name not in help_names:
            bad.append('%s: --%s is in OPTIONS but not in --help' % (page, name))
    return bad


def examples(page):
    """The `kpilot ...` lines of the page's EXAMPLES, continuation lines joined."""
    lines, cur, inex = [], '', False
    for line in sections(page).get('EXAMPLES', []):
        if line in ('.EX', '.EE'):
            inex = line == '.EX'
            continue
        if not inex:
            continue
        line = unroff(line)
        cur += line
        if line.endswith('\\'):
            cur = cur[:-1] + ' '
            continue
        if cur.startswith('kpilot '):
            lines.append(cur)
        cur = ''
    return lines


def check_examples(page, helps):
    hay = norm(' '.join(unroff(h).replace('\\\n', ' ').replace('\\ ', ' ') for h in helps))
    hay = hay.replace(' \\ ', ' ')
    bad = []
    for ex in examples(page):
        if norm(ex) not in hay:
            bad.append('%s: example not in --help: %s' % (page, ex))
    if not examples(page):
        bad.append('%s: no kpilot example' % page)
    return bad


def check_commands(page, help_text):
    listed = re.findall(r'^  ([a-z]+)\s{2,}', help_text.split('Commands:')[1], re.M)
    entries = set(re.findall(r'^\.B ([a-z]+)$', '\n'.join(sections(page).get('COMMANDS', [])), re.M))
    return ['%s: command %s of kpilot --help is not in COMMANDS' % (page, c)
            for c in listed if c not in entries] + \
        ([] if listed else ['%s: no commands parsed from kpilot --help' % page])


def main():
    mode, page, helps = sys.argv[1], sys.argv[2], [open(f).read() for f in sys.argv[3:]]
    if mode == 'options':
        bad = check_options(page, helps[0])
    elif mode == 'examples':
        bad = check_examples(page, helps)
    else:
        bad = check_commands(page, helps[0])
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
