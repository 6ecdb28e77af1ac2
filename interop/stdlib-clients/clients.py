#!/usr/bin/env python3
"""Python's own protocol clients against every listener; argv[1] is the ports JSON."""
import http.client
import imaplib
import json
import poplib
import smtplib
import socket
import ssl
import sys

ports = json.loads(sys.argv[1])
HOST = "127.0.0.1"
tls = ssl.create_default_context()
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE  # the test server's certificate is self-signed
failures = []


def check(name, fn):
    try:
        fn()
        print("ok   " + name)
    except Exception as e:  # noqa: BLE001 - report every kind of failure
        failures.append(name)
        print("FAIL %s: %r" % (name, e))


def smtp_greets(cls, port, **kw):
    def run():
        # RFC 5321 §4.2: the service greets with 220; EHLO answers 250.
        s = cls(HOST, port, timeout=10, **kw)
        code, _ = s.ehlo("client.example")
        assert code == 250, code
        s.quit()
    return run


def imap_refused(cls, port, **kw):
    def run():
        try:
            c = cls(HOST, port, timeout=10, **kw)
        except (imaplib.IMAP4.abort, imaplib.IMAP4.error) as e:
            assert "BYE" in str(e) or "service not available" in str(e), e
            return
        c.shutdown()
        raise AssertionError("IMAP greeting accepted")
    return run


def pop_refused(cls, port, **kw):
    def run():
        try:
            c = cls(HOST, port, timeout=10, **kw)
        except poplib.error_proto as e:
            assert str(e).startswith("b'-ERR") or "-ERR" in str(e), e
            return
        c.quit()
        raise AssertionError("POP3 greeting accepted")
    return run


def http_503(cls, port, **kw):
    def run():
        c = cls(HOST, port, timeout=10, **kw)
        c.request("GET", "/.well-known/jmap")
        r = c.getresponse()
        body = r.read()
        assert r.status == 503, r.status
        assert r.getheader("Retry-After"), r.getheaders()
        assert len(body) == int(r.getheader("Content-Length")), body
        c.close()
    return run


def sieve_bye(port):
    def run():
        with socket.create_connection((HOST, port), timeout=10) as s:
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(1024)
                if not chunk:
                    break
                data += chunk
            # RFC 5804 §1.2: BYE with a quoted reason.
            assert data.startswith(b'BYE "'), data
    return run


check("smtplib smtp", smtp_greets(smtplib.SMTP, ports["smtp"]))
check("smtplib submission", smtp_greets(smtplib.SMTP, ports["submission"]))
check("smtplib submissions (TLS)", smtp_greets(smtplib.SMTP_SSL, ports["submissions"], context=tls))
check("imaplib imap", imap_refused(imaplib.IMAP4, ports["imap"]))
check("imaplib imaps (TLS)", imap_refused(imaplib.IMAP4_SSL, ports["imaps"], ssl_context=tls))
check("poplib pop3", pop_refused(poplib.POP3, ports["pop3"]))
check("poplib pop3s (TLS)", pop_refused(poplib.POP3_SSL, ports["pop3s"], context=tls))
check("http.client http", http_503(http.client.HTTPConnection, ports["http"]))
check("http.client https (TLS)", http_503(http.client.HTTPSConnection, ports["https"], context=tls))
check("managesieve", sieve_bye(ports["managesieve"]))

print("%d passed, %d failed" % (10 - len(failures), len(failures)))
sys.exit(1 if failures else 0)
