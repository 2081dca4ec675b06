"""Issue 13: no input stalls or kills the daemon, no fetched byte reaches a terminal raw,
no secret leaks at rest or across a redirect. The real binary, real files, a real HTTP
server on 127.0.0.1 and real signals; every wait is bounded."""
import json
import os
import signal
import subprocess
import time
import unittest

from digestd_harness import (DIGESTD, DigestdCase, StderrReader, WATCH_ALL, digest, entry,
                             sqlite_only)
from digest_server import DigestServer


def attribute_bomb_feed(attributes):
    """An RSS feed whose middle <item> carries `attributes` attributes (2.3 MB at 200k):
    quadratic inside Debian 12's libxml2 unless cut before it."""
    bomb = " ".join(f'a{i}="x"' for i in range(attributes))
    return ('<?xml version="1.0"?>\n<rss version="2.0"><channel><title>t</title>\n'
            '<item><title>good model one</title><link>https://example.org/1</link>'
            '<guid>g1</guid></item>\n'
            f'<item {bomb}><title>bomb model</title><link>https://example.org/2</link>'
            '<guid>g2</guid></item>\n'
            '<item><title>good model two</title><link>https://example.org/3</link>'
            '<guid>g3</guid></item>\n</channel></rss>\n')


class PathologicalFeed(DigestdCase):
    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.dir, "digests"), exist_ok=True)
        self.server = DigestServer(os.path.join(self.dir, "digests"))
        self.addCleanup(self.server.close)
        self.write("digests/bomb.xml", attribute_bomb_feed(200_000))

    def config(self):
        return self.write_config(WATCH_ALL, first_run="notify", extra_source=f"""
[[source]]
name = "bomb"
kind = "feed"
url = "{self.server.url('/bomb.xml')}"
first_run = "notify"
timeout = "10s"
""")

    def test_once_cuts_the_attribute_bomb_and_keeps_the_good_items(self):
        self.config()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        start = os.times()
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", today)
        end = os.times()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("<item> has 200000 attributes, over the limit of 256 per element",
                      proc.stderr)
        self.assertIn(":4: XML:", proc.stderr, "the warning names the URL and the line")
        titles = sorted(m["paper"]["title"] for m in self.matches_file())
        self.assertEqual(titles, ["A model", "bomb model", "good model one", "good model two"])
        # Not a timing assertion: a bound 40x above what it takes, and 10x below the 441 s
        # the uncut element cost.
        self.assertLess(end.children_user + end.children_system
                        - start.children_user - start.children_system, 40.0)

    def test_signals_are_answered_within_2_s_while_the_bomb_is_processed(self):
        self.config()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        proc = subprocess.Popen([DIGESTD, "run", "--config", os.path.join(self.dir, "digestd.toml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                cwd=self.dir)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        err = StderrReader(proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                r[0] == "/bomb.xml" for r in self.server.requests):
            time.sleep(0.01)
        self.assertTrue(any(r[0] == "/bomb.xml" for r in self.server.requests), err.text())

        sent = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(err.wait_for("SIGHUP: configuration reloaded", 2.0), err.text())
        self.assertLess(time.monotonic() - sent, 2.0)

        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=2.0), 0, err.text())
        self.assertLess(time.monotonic() - sent, 2.0)


class ConfigCannotCrash(DigestdCase):
    """Point 2: any config bytes give diagnostics; a running daemon survives SIGHUP with them."""

    def check(self, text):
        self.write("digestd.toml", text)
        return self.run_digestd("check", "--config", os.path.join(self.dir, "digestd.toml"))

    def test_hostile_configs_are_errors_not_crashes_or_hangs(self):
        cases = {
            "a" + ".a" * 40000 + " = 1\n": "a dotted key of more than 32 parts",
            "[daemon]\nstate = \"x\\u0000y.db\"\n": "a path must not hold a NUL",
            "include = [\"/**/*\"]\n": "include pattern",
            "include = [\"/dev/null\"]\n": "is a device, not a regular file",
        }
        if os.path.exists("/dev/console"):  # the hang; its error depends on access
            cases["include = [\"/dev/console\"]\n"] = "/dev/console"
        for text, error in cases.items():
            proc = self.check(text)
            self.assertEqual(proc.returncode, 78, proc.stderr[-2000:])
            self.assertIn(error, proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "x")), "no database named x")

    def test_a_fifo_config_is_refused_without_blocking(self):
        fifo = os.path.join(self.dir, "fifo.toml")
        os.mkfifo(fifo)
        proc = self.run_digestd("check", "--config", fifo)
        self.assertEqual(proc.returncode, 78)
        self.assertIn("is a FIFO, not a regular file", proc.stderr)

    def test_sighup_with_any_file_keeps_the_daemon_alive(self):
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        config = os.path.join(self.dir, "digestd.toml")
        with open(config, encoding="utf-8") as f:
            good = f.read()
        proc = subprocess.Popen([DIGESTD, "run", "--config", config], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, cwd=self.dir)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        err = StderrReader(proc)
        self.assertTrue(err.wait_for("(1 paper, 1 notification)", 20), err.text())
        hostile = ["a" + ".a" * 40000 + " = 1\n", "x = " + "[" * 100000 + "\n",
                   "include = [\"/dev/null\"]\n" + good, "\0\xff\x1b[2J"]
        for n, text in enumerate(hostile, start=1):
            with open(config, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(text)
            proc.send_signal(signal.SIGHUP)
            self.assertTrue(err.wait_for("keeping the running configuration", 5), err.text())
            self.assertIsNone(proc.poll(), f"daemon died on SIGHUP with hostile config {n}")
            err.lines.clear()
        os.remove(config)
        os.mkfifo(config)
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(err.wait_for("keeping the running configuration", 5), err.text())
        self.assertIsNone(proc.poll(), "daemon died (or hung) on SIGHUP with a FIFO config")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=5), 0)


HOSTILE = "Evil\x1b]0;owned\x07 \x1b[2J\u009b31m \u202egnp.exe\u2066 \u200b model"


class TerminalSafety(DigestdCase):
    """Point 3: a hostile title reaches no terminal or log raw; JSON keeps it exactly."""

    RAW = ["\x1b", "\x07", "\u009b", "\u202e", "\u2066", "\u200b"]
    # JSON escapes what moves a terminal (controls, bidi); the invisible rest stays raw there.
    JSON_RAW = RAW[:-1]

    def assertClean(self, text, where, raw=None):
        for ch in raw or self.RAW:
            self.assertNotIn(ch, text, f"{where} carries {ch!r}")

    def test_every_output_neutralises_a_hostile_title(self):
        os.makedirs(os.path.join(self.dir, "digests"), exist_ok=True)
        server = DigestServer(os.path.join(self.dir, "digests"))
        self.addCleanup(server.close)
        date = "2024-01-29"
        text = digest(date, entry("2401.00001", HOSTILE)) + f"### {HOSTILE}\n\n"
        self.write_digest(date, text)
        self.write_config(WATCH_ALL.replace('notify = ["log"]', 'notify = ["log", "screen"]'),
                          first_run="notify", url=server.url("/{date:%Y/%m/%d}.md"))
        cfg = os.path.join(self.dir, "digestd.toml")

        md = os.path.join(self.dir, "digests/2024/01/29.md")
        parsed = self.run_digestd("parse", "--format", "markdown", md, expect=0)
        self.assertClean(parsed.stdout + parsed.stderr, "parse")
        self.assertIn("Evil", parsed.stdout)
        as_json = self.run_digestd("parse", "--format", "markdown", md, "--json", expect=0)
        self.assertEqual(json.loads(as_json.stdout)["papers"][0]["title"], HOSTILE.replace("  ", " "),
                         "JSON keeps the title exactly")

        once = self.run_digestd("once", "--config", cfg, "--date", date, expect=0)
        self.assertClean(once.stdout + once.stderr, "once (console notifier and logs)")
        self.assertIn("Evil", once.stdout + once.stderr)
        self.assertIn("title line does not start with", once.stderr,
                      "the parser's warning quoting the bytes is logged")
        self.assertEqual(self.matches_file()[0]["paper"]["title"], HOSTILE.replace("  ", " "),
                         "the file notifier's JSON keeps it exactly")
        with open(os.path.join(self.dir, "matches.jsonl"), encoding="utf-8") as f:
            self.assertClean(f.read(), "the file notifier's JSON (escaped, safe to cat)",
                             self.JSON_RAW)
        self.assertClean(as_json.stdout, "parse --json (escaped, safe to print)", self.JSON_RAW)

        explain = self.run_digestd("explain", "--config", cfg, "--date", date, expect=0)
        self.assertClean(explain.stdout + explain.stderr, "explain")
        self.assertIn("Evil", explain.stdout)

        listed = self.run_digestd("outbox", "list", "--config", cfg, expect=0)
        self.assertClean(listed.stdout + listed.stderr, "outbox list")
        self.assertIn("Evil", listed.stdout)
        row = listed.stdout.split()[0]
        shown = self.run_digestd("outbox", "show", row, "--config", cfg, expect=0)
        self.assertClean(shown.stdout + shown.stderr, "outbox show", self.JSON_RAW)
        self.assertIn("Evil", shown.stdout)

        # A server's Content-Type, quoted in the error of an unreadable body: logs and status.
        server.content_type = HOSTILE.encode("utf-8").decode("latin-1")  # the raw bytes
        self.write_digest("2024-01-30", "<html>not a digest</html>\n")
        failed = self.run_digestd("once", "--config", cfg, "--date", "2024-01-30", expect=1)
        self.assertIn("Content-Type", failed.stderr)
        self.assertClean(failed.stderr, "once's error log")
        status = self.run_digestd("status", "--config", cfg)
        self.assertIn("Content-Type", status.stdout)
        self.assertClean(status.stdout + status.stderr, "status")
        status_json = self.run_digestd("status", "--config", cfg, "--json")
        self.assertIn(HOSTILE.replace("  ", " ")[:8], json.loads(status_json.stdout)
                      ["sources"][0]["last_error"], "status --json stays exact")


class Secrets(DigestdCase):
    """Point 4: files at rest, secrets in strings and files, warnings on loose modes."""

    @sqlite_only("checks the modes of the state file")
    def test_state_and_file_notifier_output_are_created_0600(self):
        date = "2024-01-29"
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(date, digest(date, entry("2401.00001", "A model")))
        os.umask(0o022)
        self.once(date)
        for name in ("state.db", "matches.jsonl"):
            mode = os.stat(os.path.join(self.dir, name)).st_mode & 0o777
            self.assertEqual(mode, 0o600, f"{name} is {oct(mode)}")

        # Under the systemd unit (it sets STATE_DIRECTORY) its group may read them: 0640.
        for name in ("state.db", "state.db-wal", "state.db-shm", "matches.jsonl"):
            if os.path.exists(os.path.join(self.dir, name)):
                os.remove(os.path.join(self.dir, name))
        env = dict(os.environ, STATE_DIRECTORY=self.dir)
        proc = subprocess.run([DIGESTD, "once", "--config", os.path.join(self.dir, "digestd.toml"),
                               "--date", "2024-01-30"], capture_output=True, text=True,
                              timeout=60, cwd=self.dir, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(os.stat(os.path.join(self.dir, "state.db")).st_mode & 0o777, 0o640)

    def test_env_inside_strings_and_header_file_values_are_sent(self):
        os.makedirs(os.path.join(self.dir, "digests"), exist_ok=True)
        server = DigestServer(os.path.join(self.dir, "digests"))
        self.addCleanup(server.close)
        date = "2024-01-29"
        self.write_digest(date, digest(date, entry("2401.00001", "A model")))
        self.write("key.txt", "file-secret\n")
        os.chmod(os.path.join(self.dir, "key.txt"), 0o600)
        extra = 'headers = { Authorization = "Bearer ${DIGESTD_BB_TOKEN}", X-Price = "$$5 $x", X-Api-Key_file = "key.txt" }\n'
        self.write_config(WATCH_ALL, url=server.url("/{date:%Y/%m/%d}.md"))
        config = os.path.join(self.dir, "digestd.toml")
        with open(config, encoding="utf-8") as f:
            text = f.read().replace('first_run = "baseline"\n', 'first_run = "baseline"\n' + extra, 1)
        self.write("digestd.toml", text)
        os.chmod(config, 0o600)
        env = dict(os.environ, DIGESTD_BB_TOKEN="tok123")
        proc = subprocess.run([DIGESTD, "once", "--config", config, "--date", date],
                              capture_output=True, text=True, timeout=60, cwd=self.dir, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        sent = server.headers_seen[-1]
        self.assertEqual(sent.get("authorization"), "Bearer tok123")
        self.assertEqual(sent.get("x-price"), "$5 $x")
        self.assertEqual(sent.get("x-api-key"), "file-secret")
        self.assertNotIn("x-api-key_file", sent)
        self.assertNotIn("tok123", proc.stderr)
        self.assertNotIn("file-secret", proc.stderr)

    def test_loose_modes_on_secrets_are_warned(self):
        self.write_config(WATCH_ALL, notifiers='\n[[notifier]]\nname = "log"\nkind = "file"\n'
                          'path = "matches.jsonl"\n\n[[notifier]]\nname = "hook"\nkind = "slack"\n'
                          'url = "https://hooks.slack.com/services/T/B/sekrit"\n')
        config = os.path.join(self.dir, "digestd.toml")
        os.chmod(config, 0o644)
        proc = self.run_digestd("check", "--config", config, expect=0)
        self.assertIn("holds secrets as written and is readable by others (mode 0644)", proc.stderr)
        self.assertNotIn("sekrit", proc.stderr)
        os.chmod(config, 0o600)
        proc = self.run_digestd("check", "--config", config, expect=0)
        self.assertNotIn("by others", proc.stderr)
        os.chmod(config, 0o602)
        proc = self.run_digestd("check", "--config", config, expect=0)
        self.assertIn("this file is writable by others (mode 0602)", proc.stderr)

        self.write("slack-url", "https://hooks.slack.com/services/T/B/sekrit\n")
        os.chmod(os.path.join(self.dir, "slack-url"), 0o666)
        with open(config, encoding="utf-8") as f:
            text = f.read().replace('url = "https://hooks.slack.com/services/T/B/sekrit"',
                                    'url_file = "slack-url"')
        self.write("digestd.toml", text)
        os.chmod(config, 0o600)
        proc = self.run_digestd("check", "--config", config, expect=0)
        self.assertIn("is readable and writable by others (mode 0666)", proc.stderr)
        self.assertNotIn("sekrit", proc.stderr)

    def test_a_secret_source_url_is_not_stored_logged_or_linked(self):
        # The token is a path segment, which no query redaction could know: the URL comes
        # from url_file, so digestd shows it by its host only and stores only its hash.
        server = DigestServer(os.path.join(self.dir, "digests"))
        self.addCleanup(server.close)
        date = "2024-01-29"
        entries = [entry(f"2401.{i:05d}", f"A model {i}") for i in range(1, 4)]
        self.write(f"digests/tok-PATH-SECRET/{date.replace('-', '/')}.md",
                   digest(date, *entries))
        self.write("source-url", server.url("/tok-PATH-SECRET/{date:%Y/%m/%d}.md") + "\n")
        os.chmod(os.path.join(self.dir, "source-url"), 0o600)
        self.write_config(WATCH_ALL, first_run="notify", url="unused")
        config = os.path.join(self.dir, "digestd.toml")
        with open(config, encoding="utf-8") as f:
            text = f.read().replace('url = "unused"', 'url_file = "source-url"')
        text = text.replace('timezone = "UTC"\n', 'timezone = "UTC"\nlog_level = "debug"\n', 1)
        self.write("digestd.toml", text)
        os.chmod(config, 0o600)
        logs = self.run_digestd("once", "--config", config, "--date", date, expect=0).stderr
        self.assertEqual(len(self.matches_file()), 3, logs)
        logs += self.run_digestd("once", "--config", config, "--date", date, expect=0).stderr
        # The second run asked with the first one's ETag: the state still knows the URL.
        self.assertEqual([r[2] for r in server.requests], [200, 304])
        server.fail_with = 500
        logs += self.run_digestd("once", "--config", config, "--date", date, expect=1).stderr
        logs += self.run_digestd("status", "--config", config).stdout
        self.assertIn(f"http://127.0.0.1:{server.port}/…", logs)
        for name in ("state.db", "state.db-wal", "matches.jsonl"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    self.assertNotIn(b"tok-PATH-SECRET", f.read(), name)
        self.assertNotIn("tok-PATH-SECRET", logs)


if __name__ == "__main__":
    unittest.main()
