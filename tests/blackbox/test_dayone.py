"""Issue 11, a new user's day one, through the real binary: mistakes `check` catches, output
a person can read (backfill progress, hf-daily abstracts on the console), and `explain`
verdicts that are the planner's own decisions."""
import json
import os
import re
import shutil
import subprocess
import textwrap
import unittest

from digestd_harness import DIGESTD, TIMEOUT, DigestdCase, digest, entry, sqlite_only


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class DayOneCase(DigestdCase):
    def edit_config(self, cfg, old, new):
        text = _read(cfg)
        self.assertIn(old, text)
        self.write("digestd.toml", text.replace(old, new))


class Explain(DayOneCase):
    """Point 5: `explain` verdicts come from the planner; text mode lists what no watch
    matched; --paper shows every watch."""

    WATCHES = """
[[notifier]]
name = "off"
kind = "console"
enabled = false

[[watch]]
name = "models"
keywords = ["model"]
notify = ["log"]

[[watch]]
name = "muted"
keywords = ["model"]
notify = ["off"]

[[watch]]
name = "robots"
keywords = ["robot"]
notify = ["log"]
"""

    def setUp(self):
        super().setUp()
        self.cfg = self.write_config(self.WATCHES, first_run="notify")
        self.write_digest("2024-01-29", digest(
            "2024-01-29", entry("2401.00001", "A model of tides", votes=1),
            entry("2401.00002", "Watching paint dry"),
            entry("2401.00003", "Slow change in still water")))
        self.run_digestd("once", "--config", self.cfg, "--date", "2024-01-29", expect=0)

    def test_verdicts_are_the_planners(self):
        rows = [json.loads(l) for l in self.run_digestd(
            "explain", "--config", self.cfg, "--date", "2024-01-29", "--json",
            expect=0).stdout.splitlines()]
        self.assertEqual([r["paper"] for r in rows],
                         ["arxiv:2401.00001", "arxiv:2401.00002", "arxiv:2401.00003"])
        verdicts = {w["watch"]: w["verdict"] for w in rows[0]["watches"]}
        # "notifier disabled" is a decision only the planner makes: the CLI no longer
        # guesses with a copy of its rules.
        self.assertEqual(verdicts, {"models": "notified", "muted": "notifier disabled",
                                    "robots": "no match"})

    def test_text_lists_the_papers_no_watch_matched(self):
        out = self.run_digestd("explain", "--config", self.cfg, "--date", "2024-01-29",
                               expect=0).stdout
        self.assertIn("arxiv:2401.00001  A model of tides\n    [hf-ko 2024-01-29, 1 vote]\n", out)
        self.assertIn("  models: notified (hit: keyword:model (title)", out)
        self.assertIn("  muted: notifier disabled", out)
        self.assertNotIn("robots: no match", out, "a date lists only the watches that matched")
        self.assertIn("2 papers no watch matched (--paper KEY says why for one):\n"
                      "  arxiv:2401.00002  Watching paint dry  [hf-ko]\n"
                      "  arxiv:2401.00003  Slow change in still water  [hf-ko]\n", out)

    def test_paper_shows_every_watch(self):
        out = self.run_digestd("explain", "--config", self.cfg, "--paper", "2401.00002",
                               expect=0).stdout
        self.assertIn("arxiv:2401.00002  Watching paint dry", out)
        for watch in ("models", "muted", "robots"):
            self.assertIn(f"  {watch}: no match\n", out)
        self.assertNotIn("no watch matched", out)
        err = self.run_digestd("explain", "--config", self.cfg, "--paper", "2401.09999",
                               expect=1).stderr
        self.assertIn("no stored paper arxiv:2401.09999", err)

    def test_a_watch_added_after_the_paper_says_it_was_not_notified(self):
        with open(self.cfg, "a", encoding="utf-8") as f:
            f.write('\n[[watch]]\nname = "still water"\nkeywords = ["water"]\nnotify = ["log"]\n')
        row = json.loads(self.run_digestd("explain", "--config", self.cfg, "--paper",
                                          "2401.00003", "--json", expect=0).stdout)
        verdicts = {w["watch"]: w["verdict"] for w in row["watches"]}
        self.assertTrue(verdicts["still water"].startswith("not notified"), verdicts)


class Backfill(DayOneCase):
    """Point 4: a backfill shows its progress; the missed dates past backfill_days are named."""

    def test_progress_and_dates_past_backfill_days(self):
        cfg = self.write_config('[[watch]]\nname = "m"\nkeywords = ["model"]\nnotify = ["log"]\n')
        self.write_digest("2024-01-10", digest("2024-01-10", entry("2401.00001", "A model")))
        self.run_digestd("once", "--config", cfg, "--date", "2024-01-10", expect=0)
        for day, key in (("2024-01-23", "2401.00002"), ("2024-01-26", "2401.00003"),
                         ("2024-01-29", "2401.00004")):
            self.write_digest(day, digest(day, entry(key, "Another model")))
        err = self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=0).stderr
        # backfill_days = 7 (the default): 22 to 29 are fetched, 11 to 21 are not.
        self.assertIn("source hf-ko: 11 missed dates since the last digest (2024-01-10) are "
                      "beyond backfill_days = 7 and are not fetched: 2024-01-11 to 2024-01-21",
                      err)
        self.assertIn("source hf-ko: backfill of 8 dates (2024-01-22 to 2024-01-29)", err)
        self.assertIn("source hf-ko: 2024-01-23 (1 paper, 1 notification; "
                      "backfill: 2 of 8 dates done)", err)
        self.assertIn("backfill: 8 of 8 dates done)", err)
        self.assertIn("source hf-ko: backfill done: 8 dates checked, 3 digests applied, "
                      "5 dates not published", err)
        # The everyday lookback is no backfill: nothing of it is said on the next run.
        err = self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=0).stderr
        self.assertNotIn("backfill", err)


class HfDailyOnTheConsole(DayOneCase):
    """Point 4: an hf-daily abstract is cut to whole sentences, with "…", on the console; the
    JSON keeps it as written."""

    def test_abstract_is_cut_to_sentences(self):
        abstract = " ".join(f"Sentence {i} of the abstract says something about a model."
                            for i in range(15))
        self.write("hf/2024-01-29.json", json.dumps([{"paper": {
            "id": "2401.00042", "title": "A ***What's New*** model of tides",
            "authors": [{"name": "Ada Lovelace"}],
            "summary": "***What's New***: " + abstract, "upvotes": 1,
            "submittedOnDailyAt": "2024-01-29T00:00:00.000Z"}}]))
        url = "file://" + os.path.join(self.dir, "hf/{date}.json")
        cfg = self.write_config('[[watch]]\nname = "m"\nkeywords = ["model"]\n'
                                'notify = ["screen", "log"]\n', first_run="notify", url=url)
        self.edit_config(cfg, 'kind = "markdown"', 'kind = "hf-daily"')
        out = self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=0).stdout
        summary = [l.strip() for l in out.splitlines() if l.strip().startswith("- ")]
        self.assertEqual(len(summary), 1, out)
        line = summary[0][2:]
        self.assertTrue(line.startswith("Sentence 0 of the abstract"), line)
        self.assertTrue(line.endswith("about a model. \u2026"), line)
        self.assertLessEqual(len(line), 242, line)
        self.assertNotIn("What's New", line)
        self.assertIn("(1 vote)", out)
        # The file notifier keeps the summary as written.
        written = self.matches_file()[0]["paper"]["summary"][0]
        self.assertTrue(written.startswith("***What's New***: Sentence 0"), written)
        self.assertIn("Sentence 14", written)


class Check(DayOneCase):
    """Point 2: the mistakes `check` catches before they cost a day."""

    def test_lowercase_operators_unset_alert_notify_and_an_unwritable_file(self):
        cfg = self.write_config(
            '[[watch]]\nname = "d"\nquery = "diffusion and not video"\nnotify = ["log"]\n',
            notifiers='[[notifier]]\nname = "log"\nkind = "file"\npath = "no/such/dir/m.jsonl"\n')
        err = self.run_digestd("check", "--config", cfg, expect=0).stderr
        self.assertIn('query has a lowercase "and", which searches for that word; did you mean '
                      'AND?', err)
        self.assertIn('lowercase "not"', err)
        self.assertIn("alert_notify is not set", err)
        self.assertIn("does not exist; every line waits in the outbox", err)

    def test_a_failing_source_without_alert_notify_says_nobody_is_told(self):
        cfg = self.write_config('[[watch]]\nname = "m"\nkeywords = ["model"]\nnotify = ["log"]\n',
                                url="http://127.0.0.1:9/{date}.md")
        self.edit_config(cfg, 'first_run = "baseline"',
                         'first_run = "baseline"\nalert_after_failures = 1\ntimeout = "2s"')
        err = self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=1).stderr
        self.assertIn("nobody is told: [daemon] alert_notify is not set", err)
        self.assertNotIn("alerting \n", err)

    def test_status_exits_1_while_a_source_is_failing(self):
        """Point 4: monitoring can use `status`: exit 1 while a source is failing, 0 again
        once it recovered; the text names the state file and each source's next run."""
        url = "file://" + os.path.join(self.dir, "digests/{date:%Y/%m/%d}.md")
        cfg = self.write_config('[[watch]]\nname = "m"\nkeywords = ["model"]\nnotify = ["log"]\n',
                                url=url)
        self.edit_config(cfg, 'first_run = "baseline"',
                         'first_run = "baseline"\nalert_after_failures = 1')
        self.write_digest("2024-01-29", "<html>502 Bad Gateway</html>\n")
        self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=1)
        failing = self.run_digestd("status", "--config", cfg, expect=1).stdout
        self.assertIn("state: " + self.state_shown(), failing)
        # The next run is the schedule's next slot (whole minutes), or the retry when the
        # backoff ends after that slot.
        shown = re.search(r"source hf-ko: .*next run (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC.*"
                          r"retry (\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)Z", failing)
        self.assertIsNotNone(shown, failing)
        next_run, retry = shown.group(1), shown.group(2) + " " + shown.group(3)
        self.assertGreaterEqual(next_run, retry, failing)
        if next_run != retry:
            self.assertTrue(next_run.endswith(":00"), failing)
        self.write_digest("2024-01-29", digest("2024-01-29", entry("2401.00001", "A model")))
        self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=0)
        self.run_digestd("status", "--config", cfg, expect=0)

    @sqlite_only("warns about the unit's state file path")
    def test_the_system_units_config_warns_about_paths_the_service_cannot_write(self):
        """Run in a private mount namespace whose /etc is empty, so the config can sit at
        /etc/digestd/digestd.toml; skipped where that is not allowed."""
        unshare = shutil.which("unshare")
        if os.geteuid() != 0 or unshare is None:
            self.skipTest("needs root and unshare(1) for a private /etc")
        config = textwrap.dedent("""
            [daemon]
            state = "/var/lib/digestd/state.db"
            alert_notify = ["log"]

            [[source]]
            name = "hf-ko"
            kind = "markdown"
            url = "https://example.org/{date}.md"

            [[notifier]]
            name = "log"
            kind = "file"
            path = "/srv/digestd/matches.jsonl"

            [[notifier]]
            name = "scratch"
            kind = "file"
            path = "/tmp/matches.jsonl"

            [[watch]]
            name = "m"
            keywords = ["model"]
            notify = ["log", "scratch"]
            """)
        self.write("unit.toml", config)
        script = ('mount -t tmpfs none /etc && mkdir /etc/digestd && cp "$1" /etc/digestd/digestd.toml'
                  ' && exec "$2" check --config /etc/digestd/digestd.toml')
        env = {k: v for k, v in os.environ.items()
               if k not in ("STATE_DIRECTORY", "LOGS_DIRECTORY")}
        proc = subprocess.run([unshare, "--mount", "sh", "-c", script, "sh",
                               os.path.join(self.dir, "unit.toml"), DIGESTD],
                              capture_output=True, text=True, timeout=TIMEOUT, env=env)
        if "mount:" in proc.stderr or "unshare:" in proc.stderr:
            self.skipTest("no private mount namespace here: " + proc.stderr.strip())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn('notifier "log": "path": "/srv/digestd/matches.jsonl" is outside what the '
                      "digestd service may write", proc.stderr)
        self.assertIn("use a path under /var/lib/digestd or /var/log/digestd", proc.stderr)
        self.assertIn('notifier "scratch": "path": "/tmp/matches.jsonl" is in the service\'s '
                      "private /tmp", proc.stderr)
        self.assertNotIn('"state"', proc.stderr)

        # The same config anywhere else is not the unit's: nothing said about the service.
        other = self.run_digestd("check", "--config", os.path.join(self.dir, "unit.toml"),
                                 expect=0)
        self.assertNotIn("service", other.stderr)


if __name__ == "__main__":
    unittest.main()
