#!/usr/bin/env python3
"""Read what a Staunch deployment delivered, from a `staunch store export` dump.

The dump format is the one of docs/storage.md ("Dump format"); the mail store keys are those
of docs/mailstore.md ("Keys"). Only the parts needed to find an account's messages are read:

  K records of the data space: "dir/a/<address>" -> principal id (8 bytes, big-endian),
      "M" + account (8) + "N" + parent (8) + name -> mailbox id (8): the INBOX's id,
      "M" + account (8) + "U" + mailbox (8) + uid (4): one message in a mailbox,
      "M" + account (8) + "E" + email id (8) -> email record, which holds the blob hash;
  B records: SHA-256 -> the message bytes.

Commands:
  storecheck.py count DUMP ADDRESS
      print the number of messages in the INBOX of ADDRESS's account
  storecheck.py check DUMP ADDRESS [--received-min N] [--exact] EXPECTED...
      every EXPECTED file must be, byte for byte, the end of exactly one message of the account,
      the bytes before it only trace headers (Return-Path first, then Received lines, at least
      N of them, default 1); with --exact the account holds no other message
  storecheck.py export DUMP ADDRESS DIR
      write the account's messages to DIR/1.eml, DIR/2.eml, ... (for debugging)
Exit status: 0 when the check holds, 1 when it does not, 2 on a bad dump or usage.
"""
import hashlib
import os
import re
import struct
import sys


class DumpError(Exception):
    pass


def read_dump(path):
    """Return (kv: list of (space, key, value)), blobs: dict sha256 -> bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"STNCDUMP":
        raise DumpError("not a Staunch dump (magic)")
    (version,) = struct.unpack_from(">I", data, 8)
    if version != 1:
        raise DumpError(f"dump version {version} not known")
    pos = 12
    kv, blobs = [], {}
    records = 0
    while True:
        if pos >= len(data):
            raise DumpError("dump truncated (no end record)")
        t = data[pos : pos + 1]
        pos += 1
        if t == b"K":
            space, klen = struct.unpack_from(">BH", data, pos)
            pos += 3
            key = data[pos : pos + klen]
            pos += klen
            (vlen,) = struct.unpack_from(">I", data, pos)
            pos += 4
            kv.append((space, key, data[pos : pos + vlen]))
            pos += vlen
            records += 1
        elif t == b"B":
            digest = data[pos : pos + 32]
            (size,) = struct.unpack_from(">Q", data, pos + 32)
            pos += 40
            parts = []
            while True:
                (n,) = struct.unpack_from(">I", data, pos)
                pos += 4
                if n == 0:
                    break
                parts.append(data[pos : pos + n])
                pos += n
            content = b"".join(parts)
            if len(content) != size or hashlib.sha256(content).digest() != digest:
                raise DumpError(f"blob {digest.hex()}: size or hash does not match its content")
            blobs[digest] = content
            records += 1
        elif t == b"E":
            (count,) = struct.unpack_from(">Q", data, pos)
            if count != records:
                raise DumpError(f"end record counts {count} records, the dump holds {records}")
            if hashlib.sha256(data[: pos + 8]).digest() != data[pos + 8 : pos + 40]:
                raise DumpError("end record hash does not match")
            return kv, blobs
        else:
            raise DumpError(f"unknown record type {t!r} at offset {pos - 1}")


def account_messages(kv, blobs, address):
    """Return (inbox_count, [message bytes of every email of the account])."""
    acct = None
    want = b"dir/a/" + address.lower().encode()
    for _, key, value in kv:
        if key == want and len(value) == 8:
            acct = value
    if acct is None:
        raise DumpError(f"no account for {address} in the dump")
    prefix = b"M" + acct
    inbox = None
    for _, key, value in kv:
        # "N" + parent (8) + name: the top-level name INBOX
        if key.startswith(prefix + b"N") and key[len(prefix) + 9 :] == b"INBOX" and len(value) == 8:
            inbox = value
    # No INBOX yet: nothing was ever delivered to the account.
    inbox_count = 0
    if inbox is not None:
        inbox_count = sum(
            1 for _, key, _ in kv if key.startswith(prefix + b"U" + inbox) and len(key) == len(prefix) + 13
        )
    messages = []
    for _, key, value in kv:
        if key.startswith(prefix + b"E") and len(key) == len(prefix) + 9:
            # The email record holds the 32 raw bytes of its blob's SHA-256.
            found = [d for d in blobs if d in value]
            if len(found) != 1:
                raise DumpError(f"{address}: email {key[-8:].hex()} names {len(found)} known blobs")
            messages.append(blobs[found[0]])
    return inbox_count, messages


HEADER_RE = re.compile(rb"([!-9;-~]+):")


def split_trace(prefix):
    """Split the bytes before the original message into header fields (name, raw field)."""
    if prefix and not prefix.endswith(b"\r\n"):
        return None
    fields = []
    for line in prefix.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
            continue
        m = HEADER_RE.match(line)
        if not m:
            return None
        fields.append((m.group(1).decode().lower(), line))
    return fields


def check(kv, blobs, address, expected_paths, received_min, exact):
    _, messages = account_messages(kv, blobs, address)
    ok = True
    used = set()
    for path in expected_paths:
        with open(path, "rb") as f:
            want = f.read()
        hits = [i for i, m in enumerate(messages) if m.endswith(want) and i not in used]
        if len(hits) != 1:
            print(f"FAIL {path}: {len(hits)} stored messages of {address} end with its bytes")
            ok = False
            continue
        used.add(hits[0])
        msg = messages[hits[0]]
        fields = split_trace(msg[: len(msg) - len(want)])
        if fields is None:
            print(f"FAIL {path}: the bytes added before the message are not header fields:")
            print(msg[: len(msg) - len(want)][:2000].decode(errors="replace"))
            ok = False
            continue
        names = [n for n, _ in fields]
        # RFC 5321 §4.4: the delivering server puts Return-Path first; every relay on the way
        # adds a Received line above the ones already there.
        bad = [n for n in names if n not in ("return-path", "received")]
        problems = []
        if not names or names[0] != "return-path":
            problems.append("no Return-Path first")
        if names.count("return-path") != 1:
            problems.append(f"{names.count('return-path')} Return-Path fields")
        if names.count("received") < received_min:
            problems.append(f"{names.count('received')} Received fields, want >= {received_min}")
        if bad:
            problems.append(f"other fields added: {bad}")
        if problems:
            print(f"FAIL {path}: {'; '.join(problems)}")
            for _, raw in fields:
                print("   ", raw.decode(errors="replace"))
            ok = False
            continue
        print(f"ok   {path}: {len(want)} bytes intact, after {len(names)} trace fields")
        for _, raw in fields:
            print("     ", raw.decode(errors="replace").replace("\r\n", "\n      "))
    if exact and len(messages) != len(used):
        print(f"FAIL {address} holds {len(messages)} messages, {len(used)} expected")
        ok = False
    return ok


def main(argv):
    if len(argv) < 4 or argv[1] not in ("count", "check", "export"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, dump, address = argv[1], argv[2], argv[3]
    try:
        kv, blobs = read_dump(dump)
        if cmd == "count":
            inbox_count, messages = account_messages(kv, blobs, address)
            if inbox_count != len(messages):
                print(f"{address}: {inbox_count} in INBOX but {len(messages)} emails", file=sys.stderr)
                return 1
            print(inbox_count)
            return 0
        if cmd == "export":
            _, messages = account_messages(kv, blobs, address)
            os.makedirs(argv[4], exist_ok=True)
            for i, m in enumerate(messages, 1):
                with open(os.path.join(argv[4], f"{i}.eml"), "wb") as f:
                    f.write(m)
            print(len(messages))
            return 0
        rest = argv[4:]
        received_min, exact, paths = 1, False, []
        i = 0
        while i < len(rest):
            if rest[i] == "--received-min":
                received_min = int(rest[i + 1])
                i += 2
            elif rest[i] == "--exact":
                exact = True
                i += 1
            else:
                paths.append(rest[i])
                i += 1
        return 0 if check(kv, blobs, address, paths, received_min, exact) else 1
    except (DumpError, struct.error) as e:
        print(f"storecheck: {dump}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
