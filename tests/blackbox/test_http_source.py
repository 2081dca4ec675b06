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

    def spool_config(self, kind, path):
        """A source of `kind` at `path` on the server, logging at debug level, one watch."""
        self.write("digestd.toml", f"""
[daemon]
state = "state.db"
timezone = "UTC"
log_level = "debug"

[[source]]
name = "long"
kind = "{kind}"
url = "{self.server.url(path)}"
first_run = "notify"

[[notifier]]
name = "log"
kind = "file"
path = "matches.jsonl"

[[watch]]
name = "all"
query = "*"
notify = ["log"]
""")

    def assert_long_body_spooled(self, count):
        """Runs once (every paper new), then again on the same body without an ETag: the
        hash of the spooled body knows it. No spool file is left in the state's folder."""
        before = sorted(os.listdir(self.dir))
        self.assertEqual(len(self.once("2024-01-29")), count)
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(before + ["matches.jsonl",
                                                                        "state.db"]))
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", "2024-01-29", "--json", expect=0)
        self.assertEqual(proc.stdout.strip(), "")
        self.assertIn("spooled", proc.stderr)
        self.assertIn("unchanged", proc.stderr)
        self.assertEqual([r[2] for r in self.server.requests], [200, 200])

    def test_a_long_feed_is_parsed_from_its_spool_file_a_piece_at_a_time(self):
        # Over 1 MiB a body waits for its parse in an unnamed file beside the state, and the
        # feed parser reads it a piece at a time (papers and hash as from memory).
        self.server.etags = False
        self.server.content_type = "application/rss+xml"
        count = 2500
        summary = "A long summary of the paper, repeated to make the feed long. " * 10
        items = "".join(
            f"<item><title>Paper {i} &amp; friends</title><link>https://h.example/p/{i}</link>"
            f"<guid>https://h.example/p/{i}</guid><description>&lt;p&gt;{summary}{i}&lt;/p&gt;"
            f"</description></item>\n" for i in range(count))
        feed = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                f"<title>Long</title><link>https://h.example/</link>{items}</channel></rss>\n")
        self.assertGreater(len(feed.encode()), 1 << 20)
        self.write("digests/feed.xml", feed)
        self.spool_config("feed", "/feed.xml")
        self.assert_long_body_spooled(count)
        papers = self.matches_file()
        self.assertEqual(papers[0]["paper"]["title"], "Paper 0 & friends")
        self.assertTrue(papers[-1]["paper"]["summary"][0].endswith(" 2499"))

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
