"""Chat targets end to end on the real binary (issue 9): each platform's stand-in on
127.0.0.1 records what digestd sends; an independent validator checks every request against
the platform's documented shape and limits; the hostile day (mentions, <script>, markdown and
HTML metacharacters, RTL overrides, a 20,000-character summary, a 2,000-character title, 200
authors, 300 papers) reaches every platform whole and defused; each platform's 429 form is
honoured; test-notify works for every target; secrets never show."""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

from chat_sink import ChatSink
from chat_validator import validate
from digestd_harness import DIGESTD, DeliveryCaseMixin, DigestdCase, notifier, watch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("DIGESTD_TEST_DATA") or os.path.join(HERE, "..", "data")
KINDS = ["slack", "discord", "teams", "telegram", "matrix", "mattermost", "googlechat", "ntfy"]
SECRET = "S3CRET"
DAY = "2024-01-29"
PAPER_ID = re.compile(r"arxiv\.org/abs/(2401\.\d{5})")


def chat_notifier(kind, sink, **keys):
    """A notifier of `kind` aimed at `sink`, its secret being SECRET wherever it has one."""
    name = "to-" + kind
    if kind == "slack":
        return notifier(name, kind, url=f"{sink.base}/services/T0/B0/{SECRET}", **keys)
    if kind == "discord":
        return notifier(name, kind, url=f"{sink.base}/api/webhooks/1/{SECRET}", **keys)
    if kind == "teams":
        return notifier(name, kind, url=f"{sink.base}/workflows/1/triggers/manual?sig={SECRET}",
                        **keys)
    if kind == "telegram":
        return notifier(name, kind, token=f"123456:{SECRET}", chat_id=-1001, api_url=sink.base,
                        **keys)
    if kind == "matrix":
        return notifier(name, kind, homeserver=sink.base, room_id="!room:sink.test",
                        access_token=SECRET, **keys)
    if kind == "mattermost":
        return notifier(name, kind, url=f"{sink.base}/hooks/{SECRET}", **keys)
    if kind == "googlechat":
        return notifier(name, kind, url=f"{sink.base}/v1/spaces/AAA/messages?key=k&token={SECRET}",
                        **keys)
    return notifier(name, kind, url=f"{sink.base}/{SECRET}-topic", token=f"tk_{SECRET}", **keys)


def hostile_digest(count=300):
    with open(os.path.join(DATA, "chat", "hostile_entry.md"), encoding="utf-8") as f:
        template = f.read()
    with open(os.path.join(DATA, "chat", "hostile_text.txt"), encoding="utf-8") as f:
        hostile = " ".join(f.read().split("\n")).strip()
    summary = ""
    while len(summary) < 20000:
        summary += hostile + " 요약 문장. "
    long_title = ""
    while len(long_title) < 2000:
        long_title += hostile + " "
    authors = ", ".join(f"Author {a} @here" for a in range(200))
    entries = []
    for i in range(count):
        entries.append(template.replace("{TITLE}", long_title if i % 2 == 0 else hostile)
                       .replace("{ID}", f"2401.{10000 + i:05d}")
                       .replace("{VOTES}", str(i))
                       .replace("{AUTHORS}", authors)
                       .replace("{SUMMARY}", summary))
    return f"## Daily Papers ({DAY})\n\n" + "".join(entries)


def realistic_digest(count=300):
    entries = []
    for i in range(count):
        pid = f"2401.{10000 + i:05d}"
        entries.append(
            f"### [Sparse attention for long-context language models, part {i}]"
            f"(https://arxiv.org/abs/{pid})\n\n"
            f"![](https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{pid}.png)\n\n"
            f"Vote: {i % 60}\n\nAuthors: James Hensman, Kim Min-jun, Ada Lovelace, Li Wei, "
            f"Zoë Ørsted, Alan Turing, Grace Hopper\n\n"
            f"- **What's New**: {'A method that cuts memory by four times on long inputs. ' * 4}\n"
            f"- **Technical Details**: {'Block-sparse kernels with learned routing. ' * 3}\n\n")
    return f"## Daily Papers ({DAY})\n\n" + "".join(entries)


class ChatCase(DeliveryCaseMixin, DigestdCase):
    def sinks(self, **settings):
        sinks = {}
        for kind in KINDS:
            sinks[kind] = ChatSink(kind, **settings)
            self.addCleanup(sinks[kind].close)
        return sinks

    def configure_all(self, sinks, **keys):
        notifiers = "".join(chat_notifier(kind, sink, **keys) for kind, sink in sinks.items())
        self.write_config(watch("everything", ["to-" + k for k in sinks]), first_run="notify",
                          notifiers=notifiers)

    def assert_no_secret(self, text, where):
        self.assertNotIn(SECRET, text, where)

    def assert_valid(self, kind, records):
        for r in records:
            problems = validate(kind, r)
            self.assertEqual(problems[:5], [], f"{kind}: {r.method} {r.target[:80]}")


class HostileDay(ChatCase):
    def test_every_platform_gets_every_paper_once_valid_and_defused(self):
        sinks = self.sinks()
        self.configure_all(sinks, max_papers=300, min_interval="0s")
        self.write_digest(DAY, hostile_digest())
        # 300 long papers rendered for eight platforms: about 1.5 s of CPU, 25 s under
        # ASan+UBSan, more on a busy machine.
        self.run_digestd("once", "--config", self.config_path, "--date", DAY, expect=0,
                         timeout=300)
        for kind, sink in sinks.items():
            with self.subTest(kind=kind):
                records = sink.records()
                self.assertGreater(len(records), 1, "300 long papers need several messages")
                self.assert_valid(kind, records)
                seen = []
                for r in records:
                    seen += sorted(set(PAPER_ID.findall(r.body)))
                self.assertEqual(len(seen), 300, "every paper in exactly one message")
                self.assertEqual(len(set(seen)), 300)
                if kind == "matrix":   # the txnId is the part id: one per message
                    txns = [r.path.rsplit("/", 1)[1] for r in records]
                    self.assertEqual(len(set(txns)), len(txns))
        rows = self.outbox_rows()
        self.assertEqual({r["state"] for r in rows}, {"sent"}, rows[:3])
        self.assert_no_secret(str(rows), "outbox list")

    def test_default_max_papers_cuts_the_day_with_a_link_to_the_digest(self):
        sinks = self.sinks()
        self.configure_all(sinks, min_interval="0s")
        self.write_digest(DAY, hostile_digest())
        self.run_digestd("once", "--config", self.config_path, "--date", DAY, expect=0)
        for kind, sink in sinks.items():
            with self.subTest(kind=kind):
                records = sink.records()
                self.assert_valid(kind, records)
                self.assertRegex(records[-1].body, r"and \d+ more papers")
                for r in records[:-1]:
                    self.assertNotRegex(r.body, r"and \d+ more papers")


class Throttled(ChatCase):
    def test_each_platforms_429_form_is_honoured(self):
        # Each stand-in answers the first request with its platform's 429 asking for 2 s.
        sinks = self.sinks(throttle_first=1, retry_after=2)
        self.configure_all(sinks)
        self.write_digest(DAY, realistic_digest(1))
        with open(os.path.join(self.dir, "run.log"), "ab") as log:
            proc = subprocess.Popen([DIGESTD, "run", "--config", self.config_path],
                                    stdout=subprocess.DEVNULL, stderr=log, cwd=self.dir)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        # The first run fetches today only: give it the fixture's day as today's digest too.
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.write_digest(today, realistic_digest(1).replace(DAY, today))
        try:
            for kind, sink in sinks.items():
                with self.subTest(kind=kind):
                    # Backoff with full jitter is at most 20 s after one attempt.
                    self.assertTrue(sink.wait_for_count(2, timeout=45),
                                    f"{kind}: no retry ({sink.count()} requests)")
                    first, second = sink.records()[:2]
                    self.assertEqual(first.status, 429)
                    waited = second.received - first.answered_at
                    self.assertGreaterEqual(waited, 2.0, f"{kind} retried after {waited:.2f} s")
                    self.assertEqual(first.body, second.body, "the retry is the same message")
                    if kind == "matrix":
                        self.assertEqual(first.path, second.path, "the same txnId")
                    self.assert_valid(kind, [first, second])
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        with open(os.path.join(self.dir, "run.log"), encoding="utf-8", errors="replace") as f:
            self.assert_no_secret(f.read(), "run log")


class TestNotify(ChatCase):
    def test_test_notify_reaches_every_target(self):
        sinks = self.sinks()
        self.configure_all(sinks)
        for kind, sink in sinks.items():
            with self.subTest(kind=kind):
                proc = self.run_digestd("test-notify", "to-" + kind, "--config", self.config_path)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("delivered", proc.stderr)
                self.assert_no_secret(proc.stdout + proc.stderr, "test-notify output")
                self.assertEqual(sink.count(), 1)
                self.assert_valid(kind, sink.records())

    def test_a_deleted_hook_is_reported_gone_and_no_secret_shows(self):
        sinks = self.sinks(status=404)
        self.configure_all(sinks)
        for kind in ["slack", "discord", "teams", "mattermost", "googlechat", "telegram"]:
            with self.subTest(kind=kind):
                proc = self.run_digestd("test-notify", "to-" + kind, "--config", self.config_path)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn("the target is gone", proc.stderr)
                self.assert_no_secret(proc.stdout + proc.stderr, "test-notify output")

    def test_an_unreachable_target_is_named_without_its_secret(self):
        sinks = self.sinks()
        for sink in sinks.values():
            sink.close()   # nothing listens on these ports any more
        self.configure_all(sinks, timeout="2s")
        for kind in KINDS:
            with self.subTest(kind=kind):
                proc = self.run_digestd("test-notify", "to-" + kind, "--config", self.config_path)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn("127.0.0.1", proc.stderr)
                self.assert_no_secret(proc.stdout + proc.stderr, "test-notify output")


class Preview(ChatCase):
    def test_preview_prints_what_would_be_sent_and_sends_nothing(self):
        sinks = self.sinks()
        notifiers = "".join(chat_notifier(kind, sink) for kind, sink in sinks.items())
        # A baseline first run stores the day and notifies nobody.
        self.write_config(watch("everything", ["to-" + k for k in sinks]), first_run="baseline",
                          notifiers=notifiers)
        self.write_digest(DAY, realistic_digest(3))
        self.run_digestd("once", "--config", self.config_path, "--date", DAY, expect=0)
        for kind in KINDS:
            with self.subTest(kind=kind):
                proc = self.run_digestd("preview", "to-" + kind, "--date", DAY, "--config",
                                        self.config_path, expect=0)
                self.assertIn("part ", proc.stdout)
                self.assertIn("2401.10002", proc.stdout)
                self.assertIn("nothing was sent", proc.stderr)
                # ntfy's topic is part of the body it publishes, which preview shows.
                shown = proc.stdout.replace(f'"topic":"{SECRET}-topic"', "") + proc.stderr
                self.assert_no_secret(shown, "preview output")
        one = self.run_digestd("preview", "to-slack", "--paper", "2401.10001", "--config",
                               self.config_path, expect=0)
        self.assertIn("2401.10001", one.stdout)
        self.assertNotIn("2401.10002", one.stdout)
        self.assertEqual(sum(s.count() for s in sinks.values()), 0)


class Day300Table(ChatCase):
    """What a realistic 300-paper day becomes on each platform at its defaults (issue 9's
    table): messages, bytes and the time the default pace spreads them over. Printed, and
    checked against the platform's limits; the pace itself is engine behaviour tested
    elsewhere."""

    def test_a_300_paper_day_at_the_defaults(self):
        sinks = self.sinks()
        self.configure_all(sinks, min_interval="0s")
        self.write_digest(DAY, realistic_digest(300))
        self.run_digestd("once", "--config", self.config_path, "--date", DAY, expect=0)
        lines = []
        paces = {"slack": 1.0, "discord": 1.0, "teams": 0.5, "telegram": 3.0, "matrix": 1.0,
                 "mattermost": 1.0, "googlechat": 1.0, "ntfy": 5.0}
        for kind, sink in sinks.items():
            records = sink.records()
            self.assert_valid(kind, records)
            total = sum(len(r.raw_body) for r in records)
            largest = max(len(r.raw_body) for r in records)
            shown = sum(len(set(PAPER_ID.findall(r.body))) for r in records)
            lines.append(f"{kind:<11} {len(records):>3} messages {shown:>3} papers shown "
                         f"{total:>7} bytes (largest {largest:>6}) "
                         f"{(len(records) - 1) * paces[kind]:>5.1f} s at the default pace")
        sys.stderr.write("\n300-paper day at the defaults:\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    unittest.main()
