#!/usr/bin/env python3
"""Socket clients for the integration scenarios (standard library only).

  client.py greet PORT [--tls] [--send TEXT]   print what the server sends until it closes
  client.py http PORT [--tls]                  GET /, check the response framing exactly
  client.py noise PORT BYTES                   send random bytes, expect a reply and a close
  client.py bigline PORT BYTES                 send one line of BYTES without a line end
  client.py tlsgarbage PORT                    send non-TLS bytes to an implicit-TLS port
  client.py halfopen PORT                      shut down our sending side at once
  client.py flood PORT COUNT [--hold S]        open COUNT connections at once, report counts
  client.py hold PORT COUNT SECONDS            open COUNT connections and keep them open

Every wait is bounded: a server that neither answers nor closes within the timeout is a
failure ("silent hang"), reported with exit status 1.
"""
import os
import resource
import select
import socket
import ssl
import sys
import time

TIMEOUT = 10.0
# The server address (a network-namespace scenario connects to the host side of a veth).
HOST = os.environ.get("STAUNCH_TEST_HOST", "127.0.0.1")


def connect(port, use_tls=False):
    s = socket.create_connection((HOST, port), timeout=TIMEOUT)
    if use_tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


def read_to_close(s):
    """All bytes until the server closes; raises socket.timeout on silence."""
    data = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        except ssl.SSLError:
            break
        if not b:
            break
        data += b
    return data


def cmd_greet(args):
    port = int(args[0])
    use_tls = "--tls" in args
    send = None
    if "--send" in args:
        send = args[args.index("--send") + 1].encode()
    s = connect(port, use_tls)
    if send:
        s.sendall(send)
    sys.stdout.write(read_to_close(s).decode("utf-8", "replace"))
    s.close()


def cmd_http(args):
    """Send a GET, check the framing of the answer exactly, print its status line."""
    port = int(args[0])
    s = connect(port, "--tls" in args)
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = read_to_close(s)
    s.close()
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    problems = []
    if not sep:
        problems.append("no end of header")
    if int(fields.get("content-length", "-1")) != len(body):
        problems.append("Content-Length %s but %d body bytes"
                        % (fields.get("content-length"), len(body)))
    if fields.get("connection", "").lower() != "close":
        problems.append("no Connection: close")
    if "retry-after" not in fields:
        problems.append("no Retry-After")
    print(lines[0])
    if problems:
        print("http: " + "; ".join(problems))
        sys.exit(1)


def cmd_noise(args):
    port, n = int(args[0]), int(args[1])
    s = connect(port)
    try:
        s.sendall(os.urandom(n))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed after its refusal: fine
    data = read_to_close(s)
    s.close()
    print("noise: %d bytes sent, %d bytes received" % (n, len(data)))


def cmd_bigline(args):
    port, n = int(args[0]), int(args[1])
    s = connect(port)
    sent = 0
    chunk = b"A" * 65536
    try:
        while sent < n:
            s.sendall(chunk[: min(len(chunk), n - sent)])
            sent += min(len(chunk), n - sent)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = read_to_close(s)
    s.close()
    print("bigline: %d of %d bytes sent, %d received" % (sent, n, len(data)))


def cmd_tlsgarbage(args):
    port = int(args[0])
    s = connect(port)
    try:
        s.sendall(b"\x16\x03\x01\x00\x05garbage that is not a TLS handshake\r\n" * 50)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = read_to_close(s)
    s.close()
    print("tlsgarbage: closed after %d bytes" % len(data))


def cmd_halfopen(args):
    port = int(args[0])
    s = connect(port)
    s.shutdown(socket.SHUT_WR)
    data = read_to_close(s)
    s.close()
    print("halfopen: %r" % data[:80])


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cmd_flood(args):
    port, count = int(args[0]), int(args[1])
    hold = float(args[args.index("--hold") + 1]) if "--hold" in args else 0.0
    raise_nofile()
    socks, refused = [], 0
    for _ in range(count):
        try:
            s = socket.create_connection((HOST, port), timeout=TIMEOUT)
            socks.append(s)
        except OSError:
            refused += 1
    time.sleep(hold)
    # A connection the server closed (limit) is readable: EOF or a reset. Poll all at once.
    closed = 0
    poller = select.poll()
    byfd = {}
    for s in socks:
        poller.register(s.fileno(), select.POLLIN)
        byfd[s.fileno()] = s
    for fd, _ in poller.poll(300):
        try:
            if byfd[fd].recv(1) == b"":
                closed += 1
        except OSError:
            closed += 1
    for s in socks:
        s.close()
    print("flood: %d connections, %d refused at connect, %d closed by the server, %d open"
          % (count, refused, closed, len(socks) - closed))


def cmd_hold(args):
    port, count, seconds = int(args[0]), int(args[1]), float(args[2])
    raise_nofile()
    socks = [socket.create_connection((HOST, port), timeout=TIMEOUT)
             for _ in range(count)]
    print("hold: %d connections open" % len(socks), flush=True)
    time.sleep(seconds)
    for s in socks:
        s.close()


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = globals().get("cmd_" + cmd)
    if fn is None:
        sys.stderr.write(__doc__)
        return 2
    try:
        fn(args)
    except socket.timeout:
        print("%s: no answer and no close within %.0f s" % (cmd, TIMEOUT))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
