"""The command line contract of CONFIG.md: exit codes, `check` diagnostics, `parse --json`."""
import json
import os
import subprocess
import unittest

from digestd_harness import DIGESTD, DigestdCase, digest, entry


class Cli(DigestdCase):
    def test_version_and_help(self):
        self.assertIn("digestd ", self.run_digestd("--version", expect=0).stdout)
        self.assertIn("usage:", self.run_digestd("--help", expect=0).stdout)

    def test_usage_errors_exit_2(self):
        self.run_digestd(expect=2)
        self.run_digestd("frobnicate", expect=2)
        self.run_digestd("once", "--no-such-flag", expect=2)
        self.run_digestd("parse", expect=2)

    def test_bundled_examples_are_valid(self):
        examples = os.environ["DIGESTD_EXAMPLES"]
        for name in ("digestd.toml", "demo/digestd.toml"):
            self.run_digestd("check", "--config", os.path.join(examples, name), expect=0)

    def test_check_accepts_a_good_config(self):
        path = self.write_config('[[watch]]\nname = "w"\nkeywords = ["x"]\nnotify = ["log"]\n')
        self.run_digestd("check", "--config", path, expect=0)

    def test_check_rejects_with_file_line_col(self):
        path = self.write_config('[[watch]]\nname = "w"\nkeywords = ["x"]\nnotify = ["nobody"]\n')
        proc = self.run_digestd("check", "--config", path, expect=78)
        self.assertRegex(proc.stderr, r"digestd\.toml:\d+:\d+: .*nobody")

    def test_check_suggests_near_misses(self):
        path = self.write_config('[[watch]]\nname = "w"\nkeyword = ["x"]\nnotify = ["log"]\n')
        proc = self.run_digestd("check", "--config", path, expect=78)
        self.assertIn("keywords", proc.stderr)

    def test_once_with_bad_config_exits_78(self):
        path = self.write("bad.toml", "[daemon\n")
        self.run_digestd("once", "--config", path, expect=78)

    def test_config_from_environment(self):
        path = self.write_config('[[watch]]\nname = "w"\nkeywords = ["x"]\nnotify = ["log"]\n')
        env = dict(os.environ, DIGESTD_CONFIG=path)
        import subprocess
        proc = subprocess.run([os.environ.get("DIGESTD", "digestd"), "check"], env=env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_parse_json_shape(self):
        path = self.write("d.md", digest("2024-01-29",
                                          entry("2401.15024", "SliceGPT: `code` and [IDK]", votes=None,
                                                authors="A B, +, C D, A B")))
        proc = self.run_digestd("parse", "--format", "markdown", path, "--json", expect=0)
        out = json.loads(proc.stdout)
        self.assertEqual(out["source"], path)
        self.assertEqual(out["date"], "2024-01-29")
        p = out["papers"][0]
        self.assertEqual(set(p), {"key", "title", "url", "authors", "authors_truncated", "votes",
                                  "media_url", "summary", "tags", "version", "extra"})
        self.assertEqual(p["key"], "arxiv:2401.15024")
        self.assertEqual(p["title"], "SliceGPT: `code` and [IDK]")
        self.assertEqual(p["authors"], ["A B", "C D"])
        self.assertTrue(p["authors_truncated"])
        self.assertIsNone(p["votes"])
        self.assertIsNone(p["version"])
        self.assertEqual(p["tags"], [])
        self.assertEqual(p["extra"], {})

    def test_parse_missing_file_fails_clearly(self):
        proc = self.run_digestd("parse", "--format", "markdown", "no-such.md", "--json", expect=1)
        self.assertIn("no-such.md", proc.stderr)

    def test_parse_arbitrary_bytes_gives_valid_json(self):
        path = os.path.join(self.dir, "junk.md")
        with open(path, "wb") as f:
            f.write(b"## Daily Papers (2024-01-29)\n\n### [T\xff\xfe](https://arxiv.org/abs/2401.1)\n"
                    + bytes(range(256)) + b"\n### [\n")
        proc = self.run_digestd("parse", "--format", "markdown", path, "--json", expect=0)
        json.loads(proc.stdout)

    def test_parse_text_output_carries_no_terminal_controls(self):
        # Issue 13 (a start): fetched text reaches the terminal without escape sequences.
        path = os.path.join(self.dir, "evil.md")
        with open(path, "wb") as f:
            f.write(b"## Daily Papers (2024-01-29)\n\n### [Evil \x1b]0;owned\x07 \xc2\x9b31m "
                    b"\xe2\x80\xaetitle](https://arxiv.org/abs/2401.00001)\n\nVote: 3\n\n- a\n")
        proc = subprocess.run([DIGESTD, "parse", "--format", "markdown", path],
                              capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(b"Evil", proc.stdout)
        for bad in (b"\x1b", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae"):
            self.assertNotIn(bad, proc.stdout)

    def test_every_command_has_its_own_help(self):
        # Issue 11 point 1: COMMAND --help / -h print that command's usage and run nothing.
        listing = self.run_digestd("--help", expect=0).stdout
        for command in ("run", "once", "check", "parse", "explain", "status", "test-notify",
                        "outbox", "backup", "migrate"):
            self.assertIn("digestd " + command, listing)
            for flag in ("--help", "-h"):
                proc = self.run_digestd(command, flag, expect=0)
                self.assertTrue(proc.stdout.startswith("usage: digestd " + command), proc.stdout)
        # `run -h` must not start the daemon (it would block until the test's timeout).
        self.assertIn("SIGTERM", self.run_digestd("run", "-h", expect=0).stdout)

    def test_short_config_flag_and_the_search_path_listed_when_nothing_is_found(self):
        cfg = self.write_config('[[watch]]\nname = "w"\nkeywords = ["model"]\nnotify = ["log"]\n')
        self.assertIn("ok", self.run_digestd("check", "-c", cfg, expect=0).stdout)
        if os.path.exists("/etc/digestd/digestd.toml"):
            self.skipTest("this machine has a system config, found before any other")
        empty = os.path.join(self.dir, "nowhere")
        os.makedirs(empty)
        env = {k: v for k, v in os.environ.items() if k != "DIGESTD_CONFIG"}
        env.update(HOME=empty, XDG_CONFIG_HOME=os.path.join(empty, "xdg"))
        proc = subprocess.run([DIGESTD, "check"], capture_output=True, text=True, timeout=30,
                              cwd=empty, env=env)
        self.assertEqual(proc.returncode, 78, proc.stderr)
        for tried in ("./digestd.toml", os.path.join(empty, "xdg", "digestd", "digestd.toml"),
                      "/etc/digestd/digestd.toml"):
            self.assertIn(tried, proc.stderr)

    def test_status_and_test_notify(self):
        cfg = self.write_config('[[watch]]\nname = "w"\nkeywords = ["model"]\nnotify = ["log"]\n',
                                first_run="notify")
        proc = self.run_digestd("status", "--config", cfg, expect=1)
        self.assertIn("no state yet", proc.stderr)
        self.write_digest("2024-01-29", digest("2024-01-29", entry("2401.00001", "A model")))
        self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=0)
        status = json.loads(self.run_digestd("status", "--config", cfg, "--json", expect=0).stdout)
        self.assertEqual(status["outbox"], {"pending": 0, "sending": 0, "sent": 1, "dead": 0})
        self.assertEqual(status["sources"][0]["name"], "hf-ko")
        self.assertTrue(status["sources"][0]["first_run_done"])
        self.assertEqual(status["sources"][0]["last_success_date"], "2024-01-29")
        # When `run` fetches it next: the default schedule's next slot ("*/30 * * * *"), in
        # the source's zone (issue 11, point 4).
        self.assertRegex(status["sources"][0]["next_run"],
                         r"^\d{4}-\d\d-\d\d \d\d:(00|30):00 UTC$")
        text = self.run_digestd("status", "--config", cfg, expect=0).stdout
        self.assertRegex(text, r", next run \d{4}-\d\d-\d\d \d\d:(00|30):00 UTC\n")
        self.assertIn("state: ", text)
        self.run_digestd("test-notify", "log", "--config", cfg, expect=0)
        lines = [json.loads(l) for l in open(os.path.join(self.dir, "matches.jsonl"), encoding="utf-8")]
        self.assertEqual(lines[-1]["watches"], ["test-notify"])
        # Issue 7: a sample is marked as one; no real paper key is written.
        self.assertEqual(lines[-1]["paper"]["key"], "test-notify:sample")
        self.run_digestd("test-notify", "nobody", "--config", cfg, expect=2)

    def test_a_notifier_not_in_the_config_is_named_without_terminal_controls(self):
        cfg = self.write_config('[[watch]]\nname = "w"\nkeywords = ["model"]\nnotify = ["log"]\n')
        for command in ("test-notify", "preview"):
            with self.subTest(command=command):
                proc = subprocess.run([DIGESTD, command, "no\x1b]0;owned\x07body", "--config", cfg],
                                      capture_output=True, timeout=30, cwd=self.dir)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(b"digestd " + command.encode() + b": no notifier named 'no",
                              proc.stderr)
                self.assertIn(b"body'", proc.stderr)
                for bad in (b"\x1b", b"\x07"):
                    self.assertNotIn(bad, proc.stderr)

    def test_bad_query_is_rejected_with_a_caret(self):
        path = self.write_config(
            '[[watch]]\nname = "q"\nquery = \'title:"x" OR (foo AND\'\nnotify = ["log"]\n')
        proc = self.run_digestd("check", "--config", path, expect=78)
        self.assertRegex(proc.stderr, r"digestd\.toml:\d+:\d+: watch \"q\": query: ")
        lines = proc.stderr.splitlines()
        caret = [l for l in lines if l.strip() == "^"]
        self.assertEqual(len(caret), 1, proc.stderr)

    def test_check_lints_without_failing(self):
        path = self.write_config(
            '[[watch]]\nname = "never"\nquery = "x AND NOT x"\nnotify = ["log"]\n'
            '[[watch]]\nname = "a"\nkeywords = ["LLM"]\nnotify = ["log"]\n'
            '[[watch]]\nname = "b"\nkeywords = ["llm"]\nnotify = ["log"]\n')
        proc = self.run_digestd("check", "--config", path, expect=0)
        self.assertIn('warning: watch "never": can never match', proc.stderr)
        self.assertIn('warning: watch "b": duplicates watch "a"', proc.stderr)

    def test_explain_gives_a_verdict_per_watch(self):
        watches = """
[[watch]]
name = "models"
query = 'title:model OR summary:"language model"'
notify = ["log"]

[[watch]]
name = "popular"
keywords = ["model"]
min_votes = 100
notify = ["log"]

[[watch]]
name = "no surveys"
keywords = ["model"]
exclude = ["survey"]
notify = ["log"]

[[watch]]
name = "elsewhere"
keywords = ["model"]
sources = ["other"]
notify = ["log"]
"""
        extra = '\n[[source]]\nname = "other"\nkind = "markdown"\nurl = "file:///nonexistent/{date}.md"\n'
        cfg = self.write_config(watches, first_run="notify", extra_source=extra)
        self.write_digest("2024-01-29", digest("2024-01-29", entry("2401.00001", "A model survey", votes=7)))
        self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=0)
        proc = self.run_digestd("explain", "--config", cfg, "--date", "2024-01-29", "--json",
                                expect=0)
        rows = [json.loads(l) for l in proc.stdout.splitlines()]
        self.assertEqual(len(rows), 1)
        verdicts = {w["watch"]: w["verdict"] for w in rows[0]["watches"]}
        self.assertEqual(verdicts, {"models": "notified", "popular": "below threshold",
                                    "no surveys": "excluded", "elsewhere": "source not selected"})
        terms = {w["watch"]: w["terms"] for w in rows[0]["watches"]}
        self.assertTrue(any("title" in t for t in terms["models"]), terms)
        one = self.run_digestd("explain", "--config", cfg, "--paper", "arxiv:2401.00001", expect=0)
        self.assertIn("models: notified", one.stdout)
        # Issue 11 point 5: a bare id, a versioned one or a URL name the paper too; what is
        # not stored is an error with a hint.
        for name in ("2401.00001", "2401.00001v2", "https://arxiv.org/abs/2401.00001"):
            same = self.run_digestd("explain", "--config", cfg, "--paper", name, expect=0)
            self.assertEqual(same.stdout, one.stdout, name)
        unknown = self.run_digestd("explain", "--config", cfg, "--paper", "2401.99999", expect=1)
        self.assertIn("no stored paper arxiv:2401.99999", unknown.stderr)
        empty = self.run_digestd("explain", "--config", cfg, "--date", "2023-01-01", expect=1)
        self.assertIn("no digest stored for 2023-01-01", empty.stderr)
        self.assertIn("digestd status", empty.stderr)

    def test_explain_says_baseline_after_a_baseline_first_run(self):
        cfg = self.write_config('[[watch]]\nname = "m"\nkeywords = ["model"]\nnotify = ["log"]\n')
        self.write_digest("2024-01-29", digest("2024-01-29", entry("2401.00001", "A model")))
        self.run_digestd("once", "--config", cfg, "--date", "2024-01-29", expect=0)
        proc = self.run_digestd("explain", "--config", cfg, "--date", "2024-01-29", "--json",
                                expect=0)
        row = json.loads(proc.stdout)
        self.assertEqual([(w["watch"], w["verdict"]) for w in row["watches"]], [("m", "baseline")])


if __name__ == "__main__":
    unittest.main()
