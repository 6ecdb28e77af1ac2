#!/usr/bin/env python3
"""Compare the part structure of src/mail with the expected output of Stalwart mail-parser.

../shared/vectors/mime-mail-parser-stalwart/resources/eml/*/NNN.eml come with NNN.json (the
message with CRLF turned into LF) and NNN.crlf.json (bare LF turned into CRLF). For both
variants this script renders the message with `mail_test_corpus --render` and compares, part
by part in pre-order, (header offset, body offset, end offset). It prints DIFF lines and a
summary; the decisions behind each known difference are in conformance/mail/DIFFERENCES.md.
It is a report, not a pass/fail test: the two parsers choose differently on broken input.

usage: compare_stalwart.py BUILD_DIR [VECTORS_DIR]
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile


def stalwart_parts(msg, out):
    parts = msg['parts']

    def walk(i):
        p = parts[i]
        out.append((p['offset_header'], p['offset_body'], p['offset_end']))
        body = p['body']
        if isinstance(body, dict) and 'Multipart' in body:
            for c in body['Multipart']:
                walk(c)
        elif isinstance(body, dict) and 'Message' in body:
            stalwart_parts(body['Message'], out)

    walk(0)


def our_parts(p, out):
    out.append((p['header'][0], p['body'][0], p['body'][0] + p['body'][1]))
    for c in p.get('children', []):
        our_parts(c, out)


def main():
    build = sys.argv[1]
    vectors = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), '../../../shared/vectors')
    render = os.path.join(build, 'tests', 'mail_test_corpus')
    base = os.path.join(vectors, 'mime-mail-parser-stalwart', 'resources', 'eml')
    total = differ = 0
    with tempfile.NamedTemporaryFile(suffix='.eml') as tmp:
        for eml in sorted(glob.glob(os.path.join(base, '*', '*.eml'))):
            raw = open(eml, 'rb').read()
            variants = (('lf', raw.replace(b'\r\n', b'\n'), '.json'),
                        ('crlf', re.sub(rb'(?<!\r)\n', b'\r\n', raw), '.crlf.json'))
            for name, data, ext in variants:
                expected_path = eml[:-4] + ext
                if not os.path.exists(expected_path):
                    continue
                tmp.seek(0)
                tmp.truncate()
                tmp.write(data)
                tmp.flush()
                r = subprocess.run([render, '--render', tmp.name], capture_output=True)
                theirs, ours = [], []
                stalwart_parts(json.load(open(expected_path)), theirs)
                our_parts(json.loads(r.stdout)['root'], ours)
                total += 1
                case = '%s %s' % (os.path.relpath(eml, base), name)
                if theirs == ours:
                    print('SAME', case)
                    continue
                differ += 1
                first = next(((a, b) for a, b in zip(theirs, ours) if a != b), None)
                print('DIFF %s: %d parts vs our %d%s' % (
                    case, len(theirs), len(ours),
                    '' if first is None else ', first %s vs our %s' % first))
    print('compared %d, differ %d' % (total, differ))


if __name__ == '__main__':
    main()
