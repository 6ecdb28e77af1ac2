#!/usr/bin/env python3
"""Python's smtplib against Staunch's SMTP, submission and LMTP listeners.

Usage: clients.py PORTS_JSON EXPECT_DIR DOMAIN TAG LMTP_SOCKET

Every message the server accepts is also written to EXPECT_DIR/<address>/<n>.eml, exactly as
sent (after SMTP dot-unstuffing), so run.sh can compare it byte for byte with the store. Each
check prints "ok ..." or raises; the exit status is 0 only when every check held.
Accounts (created by run.sh): alice, bob and carol @DOMAIN, logins <name>-TAG, password
"pw-<name>".
"""
import email.utils
import json
import os
import smtplib
import ssl
import sys

HOST = "127.0.0.1"
PORTS = json.loads(sys.argv[1])
EXPECT = sys.argv[2]
DOMAIN = sys.argv[3]
TAG = sys.argv[4]
LMTP_SOCKET = sys.argv[5]
TIMEOUT = 15
COUNTER = [0]
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE  # the test server's certificate is self-signed


class CheckError(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckError(what)


def code_of(reply):
    return reply[0]


def want(reply, codes, what):
    code, text = reply
    if isinstance(codes, int):
        codes = (codes,)
    expect(code in codes, f"{what}: got {code} {text!r}, want {codes}")


def message(sender, to, subject, body, extra=b""):
    """A complete RFC 5322 message (CRLF line ends) whose headers no relay needs to add."""
    COUNTER[0] += 1
    mid = f"<py-{os.getpid()}-{COUNTER[0]}@sender.test>"
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {email.utils.formatdate(localtime=False)}\r\nMessage-ID: {mid}\r\n"
    ).encode()
    return head + extra + b"\r\n" + body


def record(address, data):
    d = os.path.join(EXPECT, address)
    os.makedirs(d, exist_ok=True)
    n = len(os.listdir(d)) + 1
    with open(os.path.join(d, f"{n:03d}.eml"), "wb") as f:
        f.write(data)


def smtp(port_name, ehlo=True):
    s = smtplib.SMTP(HOST, PORTS[port_name], timeout=TIMEOUT)
    if ehlo:
        s.ehlo("client.sender.test")
    return s


def check_ehlo():
    s = smtp("smtp")
    for kw in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "chunking", "smtputf8", "dsn", "starttls"):
        expect(s.has_extn(kw), f"port 25 EHLO does not list {kw.upper()}: {s.esmtp_features}")
    # Issue 7 item 2: the MX listener offers no AUTH by default.
    expect(not s.has_extn("auth"), "port 25 offers AUTH before any configuration asks for it")
    expect(s.esmtp_features["size"].strip().isdigit(), f"SIZE without a limit: {s.esmtp_features['size']!r}")
    s.quit()
    print("ok   EHLO on port 25 lists PIPELINING SIZE 8BITMIME ENHANCEDSTATUSCODES CHUNKING SMTPUTF8 DSN STARTTLS, no AUTH")


def check_plain_and_dots():
    s = smtp("smtp")
    # RFC 5321 §4.5.2: a line starting with "." is sent doubled and stored with one dot.
    body = b"first line\r\n.leading dot\r\n..two dots\r\n.\tdot tab\r\nlast line\r\n"
    data = message("sender@sender.test", f"alice@{DOMAIN}", "dots", body)
    s.sendmail("sender@sender.test", [f"alice@{DOMAIN}"], data)
    record(f"alice@{DOMAIN}", data)
    s.quit()
    print("ok   a 7-bit message with dot-stuffed lines accepted on port 25")


def check_size():
    s = smtp("smtp")
    limit = int(s.esmtp_features["size"].strip())
    # RFC 1870 §6.1: a declared size over the fixed limit is refused with 552 at MAIL.
    want(s.mail("sender@sender.test", [f"SIZE={limit + 1}"]), 552, "MAIL SIZE above the limit")
    want(s.mail("sender@sender.test", ["SIZE=2048"]), 250, "MAIL SIZE=2048 after the refusal")
    want(s.rcpt(f"alice@{DOMAIN}"), 250, "RCPT after SIZE=2048")
    data = message("sender@sender.test", f"alice@{DOMAIN}", "size", b"small body\r\n")
    want(s.data(data), 250, "DATA of the SIZE=2048 message")
    record(f"alice@{DOMAIN}", data)
    # RFC 1870 §6: a SIZE value that is not a number is a syntax error.
    want(s.mail("sender@sender.test", ["SIZE=lots"]), 501, "MAIL SIZE=lots")
    s.quit()
    print(f"ok   SIZE={limit}: over the limit 552, a valid declaration then delivers, a bad value 501")


def check_8bitmime():
    s = smtp("smtp")
    body = "Grüße aus Köln: naïve façade, 東京\r\n".encode("utf-8") + bytes(range(0xA0, 0xC0)) + b"\r\n"
    extra = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    data = message("sender@sender.test", f"bob@{DOMAIN}", "8bit", body, extra)
    s.sendmail("sender@sender.test", [f"bob@{DOMAIN}"], data, mail_options=["BODY=8BITMIME"])
    record(f"bob@{DOMAIN}", data)
    s.quit()
    print("ok   BODY=8BITMIME message with 8-bit octets accepted")


def check_dsn():
    s = smtp("smtp")
    want(s.mail("sender@sender.test", ["RET=HDRS", "ENVID=QQ314159"]), 250, "MAIL with RET and ENVID")
    want(s.rcpt(f"bob@{DOMAIN}", ["NOTIFY=SUCCESS,DELAY", f"ORCPT=rfc822;bob@{DOMAIN}"]), 250, "RCPT NOTIFY ORCPT")
    data = message("sender@sender.test", f"bob@{DOMAIN}", "dsn", b"with DSN parameters\r\n")
    want(s.data(data), 250, "DATA with DSN parameters")
    record(f"bob@{DOMAIN}", data)
    # RFC 3461 §4.3: RET is FULL or HDRS; §4.1: NEVER cannot be combined with other values.
    want(s.mail("sender@sender.test", ["RET=SOME"]), 501, "MAIL RET=SOME")
    want(s.mail("sender@sender.test", ["RET=FULL"]), 250, "MAIL RET=FULL")
    want(s.rcpt(f"bob@{DOMAIN}", ["NOTIFY=NEVER,SUCCESS"]), 501, "RCPT NOTIFY=NEVER,SUCCESS")
    want(s.rcpt(f"bob@{DOMAIN}", ["NOTIFY=NEVER"]), 250, "RCPT NOTIFY=NEVER")
    want(s.rset(), 250, "RSET after the DSN checks")
    s.quit()
    print("ok   DSN: RET, ENVID, NOTIFY, ORCPT accepted and kept; bad RET and NOTIFY=NEVER,x get 501")


def check_vrfy_expn():
    s = smtp("smtp")
    # Issue 7 item 1: VRFY and EXPN are off by default; RFC 5321 §3.5.3 gives 252 for a VRFY
    # the server will not answer, and §4.2.4 500/502 for a command not recognised/implemented.
    code, text = s.verify(f"alice@{DOMAIN}")
    expect(code in (252, 502), f"VRFY answered {code} {text!r}: the directory is disclosed")
    code, text = s.expn(f"alice@{DOMAIN}")
    expect(code in (252, 500, 502), f"EXPN answered {code} {text!r}")
    s.quit()
    print("ok   VRFY and EXPN are off (no 250)")


def check_rset_and_sequence():
    s = smtp("smtp")
    want(s.mail("sender@sender.test"), 250, "MAIL")
    want(s.rcpt(f"carol@{DOMAIN}"), 250, "RCPT")
    want(s.rset(), 250, "RSET")
    # RFC 5321 §4.1.1.5: RSET discards the transaction, so DATA has nothing to send.
    want(s.docmd("DATA"), 503, "DATA after RSET")
    # RFC 5321 §4.1.4: RCPT before MAIL, DATA before RCPT, and MAIL inside a transaction are
    # out of order: 503.
    want(s.rcpt(f"carol@{DOMAIN}"), 503, "RCPT before MAIL")
    want(s.mail("sender@sender.test"), 250, "MAIL")
    # §3.3: DATA with no accepted RCPT may get 503 or 554 ("no valid recipients").
    want(s.docmd("DATA"), (503, 554), "DATA before RCPT")
    want(s.mail("other@sender.test"), 503, "MAIL inside a transaction")
    want(s.rcpt(f"carol@{DOMAIN}"), 250, "RCPT after the refused second MAIL")
    # §4.1.4: a later EHLO resets the transaction exactly like RSET.
    want(s.ehlo("again.sender.test"), 250, "second EHLO")
    want(s.docmd("DATA"), 503, "DATA after a second EHLO")
    # §4.2.4: unknown command 500; §4.1.4: a MAIL argument that is not acceptable 501.
    want(s.docmd("FROB"), 500, "unknown command")
    want(s.docmd("MAIL", "FROM sender@sender.test"), 501, "MAIL without colon")
    # A complete transaction still works after all that (the session state is intact).
    data = message("sender@sender.test", f"carol@{DOMAIN}", "after rset", b"delivered once\r\n")
    s.sendmail("sender@sender.test", [f"carol@{DOMAIN}"], data)
    record(f"carol@{DOMAIN}", data)
    s.quit()
    # §4.1.4: a session with mail transactions starts with EHLO (or HELO); NOOP is fine before.
    s = smtp("smtp", ehlo=False)
    want(s.noop(), 250, "NOOP before EHLO")
    want(s.docmd("MAIL", "FROM:<sender@sender.test>"), 503, "MAIL before EHLO")
    s.quit()
    print("ok   RSET, EHLO reset, RCPT/DATA/MAIL out of order 503, unknown 500, bad MAIL 501, MAIL before EHLO 503")


def check_recipients():
    s = smtp("smtp")
    want(s.mail("sender@sender.test"), 250, "MAIL")
    code, text = s.rcpt(f"nobody-here@{DOMAIN}")
    # RFC 5321 §3.3: an unknown local mailbox is 550 (RFC 3463 5.1.1).
    expect(code == 550, f"RCPT unknown local user: {code} {text!r}")
    code, text = s.rcpt("someone@remote.test")
    # Port 25 takes only local recipients unless the client may relay (RFC 5321 §3.6.2).
    expect(code in (550, 551, 553, 554), f"RCPT to a remote domain without AUTH: {code} {text!r}")
    expect(b"5.7." in text or b"5.1." in text, f"relay refusal without an enhanced status: {text!r}")
    want(s.docmd("DATA"), (503, 554), "DATA with no accepted recipient")
    s.quit()
    print("ok   unknown local user 550, relay refused, DATA without recipients refused")


def check_smtputf8():
    s = smtp("smtp")
    sender = "élise@sender.test"
    # RFC 6531 §3.5: without the SMTPUTF8 parameter a non-ASCII MAIL address is refused (550).
    s.command_encoding = "utf-8"
    code, text = s.docmd("MAIL", f"FROM:<{sender}>")
    expect(code in (550, 553, 501), f"non-ASCII MAIL without SMTPUTF8: {code} {text!r}")
    s.rset()
    body = "Ünïcödé body ✓\r\n".encode()
    data = (
        f"From: Élise <{sender}>\r\nTo: alice@{DOMAIN}\r\nSubject: ça marche ✓\r\n"
        f"Date: {email.utils.formatdate()}\r\nMessage-ID: <utf8-{os.getpid()}@sender.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body
    s.sendmail(sender, [f"alice@{DOMAIN}"], data, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    record(f"alice@{DOMAIN}", data)
    s.quit()
    print("ok   SMTPUTF8: a UTF-8 sender and headers accepted with the parameter, refused without")


def check_pipelining():
    s = smtp("smtp")
    data = message("sender@sender.test", f"bob@{DOMAIN}", "pipelined", b"sent in one write\r\n")
    # RFC 2920 §3.1: MAIL, RCPT and DATA may go in one group; the replies come in order.
    s.send(
        b"MAIL FROM:<sender@sender.test>\r\nRCPT TO:<bob@" + DOMAIN.encode() + b">\r\n"
        b"RCPT TO:<unknown-user@" + DOMAIN.encode() + b">\r\nRCPT TO:<carol@" + DOMAIN.encode() + b">\r\nDATA\r\n"
    )
    replies = [s.getreply() for _ in range(5)]
    codes = [r[0] for r in replies]
    expect(codes == [250, 250, 550, 250, 354], f"pipelined group replies {replies}")
    s.send(data + b".\r\n")
    want(s.getreply(), 250, "end of pipelined DATA")
    record(f"bob@{DOMAIN}", data)
    record(f"carol@{DOMAIN}", data)
    # The whole next transaction and QUIT in a single write.
    s.send(
        b"RSET\r\nMAIL FROM:<sender@sender.test>\r\nRCPT TO:<alice@" + DOMAIN.encode() + b">\r\nDATA\r\n"
    )
    codes = [s.getreply()[0] for _ in range(4)]
    expect(codes == [250, 250, 250, 354], f"second pipelined group {codes}")
    data2 = message("sender@sender.test", f"alice@{DOMAIN}", "pipelined 2", b"second\r\n")
    s.send(data2 + b".\r\nQUIT\r\n")
    want(s.getreply(), 250, "end of the second pipelined DATA")
    want(s.getreply(), 221, "QUIT in the same write")
    record(f"alice@{DOMAIN}", data2)
    s.close()
    print("ok   PIPELINING: grouped MAIL/RCPT/DATA, replies in order, one bad RCPT among good ones")


def check_bdat():
    s = smtp("smtp")
    want(s.mail("sender@sender.test", ["BODY=BINARYMIME"]), 250, "MAIL BODY=BINARYMIME")
    want(s.rcpt(f"alice@{DOMAIN}"), 250, "RCPT")
    head = message("sender@sender.test", f"alice@{DOMAIN}", "bdat", b"")
    # RFC 3030 §2: BDAT data is sent as is: no dot-stuffing, a lone "." line is content.
    chunks = [head, b"line one\r\n.\r\n", b"..not unstuffed\r\nend\r\n"]
    for i, c in enumerate(chunks):
        last = b" LAST" if i == len(chunks) - 1 else b""
        s.send(b"BDAT %d%s\r\n" % (len(c), last) + c)
        want(s.getreply(), 250, f"BDAT chunk {i + 1}")
    record(f"alice@{DOMAIN}", b"".join(chunks))
    # RFC 3030 §2: DATA inside a BDAT transaction is a sequence error.
    want(s.mail("sender@sender.test"), 250, "MAIL")
    want(s.rcpt(f"alice@{DOMAIN}"), 250, "RCPT")
    s.send(b"BDAT 4\r\nabcd")
    want(s.getreply(), 250, "BDAT 4")
    want(s.docmd("DATA"), 503, "DATA after BDAT")
    want(s.rset(), 250, "RSET after the BDAT error")
    s.quit()
    print("ok   CHUNKING/BINARYMIME: three BDAT chunks stored as sent, DATA after BDAT 503")


def check_submission():
    s = smtp("submission")
    # Issue 7 item 2: 587 requires AUTH before a transaction (RFC 4954 §6: 530 5.7.0).
    code, text = s.mail(f"alice@{DOMAIN}")
    expect(code == 530, f"MAIL before AUTH on 587: {code} {text!r}")
    s.rset()
    s.starttls(context=TLS)
    s.ehlo("client.sender.test")
    expect(s.has_extn("auth"), "587 after STARTTLS offers no AUTH")
    try:
        s.login(f"alice-{TAG}", "wrong password")
        raise CheckError("AUTH with a wrong password succeeded")
    except smtplib.SMTPAuthenticationError as e:
        expect(e.smtp_code == 535, f"bad password: {e.smtp_code} {e.smtp_error!r}")
    s.login(f"alice-{TAG}", "pw-alice")
    data = message(f"alice@{DOMAIN}", f"bob@{DOMAIN}", "submitted", b"over 587 with STARTTLS and AUTH\r\n")
    s.sendmail(f"alice@{DOMAIN}", [f"bob@{DOMAIN}"], data)
    record(f"bob@{DOMAIN}", data)
    s.quit()
    s = smtplib.SMTP_SSL(HOST, PORTS["submissions"], timeout=TIMEOUT, context=TLS)
    s.ehlo("client.sender.test")
    s.login(f"carol-{TAG}", "pw-carol")
    data = message(f"carol@{DOMAIN}", f"alice@{DOMAIN}", "submitted 465", b"over 465\r\n")
    s.sendmail(f"carol@{DOMAIN}", [f"alice@{DOMAIN}"], data)
    record(f"alice@{DOMAIN}", data)
    s.quit()
    print("ok   submission: 530 before AUTH, 535 on a bad password, delivery after STARTTLS+AUTH on 587 and on 465")


def lmtp_transaction(lm, label):
    lm.ehlo_or_helo_if_needed()
    want(lm.mail("sender@sender.test"), 250, f"{label} MAIL")
    want(lm.rcpt(f"alice@{DOMAIN}"), 250, f"{label} RCPT alice")
    code, _ = lm.rcpt(f"nobody-here@{DOMAIN}")
    expect(code == 550, f"{label} RCPT of an unknown user: {code}")
    want(lm.rcpt(f"carol@{DOMAIN}"), 250, f"{label} RCPT carol")
    data = message("sender@sender.test", f"alice@{DOMAIN}, carol@{DOMAIN}", f"lmtp {label}", b"two recipients\r\n")
    # RFC 2033 §4.2: after the final dot, one reply per accepted recipient, in RCPT order.
    first = lm.data(data)
    second = lm.getreply()
    want(first, 250, f"{label} reply for alice")
    want(second, 250, f"{label} reply for carol")
    record(f"alice@{DOMAIN}", data)
    record(f"carol@{DOMAIN}", data)
    lm.quit()


def check_lmtp():
    lm = smtplib.LMTP(HOST, PORTS["lmtp"], timeout=TIMEOUT)
    code, _ = lm.docmd("EHLO", "client.sender.test")
    # RFC 2033 §4.1: LHLO replaces EHLO, which must not get a positive reply (500 recommended).
    expect(code >= 400, f"LMTP accepted EHLO ({code})")
    lmtp_transaction(lm, "lmtp-tcp")
    print("ok   LMTP over TCP: LHLO, one reply per recipient after DATA, unknown recipient 550")
    lm = smtplib.LMTP(LMTP_SOCKET, timeout=TIMEOUT)
    lmtp_transaction(lm, "lmtp-unix")
    print(f"ok   LMTP over the unix socket {LMTP_SOCKET}")


CHECKS = [
    check_ehlo,
    check_plain_and_dots,
    check_size,
    check_8bitmime,
    check_dsn,
    check_vrfy_expn,
    check_rset_and_sequence,
    check_recipients,
    check_smtputf8,
    check_pipelining,
    check_bdat,
    check_submission,
    check_lmtp,
]


def main():
    failed = 0
    for c in CHECKS:
        try:
            c()
        except (CheckError, smtplib.SMTPException, OSError) as e:
            failed += 1
            print(f"FAIL {c.__name__}: {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
