"""The email notifier end to end (issue 8): the real digestd binary sends to a real SMTP
server (python3-aiosmtpd on 127.0.0.1, started here) over STARTTLS with a certificate made
for the test, or implicit TLS, with AUTH; Python's own `email` package, independent of
digestd, reads what arrived."""
import email
import email.header
import email.policy
import glob
import json
import os
import re
import subprocess
import sys
import time
import unittest

from digestd_harness import DeliveryCaseMixin, DigestdCase, notifier, wait_for, watch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("DIGESTD_TEST_DATA") or os.path.join(HERE, "..", "data")
FIXTURE_DATE = "2024-03-04"
FIXTURE_PAPERS = 4
KOREAN_WATCH = "한국어 대규모 언어 모델의 희소 어텐션과 추론 효율 연구 동향"
SERVER_SECONDS = 90


class SmtpServer:
    """smtp_server.py in a child process, stopped (SIGTERM, then kill) by close()."""

    def __init__(self, workdir, mode="starttls", user="", password="", cert=None, key=None):
        self.dir = os.path.join(workdir, f"smtp-{mode}-{time.monotonic_ns()}")
        os.makedirs(os.path.join(self.dir, "mail"))
        self.reject_file = os.path.join(self.dir, "reject")
        self.defer_file = os.path.join(self.dir, "defer")
        port_file = os.path.join(self.dir, "port")
        args = [sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
                os.path.join(HERE, "smtp_server.py"), "--mode", mode,
                "--out", os.path.join(self.dir, "mail"), "--port-file", port_file,
                "--reject", self.reject_file, "--defer", self.defer_file,
                "--max-seconds", str(SERVER_SECONDS)]
        if user:
            args += ["--user", user, "--password", password]
        if cert:
            args += ["--cert", cert, "--key", key]
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        if not wait_for(lambda: os.path.exists(port_file) or self.proc.poll() is not None, 20):
            self.close()
            raise RuntimeError("smtp_server.py did not start")
        if self.proc.poll() is not None:
            raise RuntimeError("smtp_server.py exited: " + open(self.log.name).read())
        with open(port_file) as f:
            self.port = int(f.read())

    def set_list(self, path, addresses):
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(a + "\n" for a in addresses))

    def reject(self, *addresses):
        self.set_list(self.reject_file, addresses)

    def defer(self, *addresses):
        self.set_list(self.defer_file, addresses)

    def messages(self):
        """(envelope dict, raw bytes) for each accepted message, in order."""
        out = []
        for meta in sorted(glob.glob(os.path.join(self.dir, "mail", "*.json"))):
            with open(meta, encoding="utf-8") as f:
                envelope = json.load(f)
            with open(meta[:-5] + ".eml", "rb") as f:
                out.append((envelope, f.read()))
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 (openssl CLI); returns (cert, key)."""
    cert = os.path.join(directory, "smtp-cert.pem")
    key = os.path.join(directory, "smtp-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


def header_section(raw):
    return raw.split(b"\r\n\r\n", 1)[0]


class EmailCase(DeliveryCaseMixin, DigestdCase):
    def setUp(self):
        super().setUp()
        self.cert, self.key = make_certificate(self.dir)
        with open(os.path.join(DATA, "delivery", FIXTURE_DATE + ".md"), encoding="utf-8") as f:
            self.write_digest(FIXTURE_DATE, f.read())

    def server(self, **kwargs):
        kwargs.setdefault("cert", self.cert)
        kwargs.setdefault("key", self.key)
        server = SmtpServer(self.dir, **kwargs)
        self.addCleanup(server.close)
        return server

    def configure(self, **keys):
        keys.setdefault("timeout", "10s")
        self.write_config(watch(KOREAN_WATCH, ["mail"]), first_run="notify",
                          notifiers=notifier("mail", "email", **keys))

    def retry_pending(self):
        """Makes every pending row due now (`outbox retry ID`): the binary has no fake clock."""
        for row in self.outbox_rows("--state", "pending"):
            self.run_digestd("outbox", "retry", row["id"], "--config", self.config_path,
                             expect=0)

    def once_proc(self, expect=None):
        return self.run_digestd("once", "--config", self.config_path, "--date", FIXTURE_DATE,
                                expect=expect)

    def assert_well_formed(self, raw):
        """CRLF only, no line over 998 octets (RFC 5322 §2.1.1)."""
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""), "a bare LF")
        self.assertNotIn(b"\r", raw.replace(b"\r\n", b""), "a bare CR")
        for line in raw.split(b"\r\n"):
            self.assertLessEqual(len(line), 998, line[:80])


class StartTlsAuth(EmailCase):
    def test_digest_email_over_starttls_with_auth_reads_right_in_an_independent_parser(self):
        server = self.server(mode="starttls", user="digest-bot", password="s3cret pass")
        self.write("smtp-password", "s3cret pass\n")
        self.configure(url=f"smtp://127.0.0.1:{server.port}", starttls="required",
                       ca_file=self.cert, username="digest-bot", password_file="smtp-password",
                       **{"from": "다이제스트 봇 <bot@example.org>"},
                       to=["김민준 <minjun@example.org>", "ana@example.org"],
                       cc=["\"Lead, Team\" <lead@example.org>"], bcc=["archive@example.org"],
                       subject_prefix="[논문]",
                       list_unsubscribe=["https://example.org/unsubscribe?list=papers",
                                         "mailto:unsubscribe@example.org"])
        self.once_proc(expect=0)
        messages = server.messages()
        # One transaction per recipient, each with that recipient alone in its envelope.
        self.assertEqual(sorted(r for env, _ in messages for r in env["rcpt_tos"]),
                         ["ana@example.org", "archive@example.org", "lead@example.org",
                          "minjun@example.org"])
        rows = self.outbox_rows()
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["state"], "sent")
        raws = {raw for _, raw in messages}
        self.assertEqual(len(raws), 1, "every recipient gets the same bytes")
        raw = raws.pop()
        for env, _ in messages:
            self.assertEqual(len(env["rcpt_tos"]), 1)
            self.assertEqual(env["mail_from"], "bot@example.org")
            self.assertTrue(env["tls"], "STARTTLS was used")
            self.assertEqual(env["login"], "digest-bot")

        self.assert_well_formed(raw)
        # Bcc: in an envelope, never in a header.
        self.assertNotIn(b"archive@example.org", header_section(raw))
        self.assertNotIn(b"bcc:", header_section(raw).lower())

        msg = email.message_from_bytes(raw, policy=email.policy.default)
        subject = f"[논문] {FIXTURE_PAPERS} new papers for {KOREAN_WATCH}"
        self.assertEqual(str(msg["Subject"]), subject)
        self.assertEqual(str(email.header.make_header(email.header.decode_header(
            msg.get("Subject").encode() if False else header_value(raw, b"Subject")))), subject)
        for word in re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", header_section(raw)):
            self.assertLessEqual(len(word), 75, word)
        self.assertEqual(msg["From"].addresses[0].display_name, "다이제스트 봇")
        self.assertEqual(msg["From"].addresses[0].addr_spec, "bot@example.org")
        self.assertEqual([a.addr_spec for a in msg["To"].addresses],
                         ["minjun@example.org", "ana@example.org"])
        self.assertEqual(msg["To"].addresses[0].display_name, "김민준")
        self.assertEqual(msg["Cc"].addresses[0].display_name, "Lead, Team")
        self.assertEqual(msg["Message-ID"], f"<{rows[0]['id']}@example.org>")
        self.assertIsNotNone(msg["Date"].datetime)
        self.assertEqual(msg["MIME-Version"], "1.0")
        self.assertEqual(msg["Auto-Submitted"], "auto-generated")
        self.assertIn("<mail.digestd.example.org>", msg["List-Id"])
        self.assertEqual(msg["List-Unsubscribe"],
                         "<https://example.org/unsubscribe?list=papers>, "
                         "<mailto:unsubscribe@example.org>")

        self.assertEqual(msg.get_content_type(), "multipart/alternative")
        parts = list(msg.iter_parts())
        self.assertEqual([p.get_content_type() for p in parts], ["text/plain", "text/html"])
        for p in parts:
            self.assertEqual(p.get_content_charset(), "utf-8")
        text, html = parts[0].get_content(), parts[1].get_content()
        # The digest's <think> shows as text in the HTML, and as itself in the text.
        self.assertIn("&lt;think&gt;", html)
        self.assertNotIn("<think>", html)
        self.assertIn("<think>", text)
        # Every paper, each once, with its thumbnail, title link, votes and Korean summary.
        for n in range(1, FIXTURE_PAPERS + 1):
            url = f"https://arxiv.org/abs/2403.9000{n}" + ("v2" if n == 4 else "")
            self.assertEqual(html.count(f'<a href="{url}" style'), 1, url)
            self.assertIn(url, text)
        for n in (1, 2):
            thumb = f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2403.9000{n}.png"
            self.assertRegex(html, r'<img src="' + re.escape(thumb) + r'" alt="Thumbnail: [^"]+"')
        self.assertIn("▲ 42 votes", html)
        # Long author lists end in "et al." (paper 4 has four names and a "+").
        self.assertIn("Lea Fontaine, Tomás Ruiz, Amara Okafor et al.", html)
        self.assertIn("Lea Fontaine, Tomás Ruiz, Amara Okafor et al.", text)
        self.assertIn("42 votes", text)
        self.assertIn("주전자 센서 데이터로 학습한 언어 모델이", html)
        self.assertIn("주전자 센서 데이터로 학습한 언어 모델이", text)
        self.assertNotIn("<style", html)
        self.assertNotIn("class=", html)
        # A second run sends nothing more.
        self.once_proc(expect=0)
        self.assertEqual(len(server.messages()), 4)


def header_value(raw, name):
    """The raw (still encoded) value of header `name`, unfolded."""
    match = re.search(rb"^" + name + rb": (.*?)\r\n(?=\S)", header_section(raw) + b"\r\nX",
                      re.M | re.S | re.I)
    return match.group(1).replace(b"\r\n", b"").decode("ascii")


class ImplicitTls(EmailCase):
    def test_smtps_with_password_from_the_environment(self):
        server = self.server(mode="smtps", user="bot", password="from-env")
        self.configure(url=f"smtps://127.0.0.1:{server.port}", ca_file=self.cert,
                       username="bot", password="${DIGESTD_TEST_SMTP_PASSWORD}",
                       **{"from": "bot@example.org"}, to=["ana@example.org"])
        os.environ["DIGESTD_TEST_SMTP_PASSWORD"] = "from-env"
        self.addCleanup(os.environ.pop, "DIGESTD_TEST_SMTP_PASSWORD", None)
        self.once_proc(expect=0)
        messages = server.messages()
        self.assertEqual(len(messages), 1)
        self.assertTrue(messages[0][0]["tls"])
        self.assertEqual(messages[0][0]["login"], "bot")
        self.assert_well_formed(messages[0][1])

    def test_an_untrusted_certificate_is_refused_and_retried(self):
        server = self.server(mode="smtps")
        self.configure(url=f"smtps://127.0.0.1:{server.port}", **{"from": "bot@example.org"},
                       to=["ana@example.org"])
        self.once_proc(expect=1)
        self.assertEqual(server.messages(), [])
        rows = self.outbox_rows()
        self.assertEqual(rows[0]["state"], "pending", rows)


class Failures(EmailCase):
    def basic(self, server, **keys):
        keys.setdefault("from", "bot@example.org")
        keys.setdefault("starttls", "required")
        self.configure(url=f"smtp://127.0.0.1:{server.port}", ca_file=self.cert, **keys)

    def test_a_refused_recipient_fails_alone_and_is_named(self):
        server = self.server()
        server.reject("nobody@example.org")
        self.basic(server, to=["ana@example.org", "nobody@example.org"],
                   bcc=["archive@example.org"])
        self.once_proc(expect=1)
        got = sorted(env["rcpt_tos"][0] for env, _ in server.messages())
        self.assertEqual(got, ["ana@example.org", "archive@example.org"])
        rows = self.outbox_rows()
        self.assertEqual(rows[0]["state"], "dead", rows)
        self.assertIn("nobody@example.org", rows[0]["last_error"])
        self.assertIn("550", rows[0]["last_error"])
        self.assertNotIn("ana@example.org", rows[0]["last_error"])

    def test_a_deferred_recipient_is_retried_and_nobody_gets_it_twice(self):
        server = self.server()
        server.defer("busy@example.org")
        self.basic(server, to=["ana@example.org", "busy@example.org", "cy@example.org"])
        self.once_proc(expect=1)
        self.assertEqual([env["rcpt_tos"] for env, _ in server.messages()], [["ana@example.org"]])
        rows = self.outbox_rows()
        self.assertEqual(rows[0]["state"], "pending", rows)
        self.assertIn("busy@example.org", rows[0]["last_error"])
        self.assertIn("451", rows[0]["last_error"])
        server.defer()
        self.retry_pending()
        self.once_proc(expect=0)
        got = [env["rcpt_tos"][0] for env, _ in server.messages()]
        self.assertEqual(got, ["ana@example.org", "busy@example.org", "cy@example.org"])
        ids = {email.message_from_bytes(raw)["Message-ID"] for _, raw in server.messages()}
        self.assertEqual(len(ids), 1, "the retry carries the same Message-ID")

    def test_a_wrong_password_is_reported_and_retried(self):
        server = self.server(user="bot", password="right")
        self.basic(server, to=["ana@example.org"], username="bot", password="wrong")
        self.once_proc(expect=1)
        self.assertEqual(server.messages(), [])
        rows = self.outbox_rows()
        self.assertEqual(rows[0]["state"], "pending", rows)
        self.assertIn("authentication as bot failed", rows[0]["last_error"])
        self.assertNotIn("wrong", rows[0]["last_error"])
        self.basic(server, to=["ana@example.org"], username="bot", password="right")
        self.retry_pending()
        self.once_proc(expect=0)
        self.assertEqual(len(server.messages()), 1)

    def test_starttls_required_but_not_offered_is_retried(self):
        server = self.server(mode="plain")
        self.basic(server, to=["ana@example.org"])
        self.once_proc(expect=1)
        self.assertEqual(server.messages(), [])
        rows = self.outbox_rows()
        self.assertEqual(rows[0]["state"], "pending", rows)
        self.assertIn("STARTTLS", rows[0]["last_error"])

    def test_no_server_is_retried(self):
        server = self.server()
        port = server.port
        server.close()
        self.configure(url=f"smtp://127.0.0.1:{port}", **{"from": "bot@example.org"},
                       to=["ana@example.org"])
        self.once_proc(expect=1)
        rows = self.outbox_rows()
        self.assertEqual(rows[0]["state"], "pending", rows)


if __name__ == "__main__":
    unittest.main()
