"""A markdown source over real HTTP on 127.0.0.1: conditional GET, 404 as "not published
yet", lookback and backfill dates, server errors, and the User-Agent."""
import json
import os
import subprocess
import unittest

from digestd_harness import DigestdCase, WATCH_ALL, digest, entry
from digest_server import DigestServer


class HttpSource(DigestdCase):
    def setUp(self):
        super().setUp()
        self.server = DigestServer(os.path.join(self.dir, "digests"))
        os.makedirs(os.path.join(self.dir, "digests"), exist_ok=True)
        self.addCleanup(self.server.close)

    def configure(self, **kwargs):
        self.write_config(WATCH_ALL, url=self.server.url("/{date:%Y/%m/%d}.md"), **kwargs)

    def test_conditional_get_and_not_published_yet(self):
        self.configure(first_run="notify")
        d = "2024-01-29"
        self.write_digest(d, digest(d, entry("2401.00001", "A model")))
        self.assertEqual(len(self.once(d)), 1)
        self.assertEqual(self.server.requests[-1][2], 200)
        self.assertEqual(self.once(d), [])
        path, inm, status, ua = self.server.requests[-1]
        self.assertEqual(path, "/2024/01/29.md")
        self.assertTrue(inm, "the second fetch must send If-None-Match")
        self.assertEqual(status, 304)
        self.assertTrue(ua.startswith("digestd/"), ua)
        # A date with no digest yet is a 404: not an error, exit 0.
        self.assertEqual(self.once("2024-01-30"), [])
        self.assertEqual(self.server.requests[-1][2], 404)

    def test_lookback_and_backfill_dates(self):
        self.configure(lookback_days=2)
        self.once("2024-01-29")
        self.assertEqual(sorted(self.server.paths()),
                         ["/2024/01/27.md", "/2024/01/28.md", "/2024/01/29.md"])
        # After five days away, the missed dates are fetched (backfill_days defaults to 7).
        self.write_digest("2024-01-29", digest("2024-01-29", entry("2401.00001", "A model")))
        self.once("2024-01-29")
        self.server.requests.clear()
        self.once("2024-02-03")
        self.assertEqual(sorted(self.server.paths()),
                         [f"/2024/0{m}/{d:02d}.md" for m, d in
                          [(1, 30), (1, 31), (2, 1), (2, 2), (2, 3)]])

    def test_server_error_fails_the_source(self):
        self.configure()
        self.server.fail_with = 500
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", "2024-01-29", expect=1)
        self.assertIn("HTTP status 500", proc.stderr)
        self.assertIn("hf-ko", proc.stderr)

    def test_too_many_requests_honours_retry_after(self):
        self.configure()
        self.server.fail_with = 429
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", "2024-01-29", expect=1)
        self.assertIn("HTTP status 429", proc.stderr)
        status = json.loads(self.run_digestd("status", "--config",
                                             os.path.join(self.dir, "digestd.toml"), "--json",
                                             expect=0).stdout)
        retry_at = status["sources"][0]["retry_at"]
        self.assertIsNotNone(retry_at)
        # The server asked for an hour; our own first backoff would be about a minute.
        import datetime
        when = datetime.datetime.strptime(retry_at, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        self.assertGreater((when - datetime.datetime.now(datetime.timezone.utc)).total_seconds(), 3000)

    def test_an_html_error_page_is_a_failure_not_an_empty_day(self):
        self.configure(first_run="notify")
        self.write_digest("2024-01-29", "<html><body><h1>Rate limited</h1></body></html>\n")
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", "2024-01-29", expect=1)
        self.assertIn("not a readable markdown digest", proc.stderr)
        # The real digest later is still new: the broken fetch recorded nothing as seen.
        self.write_digest("2024-01-29", digest("2024-01-29", entry("2401.00001", "A model")))
        self.assertEqual(len(self.once("2024-01-29")), 1)


class HttpsSource(DigestdCase):
    """TLS is verified; turning verification off is explicit and warned about every run."""

    def setUp(self):
        super().setUp()
        key, cert = os.path.join(self.dir, "key.pem"), os.path.join(self.dir, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True,
                       timeout=60)
        os.makedirs(os.path.join(self.dir, "digests"), exist_ok=True)
        self.server = DigestServer(os.path.join(self.dir, "digests"), tls_cert=(cert, key))
        self.addCleanup(self.server.close)
        self.write_digest("2024-01-29", digest("2024-01-29", entry("2401.00001", "A model")))

    def config(self, extra=""):
        self.write_config(WATCH_ALL, url=self.server.url("/{date:%Y/%m/%d}.md"), first_run="notify")
        text = open(os.path.join(self.dir, "digestd.toml"), encoding="utf-8").read()
        self.write("digestd.toml", text.replace('first_run = "notify"\n',
                                                'first_run = "notify"\n' + extra, 1))

    def test_self_signed_certificate_is_refused(self):
        self.config()
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", "2024-01-29", expect=1)
        self.assertRegex(proc.stderr.lower(), r"certificate|ssl|tls")

    def test_tls_verify_false_works_with_a_warning_every_run(self):
        self.config('tls_verify = false\n')
        check = self.run_digestd("check", "--config", os.path.join(self.dir, "digestd.toml"),
                                 expect=0)
        self.assertIn("not verified", check.stderr)
        for expected in (1, 0):
            proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                    "--date", "2024-01-29", "--json", expect=0)
            self.assertIn("TLS verification is off", proc.stderr)
            self.assertEqual(len([l for l in proc.stdout.splitlines() if l.strip()]), expected)


if __name__ == "__main__":
    unittest.main()
