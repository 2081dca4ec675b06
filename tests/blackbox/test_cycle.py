"""`digestd once` end to end on the real binary: first run, restarts, appended and replaced
digests, renamed papers, dry runs, failing sources and failing notifiers."""
import json
import os
import time
import unittest

from digestd_harness import DigestdCase, WATCH_ALL, digest, entry

D1 = "2024-01-29"


def keys(lines):
    return sorted({line["paper"]["key"] for line in lines})


class FirstRun(DigestdCase):
    def test_baseline_records_and_notifies_nothing(self):
        self.write_config(WATCH_ALL)
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model of things")))
        self.assertEqual(self.once(D1), [])
        self.assertEqual(self.matches_file(), [])
        # The next run sees the same digest: still nothing.
        self.assertEqual(self.once(D1), [])

    def test_notify_mode_notifies_everything_that_matches(self):
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model of things"),
                                     entry("2401.00002", "Unrelated paper on birds")))
        lines = self.once(D1)
        self.assertEqual(keys(lines), ["arxiv:2401.00001"])
        line = lines[0]
        self.assertEqual(line["notifier"], "log")
        self.assertEqual(line["kind"], "instant")
        self.assertEqual(line["event"], "new")
        self.assertEqual(line["watches"], ["everything about models"])
        self.assertEqual(line["paper"]["source"], "hf-ko")
        self.assertEqual(line["paper"]["date"], D1)
        self.assertEqual(line["paper"]["url"], "https://arxiv.org/abs/2401.00001")
        self.assertEqual(len(line["notification"]), 32)
        # The file notifier wrote exactly the same lines.
        self.assertEqual(self.matches_file(), lines)

    def test_latest_n_notifies_only_the_top_voted(self):
        self.write_config(WATCH_ALL, first_run="latest:2")
        self.write_digest(D1, digest(D1, entry("2401.00001", "model one", votes=5),
                                     entry("2401.00002", "model two", votes=50),
                                     entry("2401.00003", "model three", votes=20)))
        self.assertEqual(keys(self.once(D1)), ["arxiv:2401.00002", "arxiv:2401.00003"])
        self.assertEqual(self.once(D1), [])

    def test_first_run_with_only_404_counts_as_done(self):
        self.write_config(WATCH_ALL)
        self.assertEqual(self.once(D1), [])
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model of things")))
        self.assertEqual(keys(self.once(D1)), ["arxiv:2401.00001"])


class Diff(DigestdCase):
    def setUp(self):
        super().setUp()
        self.write_config(WATCH_ALL, first_run="notify")

    def test_restart_sends_nothing_twice(self):
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model")))
        self.assertEqual(len(self.once(D1)), 1)
        self.assertEqual(self.once(D1), [])
        self.assertEqual(self.once(D1), [])
        self.assertEqual(len(self.matches_file()), 1)

    def test_a_paper_listed_twice_in_one_digest_is_notified_once_as_first_listed(self):
        self.write_digest(D1, digest(D1, entry("2401.00001", "model A, first listing"),
                                     entry("2401.00002", "model B"),
                                     entry("2401.00001", "model A, listed again")))
        lines = self.once(D1)
        self.assertEqual(keys(lines), ["arxiv:2401.00001", "arxiv:2401.00002"])
        self.assertEqual(len(lines), 2)
        first = next(line for line in lines if line["paper"]["key"] == "arxiv:2401.00001")
        self.assertEqual(first["paper"]["title"], "model A, first listing")
        self.assertEqual(self.once(D1), [])

    def test_appended_digest_notifies_only_the_appended_papers(self):
        first = digest(D1, entry("2401.00001", "model A"), entry("2401.00002", "model B"))
        self.write_digest(D1, first)
        self.assertEqual(len(self.once(D1)), 2)
        appended = first + digest(D1, entry("2401.00003", "model C"))
        self.write_digest(D1, appended)
        self.assertEqual(keys(self.once(D1)), ["arxiv:2401.00003"])

    def test_replaced_digest_notifies_the_new_papers(self):
        self.write_digest(D1, digest(D1, entry("2401.00001", "model A"),
                                     entry("2401.00002", "model B")))
        self.once(D1)
        self.write_digest(D1, digest(D1, entry("2401.00002", "model B"),
                                     entry("2401.00004", "model D"),
                                     entry("2401.00005", "model E")))
        self.assertEqual(keys(self.once(D1)), ["arxiv:2401.00004", "arxiv:2401.00005"])

    def test_a_settled_local_digest_is_not_read_again_and_a_rewrite_is_still_seen(self):
        # A local digest 3 s old gets a validator made of its inode, size and times: while it
        # is unchanged, a run is answered "not modified" without reading it.
        config = os.path.join(self.dir, "digestd.toml")
        with open(config, encoding="utf-8") as f:
            text = f.read()
        self.write("digestd.toml", text.replace("[daemon]\n", '[daemon]\nlog_level = "debug"\n'))
        self.write_digest(D1, digest(D1, entry("2401.00001", "model A")))
        time.sleep(3.1)
        self.assertEqual(keys(self.once(D1)), ["arxiv:2401.00001"])
        again = self.run_digestd("once", "--config", config, "--date", D1, expect=0).stderr
        self.assertIn("304 (the file is as it was)", again)
        self.assertIn("unchanged since the last run", again)
        # Written again, to the same size: read, and its new paper told.
        self.write_digest(D1, digest(D1, entry("2401.00002", "model A")))
        self.assertEqual(keys(self.once(D1)), ["arxiv:2401.00002"])

    def test_paper_under_another_title_is_not_new(self):
        self.write_digest(D1, digest(D1, entry("2410.09342", "LLM$\\times$MapReduce model")))
        self.assertEqual(len(self.once(D1)), 1)
        d2 = "2024-01-30"
        self.write_digest(d2, digest(d2, entry("2410.09342", "LLMtimesMapReduce model")))
        self.assertEqual(self.once(d2), [])

    def test_dry_run_commits_nothing(self):
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model")))
        planned = self.once(D1, "--dry-run")
        self.assertEqual(keys(planned), ["arxiv:2401.00001"])
        self.assertEqual(self.matches_file(), [])
        sent = self.once(D1)
        # The dry run showed the very id the real run used.
        self.assertEqual([l["notification"] for l in sent], [l["notification"] for l in planned])


class Readable(DigestdCase):
    """What `once` tells a person (issue 11, point 4): what a dry run would send, why a
    baseline sent nothing, an unchanged digest, counts in the right number."""

    def once_text(self, date, *extra):
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", date, *extra, expect=0)
        return proc.stdout, proc.stderr

    def test_dry_run_lists_what_would_be_sent(self):
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model"),
                                     entry("2401.00002", "B model \x1b[31m red")))
        out, err = self.once_text(D1, "--dry-run")
        lines = [l for l in out.splitlines() if l.startswith("would send to ")]
        self.assertEqual(len(lines), 2, out)
        self.assertIn("[new] A model (arxiv:2401.00001; watch ", lines[0])
        self.assertNotIn("\x1b", out, "fetched text reaches the terminal safe")
        self.assertIn("2 papers; 2 notifications planned", err)
        self.assertIn("dry run: nothing committed or sent", err)
        self.assertEqual(self.matches_file(), [])

    def test_baseline_says_why_nothing_was_sent_and_unchanged_says_unchanged(self):
        self.write_config(WATCH_ALL)
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model")))
        _, err = self.once_text(D1)
        self.assertIn("baseline: 1 paper recorded, nothing sent (first_run = \"baseline\"", err)
        self.assertIn("1 source ok", err)
        self.assertIn("1 paper (1 recorded as the baseline); 0 notifications planned", err)
        _, err = self.once_text(D1)
        self.assertIn("unchanged since the last run", err)
        self.assertNotIn("0 papers", err)


class LatinOnlyExclude(DigestdCase):
    """`check` warns when a watch excludes only Latin-script terms on a source whose stored
    summaries are mostly Korean (issue 11, point 2), judged from the stored sightings."""

    WATCH = """
[[watch]]
name = "no video"
keywords = ["model"]
exclude = ["video"]
notify = ["log"]
"""

    def check(self):
        return self.run_digestd("check", "--config", os.path.join(self.dir, "digestd.toml"),
                                expect=0).stderr

    def test_warns_once_the_state_shows_korean_summaries(self):
        self.write_config(self.WATCH)
        self.assertNotIn("Latin-script", self.check(), "no state yet: nothing to judge by")
        korean = ["비디오 생성 모델의 시간적 일관성을 높이는 방법을 제안한다.",
                  "여러 벤치마크에서 기존 방법보다 좋은 결과를 보인다."]
        self.write_digest(D1, digest(D1, *(entry(f"2401.0000{i}", f"A model {i}", bullets=korean)
                                           for i in range(1, 4))))
        self.once(D1)
        err = self.check()
        self.assertIn('watch "no video": exclude = ["video"] has only Latin-script terms, '
                      'but source "hf-ko" writes its summaries mostly in Korean', err)
        with open(os.path.join(self.dir, "digestd.toml"), encoding="utf-8") as f:
            line = f.read().split("\n").index('name = "no video"')  # the table starts above
        self.assertIn(f'digestd.toml:{line}:1: warning: watch "no video"', err)

    def test_says_nothing_for_english_summaries_or_a_korean_term(self):
        self.write_config(self.WATCH)
        english = ["We propose a way to keep video generation consistent over time."]
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model", bullets=english)))
        self.once(D1)
        self.assertNotIn("Latin-script", self.check())


class Watches(DigestdCase):
    def test_keywords_authors_exclude_min_votes_and_routing(self):
        watches = """
[[watch]]
name = "sparsity"
keywords = ["희소화", "sparsity"]
authors = ["Torsten Hoefler"]
exclude = ["survey"]
notify = ["log"]

[[watch]]
name = "popular"
keywords = ["decoding"]
min_votes = 20
notify = ["log", "screen"]
"""
        self.write_config(watches, first_run="notify")
        self.write_digest(D1, digest(
            D1,
            entry("2401.00001", "Pruning big nets", bullets=["사후 훈련 희소화는 유망하다."]),
            entry("2401.00002", "A paper", authors="Torsten  HOEFLER, Someone Else"),
            entry("2401.00003", "A survey of sparsity"),
            entry("2401.00004", "Fast decoding", votes=25),
            entry("2401.00005", "Slow decoding", votes=3)))
        lines = self.once(D1)
        by_key = {}
        for l in lines:
            by_key.setdefault(l["paper"]["key"], set()).add((l["notifier"], tuple(l["watches"])))
        self.assertEqual(by_key, {
            "arxiv:2401.00001": {("log", ("sparsity",))},
            "arxiv:2401.00002": {("log", ("sparsity",))},
            "arxiv:2401.00004": {("log", ("popular",)), ("screen", ("popular",))},
        })

    def test_threshold_fires_once_when_votes_cross(self):
        watches = """
[[watch]]
name = "popular"
keywords = ["model"]
min_votes = 20
notify = ["log"]
"""
        self.write_config(watches, first_run="notify")
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model", votes=3)))
        self.assertEqual(self.once(D1), [])
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model", votes=25)))
        lines = self.once(D1)
        self.assertEqual([(l["event"], l["paper"]["votes"]) for l in lines], [("threshold", 25)])
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model", votes=40)))
        self.assertEqual(self.once(D1), [])


class Failures(DigestdCase):
    def test_failing_notifier_keeps_the_match_until_it_works(self):
        notifiers = """
[[notifier]]
name = "log"
kind = "file"
path = "missing-dir/matches.jsonl"
"""
        self.write_config(WATCH_ALL, first_run="notify", notifiers=notifiers)
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model")))
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", D1, expect=1)
        self.assertIn("missing-dir/matches.jsonl", proc.stderr)
        listing = self.run_digestd("outbox", "list", "--json", "--config",
                                   os.path.join(self.dir, "digestd.toml"), expect=0).stdout
        rows = [json.loads(l) for l in listing.splitlines()]
        self.assertEqual([r["state"] for r in rows], ["pending"])
        self.assertIn("missing-dir/matches.jsonl", rows[0]["last_error"])
        row_id = rows[0]["id"]
        os.makedirs(os.path.join(self.dir, "missing-dir"))
        self.run_digestd("outbox", "retry", row_id, "--config",
                         os.path.join(self.dir, "digestd.toml"), expect=0)
        self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                         "--date", D1, expect=0)
        with open(os.path.join(self.dir, "missing-dir/matches.jsonl"), encoding="utf-8") as f:
            lines = [json.loads(l) for l in f]
        self.assertEqual([l["paper"]["key"] for l in lines], ["arxiv:2401.00001"])
        self.assertEqual(lines[0]["notification"], row_id)

    def test_malformed_digest_is_survived(self):
        self.write_config(WATCH_ALL, first_run="notify")
        garbage = digest(D1, "### [broken title without link\n\n- bullet\n\n",
                         entry("2401.00001", "A model")) + "\x00\xff### [x](\n"
        self.write_digest(D1, garbage)
        lines = self.once(D1)
        self.assertEqual(keys(lines), ["arxiv:2401.00001"])

    def test_unreadable_source_fails_the_run_but_not_the_others(self):
        extra = """
[[source]]
name = "broken"
kind = "markdown"
url = "http://127.0.0.1:1/digest.md"
timeout = "2s"
"""
        self.write_config(WATCH_ALL, first_run="notify", extra_source=extra)
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model")))
        lines = self.once(D1, expect=1)
        self.assertEqual(keys(lines), ["arxiv:2401.00001"])
        # The working source's state was committed: nothing again.
        self.assertEqual(self.once(D1, expect=1), [])

    def test_one_failing_alert_per_streak_then_one_recovered(self):
        broken_url = "http://127.0.0.1:1/{date}.md"
        def configure(url):
            self.write_config(WATCH_ALL, url=url)
            text = open(os.path.join(self.dir, "digestd.toml"), encoding="utf-8").read()
            text = text.replace('timezone = "UTC"\n', 'timezone = "UTC"\nalert_notify = ["log"]\n', 1)
            text = text.replace('first_run = "baseline"\n',
                                'first_run = "baseline"\nalert_after_failures = 2\ntimeout = "2s"\n')
            self.write("digestd.toml", text)
        configure(broken_url)
        for _ in range(4):
            self.once(D1, expect=1)
        alerts = [l for l in self.matches_file() if l["kind"] == "alert"]
        self.assertEqual([(a["event"], a["source"], a["paper"]) for a in alerts],
                         [("source_failing", "hf-ko", None)])
        self.assertIn("2 failed attempts", alerts[0]["message"])
        configure(None)
        self.once(D1)
        self.once(D1)
        alerts = [l for l in self.matches_file() if l["kind"] == "alert"]
        self.assertEqual([a["event"] for a in alerts], ["source_failing", "source_recovered"])

    def test_a_dated_url_never_published_fails_after_the_missing_weekdays(self):
        # Monday 2024-01-01 had a digest; then nothing. Up to 7 weekdays is a real gap
        # (the founding source has gaps of 4-6 days); the 8th fails: check the URL.
        self.write_config(WATCH_ALL, first_run="notify", lookback_days=2)
        text = open(os.path.join(self.dir, "digestd.toml"), encoding="utf-8").read()
        text = text.replace('timezone = "UTC"\n', 'timezone = "UTC"\nalert_notify = ["log"]\n', 1)
        text = text.replace('first_run = "notify"\n',
                            'first_run = "notify"\nalert_after_failures = 1\n')
        self.write("digestd.toml", text)
        self.write_digest("2024-01-01", digest("2024-01-01", entry("2401.00001", "A model")))
        self.assertEqual(len(self.once("2024-01-01")), 1)
        self.once("2024-01-10")  # 7 weekdays without a digest: not yet a failure
        self.assertEqual([l for l in self.matches_file() if l["kind"] == "alert"], [])
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", "2024-01-11", expect=1)
        self.assertIn("no digest since 2024-01-01 (8 weekdays, more than "
                      "alert_after_missing_days = 7): check the URL", proc.stderr)
        alerts = [l for l in self.matches_file() if l["kind"] == "alert"]
        self.assertEqual([(a["event"], a["source"]) for a in alerts],
                         [("source_failing", "hf-ko")])
        self.assertIn("check the URL", alerts[0]["message"])
        # The digest comes back: the source recovers, once.
        self.write_digest("2024-01-12", digest("2024-01-12", entry("2401.00002", "B model")))
        sent = self.once("2024-01-12")
        self.assertEqual(keys([l for l in sent if l["paper"]]), ["arxiv:2401.00002"])
        alerts = [l for l in self.matches_file() if l["kind"] == "alert"]
        self.assertEqual([a["event"] for a in alerts], ["source_failing", "source_recovered"])


if __name__ == "__main__":
    unittest.main()
