"""Issue 13 point 7, the adversarial suite: the hostile inputs of tests/data/hostile/ (header
injection in titles, NUL bytes, invalid UTF-8, mentions and markup, terminal controls, an
hf-daily lone surrogate, broken entries) and big ones generated here (gigantic lines, 100,000
entries) go through `digestd parse`, `digestd once` and every notifier's renderer
(`digestd preview`). Each gives no crash, a clear error or a safe output, and the good entries
around a bad one are kept. Sources are file:// URLs; notifier targets are 127.0.0.1 and never
contacted (preview sends nothing). Every run is bounded in time."""
import base64
import json
import os
import quopri
import re
import shutil
import subprocess
import time
import unittest

from digestd_harness import DIGESTD, DigestdCase, notifier, toml_value, watch

DATA = os.environ.get("DIGESTD_TEST_DATA") or os.path.join(os.path.dirname(__file__), "..", "data")
HOSTILE = os.path.join(DATA, "hostile")
DAY = "2024-01-29"
BIG_TIMEOUT = 240  # seconds for one run on a generated giant (ASan builds are slow)

# What must never reach a terminal: ESC, BEL, NUL, CSI (C1), the RTL override and isolates.
RAW_CONTROLS = ["\x1b", "\x07", "\x00", "\u009b", "\u202e", "\u2066"]
# JSON output stays exact: C1 and bidi characters are data there, but C0 controls are escaped.
RAW_C0 = ["\x1b", "\x07", "\x00", "\r"]
ALL_KINDS = ["console", "file", "webhook", "exec", "email", "slack", "discord", "teams",
             "telegram", "matrix", "mattermost", "googlechat", "ntfy"]
JSON_BODIES = {"webhook", "slack", "discord", "teams", "telegram", "matrix", "mattermost",
               "googlechat", "ntfy"}


def run(args, cwd, timeout=60):
    """digestd ARGS, bytes in and out (hostile output must not be decoded leniently)."""
    return subprocess.run([DIGESTD, *args], capture_output=True, timeout=timeout, cwd=cwd)


def hostile_notifier(kind):
    """A notifier of `kind` named `kind`, aimed at 127.0.0.1:9 (discard; never contacted)."""
    base = "http://127.0.0.1:9"
    keys = {
        "console": {},
        "file": {"path": "preview.jsonl"},
        "webhook": {"url": base + "/hook"},
        "exec": {"command": ["/bin/cat"]},
        "email": {"url": "smtp://127.0.0.1:9", "from": "digestd <digestd@example.org>",
                  "to": ["Reader <reader@example.org>"]},
        "slack": {"url": base + "/services/T0/B0/S"},
        "discord": {"url": base + "/api/webhooks/1/S"},
        "teams": {"url": base + "/workflows/1?sig=S"},
        "telegram": {"token": "1:S", "chat_id": -1001, "api_url": base},
        "matrix": {"homeserver": base, "room_id": "!room:example.org", "access_token": "S"},
        "mattermost": {"url": base + "/hooks/S"},
        "googlechat": {"url": base + "/v1/spaces/A/messages"},
        "ntfy": {"url": base + "/topic"},
    }[kind]
    return notifier(kind, kind, **keys)


class HostileCase(DigestdCase):
    def assert_no_crash(self, proc, what):
        self.assertGreaterEqual(proc.returncode, 0, f"{what}: killed by signal {-proc.returncode}")
        self.assertNotIn(proc.returncode, (134, 139), f"{what}: crashed")
        for stream in (proc.stdout, proc.stderr):
            self.assertNotIn(b"AddressSanitizer", stream, what)
            self.assertNotIn(b"runtime error:", stream, what)

    def assert_terminal_safe(self, data, what, controls=RAW_CONTROLS):
        text = data.decode("utf-8", errors="strict")  # valid UTF-8, or this raises
        for raw in controls:
            self.assertNotIn(raw, text, f"{what} carries {raw!r}")

    def parse(self, fmt, path, *extra, timeout=60):
        proc = run(["parse", "--format", fmt, path, *extra], self.dir, timeout)
        self.assert_no_crash(proc, f"parse {fmt} {os.path.basename(path)}")
        return proc

    def parse_json(self, fmt, path, timeout=60):
        proc = self.parse(fmt, path, "--json", timeout=timeout)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        self.assert_terminal_safe(proc.stdout, "parse --json", RAW_C0)
        return json.loads(proc.stdout), proc


class ParseHostileFixtures(HostileCase):
    CASES = [("markdown", "markdown.md"), ("hf-daily", "hf_daily.json"), ("feed", "feed.xml")]

    def test_good_entries_around_bad_ones_are_kept_and_output_is_safe(self):
        for fmt, name in self.CASES:
            with self.subTest(fixture=name):
                path = os.path.join(HOSTILE, name)
                digest, proc = self.parse_json(fmt, path)
                titles = [p["title"] for p in digest["papers"]]
                self.assertTrue(any("GOOD FIRST" in t for t in titles), titles)
                self.assertTrue(any("GOOD LAST" in t for t in titles), titles)
                self.assertGreaterEqual(len(titles), 4, titles)
                for t in titles:
                    # A title is one line: an injected CR LF cannot start a header anywhere.
                    self.assertNotRegex(t, r"[\r\n]", t)
                self.assert_terminal_safe(proc.stderr, "parse warnings")
                text = self.parse(fmt, path)
                self.assertEqual(text.returncode, 0, text.stderr)
                self.assert_terminal_safe(text.stdout, "parse (text)")
                self.assert_terminal_safe(text.stderr, "parse (text) warnings")

    def test_broken_entries_are_named_in_warnings(self):
        proc = self.parse("markdown", os.path.join(HOSTILE, "markdown.md"), "--json")
        self.assertRegex(proc.stderr.decode(), r"markdown\.md:\d+: warning: ")
        proc = self.parse("feed", os.path.join(HOSTILE, "feed.xml"), "--json")
        self.assertRegex(proc.stderr.decode(), r"feed\.xml:\d+: warning: ")

    def test_an_hf_daily_lone_surrogate_spoils_one_character_at_most(self):
        digest, _ = self.parse_json("hf-daily", os.path.join(HOSTILE, "hf_daily_lone_surrogate.json"))
        titles = [p["title"] for p in digest["papers"]]
        self.assertTrue(any("GOOD FIRST" in t for t in titles), titles)
        self.assertTrue(any("GOOD LAST" in t for t in titles), titles)
        self.assertTrue(any(t.startswith("Lone") and "surrogate title" in t for t in titles), titles)


class ParseGeneratedGiants(HostileCase):
    """Big inputs made at test time rather than committed."""

    def write_bytes(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    @staticmethod
    def md_entry(i, title=None):
        title = title or f"Entry {i} about sparse models"
        return (f"### [{title}](https://arxiv.org/abs/2402.{i:05d})\n\nVote: {i % 50}\n\n"
                f"Authors: Ada Lovelace\n\n- bullet {i}\n\n").encode()

    def timed_parse_json(self, fmt, path):
        started = time.monotonic()
        digest, proc = self.parse_json(fmt, path, timeout=BIG_TIMEOUT)
        return digest, proc, time.monotonic() - started

    def test_a_gigantic_line_inside_an_entry_skips_that_entry_only(self):
        giant = b"x" * (16 * 1024 * 1024)
        data = (b"## Daily Papers (2024-01-29)\n\n" + self.md_entry(1, "GOOD FIRST") +
                b"### [Giant](https://arxiv.org/abs/2402.00002)\n\n- " + giant + b"\n\n" +
                self.md_entry(3, "GOOD LAST"))
        digest, proc, _ = self.timed_parse_json("markdown", self.write_bytes("giant.md", data))
        titles = [p["title"] for p in digest["papers"]]
        self.assertEqual(titles[0], "GOOD FIRST")
        self.assertEqual(titles[-1], "GOOD LAST")
        self.assertNotIn("Giant", titles)
        self.assertIn(b"warning", proc.stderr)

    def test_one_line_without_a_newline_of_any_format(self):
        blob = bytes(range(256)) * (16 * 1024)  # 4 MiB, NULs and invalid UTF-8, no structure
        path = self.write_bytes("blob.bin", blob.replace(b"\n", b" "))
        for fmt in ("markdown", "hf-daily", "feed", "arxiv"):
            with self.subTest(fmt=fmt):
                proc = self.parse(fmt, path, "--json", timeout=BIG_TIMEOUT)
                self.assertIn(proc.returncode, (0, 1), proc.stderr[-2000:])
                if proc.returncode == 0:
                    self.assertEqual(json.loads(proc.stdout)["papers"], [])
                self.assert_terminal_safe(proc.stderr, f"{fmt} warnings")

    def test_a_gigantic_feed_title_and_a_gigantic_json_string(self):
        giant = "y" * (12 * 1024 * 1024)
        feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                '<item><title>GOOD FIRST</title><link>https://h.example/1</link></item>'
                f'<item><title>{giant}</title><link>https://h.example/2</link></item>'
                '</channel></rss>').encode()
        proc = self.parse("feed", self.write_bytes("giant.xml", feed), "--json", timeout=BIG_TIMEOUT)
        self.assertIn(proc.returncode, (0, 1), proc.stderr[-2000:])
        if proc.returncode == 0:
            titles = [p["title"] for p in json.loads(proc.stdout)["papers"]]
            self.assertIn("GOOD FIRST", titles)
        items = [{"paper": {"id": "2402.00001", "title": "GOOD FIRST"}},
                 {"paper": {"id": "2402.00002", "title": giant}},
                 {"paper": {"id": "2402.00003", "title": "GOOD LAST"}}]
        path = self.write_bytes("giant.json", json.dumps(items).encode())
        digest, _, _ = self.timed_parse_json("hf-daily", path)
        titles = [p["title"] for p in digest["papers"]]
        self.assertEqual(titles[0], "GOOD FIRST")
        self.assertEqual(titles[-1], "GOOD LAST")

    def assert_many(self, digest, proc, count):
        """All `count` entries, or a clear warning naming a limit with the first ones kept."""
        papers = digest["papers"]
        if len(papers) != count:
            self.assertRegex(proc.stderr.decode(), r"(?i)limit|too many|at most")
            self.assertGreater(len(papers), 0)

    def test_100000_entries_in_each_format(self):
        count = 100_000
        md = b"## Daily Papers (2024-01-29)\n\n" + b"".join(self.md_entry(i) for i in range(count))
        hf = json.dumps([{"paper": {"id": f"2402.{i:05d}", "title": f"Entry {i}",
                                    "upvotes": i % 50}} for i in range(count)]).encode()
        feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>' +
                "".join(f"<item><title>Entry {i}</title><link>https://h.example/{i}</link></item>"
                        for i in range(count)) + "</channel></rss>").encode()
        for fmt, name, data in (("markdown", "many.md", md), ("hf-daily", "many.json", hf),
                                ("feed", "many.xml", feed)):
            with self.subTest(fmt=fmt):
                digest, proc, seconds = self.timed_parse_json(fmt, self.write_bytes(name, data))
                self.assert_many(digest, proc, count)
                print(f"{fmt}: {count} entries parsed in {seconds:.1f} s")


class OnceAndEveryRenderer(HostileCase):
    """The hostile fixtures as three sources of one config: `once` keeps the good entries and
    delivers safe output; then every notifier kind renders the stored day (`preview`)."""

    def setUp(self):
        super().setUp()
        os.makedirs(os.path.join(self.dir, "digests/2024/01"))
        shutil.copy(os.path.join(HOSTILE, "markdown.md"), os.path.join(self.dir, "digests/2024/01/29.md"))
        shutil.copy(os.path.join(HOSTILE, "hf_daily.json"), os.path.join(self.dir, "hf.json"))
        shutil.copy(os.path.join(HOSTILE, "feed.xml"), os.path.join(self.dir, "feed.xml"))
        self.sources = [("md", "markdown", "digests/{date:%Y/%m/%d}.md"),
                        ("hf", "hf-daily", "hf.json"), ("feed", "feed", "feed.xml")]

    def config(self, notifiers, watches, first_run="notify", sources=None):
        text = f'[daemon]\nstate = {toml_value(self.state_location())}\ntimezone = "UTC"\n' + "".join(
            f'\n[[source]]\nname = "{name}"\nkind = "{kind}"\nurl = "file://{self.dir}/{path}"\n'
            f'first_run = "{first_run}"\n'
            for name, kind, path in (sources or self.sources))
        return self.write("digestd.toml", text + notifiers + watches)

    def test_once_keeps_good_entries_and_every_renderer_is_safe(self):
        config = self.config(hostile_notifier("file") + hostile_notifier("console"),
                             watch("everything", ["file", "console"]))
        proc = run(["once", "--config", config, "--date", DAY, "--json"], self.dir, 120)
        self.assert_no_crash(proc, "once")
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        self.assert_terminal_safe(proc.stderr, "once (log)")
        lines = [json.loads(l) for l in proc.stdout.decode().splitlines() if l.strip()]
        titles = [(l.get("paper") or {}).get("title", "") for l in lines]
        for source in ("md", "hf", "feed"):
            seen = [l["paper"]["title"] for l in lines
                    if l.get("paper") and l["paper"].get("source") == source]
            self.assertTrue(any("GOOD FIRST" in t for t in seen), (source, seen))
            self.assertTrue(any("GOOD LAST" in t for t in seen), (source, seen))
        self.assertTrue(all("\r" not in t and "\n" not in t for t in titles), titles)
        with open(os.path.join(self.dir, "preview.jsonl"), "rb") as f:
            records = [json.loads(l) for l in f.read().decode().splitlines() if l.strip()]
        self.assertGreaterEqual(len(records), 10)

        # The same state, every notifier kind: what each would send for the hostile day.
        config = self.config("".join(hostile_notifier(k) for k in ALL_KINDS),
                             watch("everything", ALL_KINDS))
        for kind in ALL_KINDS:
            with self.subTest(kind=kind):
                # --raw: an email as sent (its MIME), which email_parts decodes on its own.
                proc = run(["preview", kind, "--config", config, "--date", DAY, "--raw"],
                           self.dir, 60)
                self.assert_no_crash(proc, f"preview {kind}")
                self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
                # The body of a JSON kind is exact; preview shows it on a terminal, made safe.
                self.assert_terminal_safe(proc.stdout, f"preview {kind}")
                out = proc.stdout.decode()
                if kind == "email":
                    self.assert_no_injected_header(out)
                    out = self.email_parts(out)
                self.assertIn("GOOD FIRST", out)
                self.assertIn("GOOD LAST", out)
                self.assertIn("nothing was sent", proc.stderr.decode())
                if kind in JSON_BODIES:
                    self.assert_json_bodies(kind, out)

    def test_100000_entries_and_a_gigantic_line_through_once_and_every_renderer(self):
        def entry(i, title=None):
            return (f"### [{title or f'Entry {i}'}](https://arxiv.org/abs/2402.{i:05d})\n\n"
                    f"Vote: {i % 50}\n\n- b {i}\n\n")
        # Under `once`'s 20 MB body cap: 100,000 small entries and one 4 MiB line.
        text = ("## Daily Papers (2024-01-29)\n\n" + entry(0, "GOOD FIRST") +
                "### [Giant](https://arxiv.org/abs/2402.99999)\n\n- " + "x" * (4 << 20) + "\n\n" +
                "".join(entry(i) for i in range(1, 99_999)) + entry(99_999, "GOOD LAST"))
        self.write("digests/2024/01/29.md", text)
        # A baseline run stores the day and notifies nobody; preview renders what it stored.
        config = self.config("".join(hostile_notifier(k) for k in ALL_KINDS),
                             watch("everything", ALL_KINDS), first_run="baseline",
                             sources=self.sources[:1])
        proc = run(["once", "--config", config, "--date", DAY], self.dir, BIG_TIMEOUT)
        self.assert_no_crash(proc, "once")
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        # A digest keeps at most 20,000 papers (a parse limit), and says what it dropped.
        self.assertIn(b"100000 entries, over the limit of 20000 per digest", proc.stderr)
        self.assertIn(b"20000 papers", proc.stderr)
        for kind in ALL_KINDS:
            with self.subTest(kind=kind):
                proc = run(["preview", kind, "--config", config, "--date", DAY], self.dir,
                           BIG_TIMEOUT)
                self.assert_no_crash(proc, f"preview {kind}")
                self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
                self.assertIn(b"20000 papers", proc.stderr)
                self.assert_terminal_safe(proc.stdout, f"preview {kind}")
                self.assertNotIn(b"xxxxxxxxxxxxxxxx", proc.stdout)

    def assert_json_bodies(self, kind, out):
        """Each part's body (the line after the blank line that ends its headers) is JSON."""
        bodies = re.findall(r"^part [^\n]*\n(?:[^\n]+\n)*\n(\{[^\n]*\})$", out, re.M)
        self.assertTrue(bodies, out[:2000])
        for body in bodies:
            json.loads(body)

    def email_parts(self, out):
        """The text and HTML parts of a previewed email, decoded (valid UTF-8): each is base64
        or quoted-printable, whichever was shorter."""
        # On a terminal a CR shows as a space: a line ends " \n" (quoted-printable decoders
        # drop white space at a line's end, as transports may add it).
        blocks = re.findall(r"Content-Transfer-Encoding: (base64|quoted-printable)\s*\n\s*\n"
                            r"(.*?)\s*\n--=_digestd_", out, re.S)
        self.assertEqual(len(blocks), 2, out[:2000])
        parts = [(base64.b64decode("".join(body.split())) if encoding == "base64"
                  else quopri.decodestring(body.encode())).decode("utf-8")
                 for encoding, body in blocks]
        for part in parts:
            for raw in RAW_CONTROLS:
                self.assertNotIn(raw, part, f"email part carries {raw!r}")
        return "\n".join(parts)

    def assert_no_injected_header(self, out):
        headers = out.split("\r\n\r\n", 1)[0] if "\r\n\r\n" in out else out
        for line in re.split(r"\r?\n", headers):
            self.assertFalse(re.match(r"(?i)(bcc|x-injected):", line), line)


if __name__ == "__main__":
    unittest.main()
