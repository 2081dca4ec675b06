#!/usr/bin/python3
"""A recording SMTP server on 127.0.0.1 for the email tests (Debian's python3-aiosmtpd).

Modes: "starttls" (STARTTLS offered and required before AUTH or MAIL), "smtps" (TLS from
the first byte), "plain" (no TLS at all). With --user/--password, AUTH is required. Each
accepted message is written to --out as NNNN.eml (the bytes as received) and NNNN.json
(envelope sender, recipients, whether TLS was on, the login). Recipients listed in the
file --reject get "550", those in --defer get "451" (files, so a test can change them while
the server runs). The port goes to --port-file once listening. Exits after --max-seconds or
on SIGTERM."""
import argparse
import asyncio
import json
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP, AuthResult


def listed(path, address):
    if not path or not os.path.exists(path):
        return False
    with open(path, encoding="utf-8") as f:
        return address.lower() in {line.strip().lower() for line in f}


class Recorder:
    def __init__(self, args):
        self.args = args
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if listed(self.args.reject, address):
            return f"550 5.1.1 <{address}>: no such user here"
        if listed(self.args.defer, address):
            return f"451 4.3.0 <{address}>: mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.args.out, "%04d" % self.count)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "login": session.auth_data}
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(meta, f)
        os.replace(base + ".eml.tmp", base + ".eml")
        os.replace(base + ".json.tmp", base + ".json")
        return "250 2.0.0 Message accepted"


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == self.user and auth_data.password == self.password
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data.login.decode() if ok else None)


async def serve(a):
    context = None
    if a.mode in ("starttls", "smtps"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
    recorder = Recorder(a)
    auth = Authenticator(a.user, a.password) if a.user else None

    def factory():
        kwargs = dict(hostname="mail.test.localhost", ident="digestd-test-smtp",
                      timeout=30, data_size_limit=64 * 1024 * 1024)
        if a.mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        if auth:
            kwargs.update(authenticator=auth, auth_required=True,
                          auth_require_tls=a.mode == "starttls")
        return SMTP(recorder, **kwargs)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host="127.0.0.1", port=0,
                                      ssl=context if a.mode == "smtps" else None)
    port = server.sockets[0].getsockname()[1]
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(a.port_file + ".tmp", a.port_file)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=a.max_seconds)
    except asyncio.TimeoutError:
        pass
    server.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mode", choices=["starttls", "smtps", "plain"], default="starttls")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--reject")
    ap.add_argument("--defer")
    ap.add_argument("--out", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=120)
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
