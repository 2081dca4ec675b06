"""Delivery end to end on the real binary (issue 7): webhook and exec notifiers against
recording targets on 127.0.0.1, retries and their ids, a target that disables itself, the
outbox commands, test-notify, SIGTERM with transfers in flight, several processes on one
state, and the file notifier on a full disk."""
import calendar
import collections
import json
import os
import resource
import signal
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from digestd_harness import (DIGESTD, TIMEOUT, DeliveryCaseMixin, DigestdCase, digest, entry,
                             ON_POSTGRESQL, many_entries, notifier, sqlite_only, wait_for,
                             watch)
from webhook_sink import WebhookSink, read_log, sign

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("DIGESTD_TEST_DATA") or os.path.join(HERE, "..", "data")
SCHEMA = os.path.join(HERE, "..", "..", "docs", "webhook.schema.json")

FIXTURE_DATE = "2024-03-04"
FIXTURE_KEYS = {"arxiv:2403.90001", "arxiv:2403.90002", "arxiv:2403.90003",
                "arxiv:2403.90004"}
# Two Standard Webhooks secrets, both configured as while rotating.
SECRET_NEW = "whsec_3q2+7wAAAAA5Zm9vYmFyYmF6cXV4cXV1eA=="
SECRET_OLD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WATCH_HOOK = watch("everything", ["hook"])


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())




class DeliveryCase(DeliveryCaseMixin, DigestdCase):
    def sink(self, **settings):
        sink = WebhookSink(**settings)
        self.addCleanup(sink.close)
        return sink

    def configure(self, notifiers, watches=WATCH_HOOK, **kwargs):
        self.write_config(watches, first_run="notify", notifiers=notifiers, **kwargs)

    def write_fixture(self):
        with open(os.path.join(DATA, "delivery", FIXTURE_DATE + ".md"), encoding="utf-8") as f:
            self.write_digest(FIXTURE_DATE, f.read())

    def once_proc(self, date, expect=None):
        return self.run_digestd("once", "--config", self.config_path, "--date", date,
                                expect=expect)

    def retry_pending(self):
        """Makes every pending row due now (`outbox retry ID`): the binary has no fake clock."""
        for row in self.outbox_rows("--state", "pending"):
            self.run_digestd("outbox", "retry", row["id"], "--config", self.config_path,
                             expect=0)

    def start_run(self):
        """`digestd run` in the background, its log in run.log (a pipe nobody reads could
        fill up and stall the daemon)."""
        with open(os.path.join(self.dir, "run.log"), "ab") as log:
            proc = subprocess.Popen([DIGESTD, "run", "--config", self.config_path],
                                    stdout=subprocess.DEVNULL, stderr=log, cwd=self.dir)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc

    def run_log(self):
        with open(os.path.join(self.dir, "run.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def assert_signed(self, record, secrets):
        self.assertEqual(record.signatures_valid, [True] * len(secrets),
                         f"signature {record.signature!r} of {record.id}")


class Webhook(DeliveryCase):
    def hook(self, sink, **keys):
        keys.setdefault("secret", [SECRET_NEW, SECRET_OLD])
        return notifier("hook", "webhook", url=sink.url(keys.pop("path", "/hook")), **keys)

    def test_each_match_is_delivered_once_signed_with_every_secret(self):
        sink = self.sink(secrets=[SECRET_NEW, SECRET_OLD])
        self.configure(self.hook(sink, headers={"X-Digestd-Test": "yes"}))
        self.write_fixture()
        lines = self.once(FIXTURE_DATE)
        records = sink.records()
        self.assertEqual(len(records), len(FIXTURE_KEYS))
        rows = {row["id"]: row for row in self.outbox_rows()}
        self.assertEqual({r.id for r in records}, set(rows))
        self.assertEqual({l["notification"] for l in lines}, set(rows))
        keys = set()
        for r in records:
            self.assertEqual(r.method, "POST")
            self.assertEqual(r.path, "/hook")
            self.assertEqual(r.headers.get("content-type"), "application/json")
            self.assertEqual(r.headers.get("x-digestd-test"), "yes")
            # Both secrets sign while rotating: two signatures, each right.
            self.assertEqual(len(r.signature.split()), 2, r.signature)
            self.assert_signed(r, [SECRET_NEW, SECRET_OLD])
            self.assertLess(abs(int(r.timestamp) - time.time()), 300)
            body = r.json
            self.assertEqual(body["version"], 1)
            self.assertEqual(body["id"], r.id)
            self.assertEqual(body["notification"], r.id)
            self.assertEqual((body["part"], body["parts"]), (0, 1))
            self.assertEqual(body["notifier"], "hook")
            self.assertEqual(len(body["papers"]), 1)
            self.assertEqual(rows[r.id]["state"], "sent")
            keys.add(body["papers"][0]["key"])
        self.assertEqual(keys, FIXTURE_KEYS)
        # The body keeps the digest's text exactly, whatever its characters.
        by_key = {r.json["papers"][0]["key"]: r.json["papers"][0] for r in records}
        self.assertEqual(by_key["arxiv:2403.90002"]["title"],
                         '"Quoted" Titles, Back\\slashes and <think> Tags in Model Cards')
        self.assertIn("😀", by_key["arxiv:2403.90002"]["summary"][1])
        # A second run sends nothing.
        self.assertEqual(self.once(FIXTURE_DATE), [])
        self.assertEqual(sink.count(), len(FIXTURE_KEYS))

    def test_body_validates_against_the_published_schema(self):
        if not os.path.exists(SCHEMA):
            self.skipTest("docs/webhook.schema.json not written yet")
        try:
            import jsonschema  # python3-jsonschema, Debian's
        except ImportError:
            self.fail("python3-jsonschema is missing: install it (apt install python3-jsonschema)")
        with open(SCHEMA, encoding="utf-8") as f:
            schema = json.load(f)
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        validator = validator_class(schema, format_checker=jsonschema.FormatChecker())
        sink = self.sink()
        self.configure(self.hook(sink, secret=SECRET_NEW))
        self.write_fixture()
        self.once(FIXTURE_DATE)
        self.assertEqual(sink.count(), len(FIXTURE_KEYS))
        for r in sink.records():
            errors = [e.message for e in validator.iter_errors(r.json)]
            self.assertEqual(errors, [], r.body)
        # The schema can say no: the same body with a wrong version fails it.
        broken = dict(sink.records()[0].json, version=2)
        self.assertFalse(validator.is_valid(broken))

    def test_hanging_target_does_not_delay_a_healthy_one(self):
        # Issue 7 point 8: one notifier's stuck target must not hold up another's.
        stuck = self.sink(hang=True)
        healthy = self.sink()
        notifiers = (notifier("stuck", "webhook", url=stuck.url(), timeout="3s") +
                     notifier("healthy", "webhook", url=healthy.url(), timeout="3s"))
        self.configure(notifiers, watch("everything", ["stuck", "healthy"]))
        self.write_fixture()
        started = time.monotonic()
        proc = self.once_proc(FIXTURE_DATE)
        self.assertEqual(proc.returncode, 1, "a timed-out delivery fails the run\n" + proc.stderr)
        self.assertEqual(healthy.count(), len(FIXTURE_KEYS))
        self.assertTrue(stuck.records(), "the stuck target was never asked")
        # No secret configured: no signature header, the id and timestamp all the same.
        self.assertIsNone(healthy.records()[0].signature)
        self.assertTrue(healthy.records()[0].id and healthy.records()[0].timestamp)
        first_timeout = stuck.records()[0].received + 3.0
        last_healthy = max(r.received for r in healthy.records())
        # An ordering fact: the healthy target had everything before the first timeout of
        # the stuck one could fire (and well inside the run's first seconds).
        self.assertLess(last_healthy, first_timeout)
        self.assertLess(last_healthy - started, 2.5)
        states = collections.Counter((r["notifier"], r["state"]) for r in self.outbox_rows())
        self.assertEqual(states, {("healthy", "sent"): 4, ("stuck", "pending"): 4})
        for row in self.outbox_rows("--notifier", "stuck"):
            self.assertRegex(row["last_error"] or "", r"(?i)time")

    def test_429_waits_at_least_retry_after_then_delivers_the_same_id(self):
        sink = self.sink(status=429, retry_after=3600, secrets=[SECRET_NEW])
        self.configure(self.hook(sink, secret=SECRET_NEW, max_in_flight=1))
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *many_entries(2)))
        before = time.time()
        self.once_proc(FIXTURE_DATE, expect=1)
        # One request: the other row waits as long, unattempted.
        self.assertEqual(sink.count(), 1)
        rows = self.outbox_rows()
        self.assertEqual([r["state"] for r in rows], ["pending", "pending"])
        for row in rows:
            next_at = calendar.timegm(time.strptime(row["next_attempt"], "%Y-%m-%dT%H:%M:%SZ"))
            self.assertGreaterEqual(next_at, before + 3600 - 5, row)
        tried = [r for r in rows if r["attempts"] == 1]
        self.assertEqual(len(tried), 1, rows)
        self.assertIn("429", tried[0]["last_error"])
        # Not due: a second run leaves the target alone.
        self.once_proc(FIXTURE_DATE, expect=0)
        self.assertEqual(sink.count(), 1)
        # Made due by hand, it goes out under the same id.
        sink.configure(status=200)
        self.retry_pending()
        self.once_proc(FIXTURE_DATE, expect=0)
        ids = sink.ids()
        self.assertEqual(len(ids), 3)
        self.assertEqual(ids.count(tried[0]["id"]), 2)
        self.assertEqual(set(ids), {r["id"] for r in rows})
        for r in sink.records():
            self.assert_signed(r, [SECRET_NEW])
        self.assertEqual({r["state"] for r in self.outbox_rows()}, {"sent"})

    def test_500_is_retried_under_the_same_id(self):
        sink = self.sink(fail_first=1, fail_status=500, secrets=[SECRET_NEW])
        self.configure(self.hook(sink, secret=SECRET_NEW))
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *many_entries(1)))
        self.once_proc(FIXTURE_DATE, expect=1)
        [row] = self.outbox_rows()
        self.assertEqual((row["state"], row["attempts"]), ("pending", 1))
        self.assertIn("500", row["last_error"])
        self.assertEqual(sink.count(), 1)
        # Retry by a unique prefix of the id.
        proc = self.run_digestd("outbox", "retry", row["id"][:10], "--config",
                                self.config_path, expect=0)
        self.assertIn(row["id"], proc.stdout)
        self.once_proc(FIXTURE_DATE, expect=0)
        records = sink.records()
        self.assertEqual([r.id for r in records], [row["id"], row["id"]])
        for r in records:
            self.assert_signed(r, [SECRET_NEW])
            self.assertEqual(r.json["id"], row["id"])
        # The retry carries the same message; only its time differs.
        strip = lambda body: {k: v for k, v in body.items() if k != "timestamp"}
        self.assertEqual(strip(records[0].json), strip(records[1].json))
        # (`outbox retry` gives the row a fresh budget of attempts.)
        self.assertEqual([r["state"] for r in self.outbox_rows()], ["sent"])

    def test_split_message_retries_only_the_parts_not_accepted(self):
        # One message per digest with 30 long papers: more than one 20,000-byte body.
        def part_1_fails_once(record, earlier):
            if record.id and record.id.endswith("-1") and not any(e.id == record.id
                                                                  for e in earlier):
                return 500
            return None

        sink = self.sink(secrets=[SECRET_NEW], responder=part_1_fails_once)
        self.configure(self.hook(sink, secret=SECRET_NEW, group="digest", max_papers=100))
        long_bullets = ["이 논문은 긴 요약을 가진다. " * 40, "Second bullet. " * 40]
        papers = [entry(f"2401.{i:05d}", f"Long model paper {i}", bullets=long_bullets)
                  for i in range(1, 31)]
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *papers))
        self.once_proc(FIXTURE_DATE, expect=1)
        [row] = self.outbox_rows()
        row_id = row["id"]
        self.assertEqual([r.id for r in sink.records()], [row_id, row_id + "-1"])
        self.assertEqual((row["state"], row["parts_sent"]), ("pending", 1))
        shown = self.run_digestd("outbox", "show", row_id, "--config", self.config_path,
                                 expect=0).stdout
        self.assertIn(f"--- part 0 ({row_id}), accepted", shown)
        self.assertIn(f"--- part 1 ({row_id}-1)\n", shown)
        self.retry_pending()
        self.once_proc(FIXTURE_DATE, expect=0)
        records = sink.records()
        parts = records[0].json["parts"]
        self.assertGreaterEqual(parts, 3)
        # Part 0 was not sent again; part 1 was, under its own id; the rest once each.
        self.assertEqual([r.id for r in records],
                         [row_id, f"{row_id}-1", f"{row_id}-1"] +
                         [f"{row_id}-{k}" for k in range(2, parts)])
        keys = []
        for r in records[:1] + records[2:]:
            self.assert_signed(r, [SECRET_NEW])
            self.assertLessEqual(len(r.raw_body), 20000)
            self.assertEqual((r.json["id"], r.json["notification"]), (r.id, row_id))
            self.assertEqual(r.json["parts"], parts)
            keys += r.paper_keys
        self.assertEqual(sorted(keys), [f"arxiv:2401.{i:05d}" for i in range(1, 31)])
        self.assertEqual([r["state"] for r in self.outbox_rows()], ["sent"])

    def test_410_disables_the_notifier_until_its_config_changes(self):
        sink = self.sink(status=410)
        self.configure(self.hook(sink, path="/old", max_in_flight=1))
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *many_entries(2)))
        self.once_proc(FIXTURE_DATE)
        self.assertEqual(sink.count(), 1)
        [hook] = [n for n in self.status_json()["notifiers"] if n["name"] == "hook"]
        self.assertTrue(hook["disabled_by_target"], hook)
        self.assertIn("410", hook["disabled_reason"])
        self.assertEqual(self.status_json()["outbox"]["pending"], 2)
        self.assertIn("disabled", self.run_digestd("status", "--config", self.config_path).stdout)
        # Even made due by hand, nothing goes to a disabled target.
        self.retry_pending()
        self.once_proc(FIXTURE_DATE)
        self.assertEqual(sink.count(), 1)
        # Another URL is another configuration: it sends again, the same ids.
        ids = {r["id"] for r in self.outbox_rows()}
        sink.configure(status=200)
        self.configure(self.hook(sink, path="/new", max_in_flight=1))
        self.once_proc(FIXTURE_DATE, expect=0)
        new = [r for r in sink.records() if r.path == "/new"]
        self.assertEqual({r.id for r in new}, ids)
        self.assertEqual(len(new), 2)
        [hook] = [n for n in self.status_json()["notifiers"] if n["name"] == "hook"]
        self.assertFalse(hook["disabled_by_target"], hook)
        self.assertEqual(self.status_json()["outbox"]["sent"], 2)

    def test_400_goes_dead_and_the_outbox_commands_manage_it(self):
        sink = self.sink(status=400)
        self.configure(self.hook(sink))
        # 20 ids in 16 hex digits: at least two share a first digit (an ambiguous prefix).
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *many_entries(20)))
        self.once_proc(FIXTURE_DATE, expect=1)
        rows = self.outbox_rows()
        self.assertEqual(len(rows), 20)
        for row in rows:
            self.assertEqual(row["state"], "dead")
            self.assertIn("400", row["last_error"])
        self.assertEqual(sink.count(), 20)
        listing = self.run_digestd("outbox", "list", "--config", self.config_path, expect=0)
        self.assertIn("dead", listing.stdout)
        self.assertIn("400", listing.stdout)
        self.assertEqual(len(self.outbox_rows("--state", "dead")), 20)
        self.assertEqual(self.outbox_rows("--state", "pending"), [])
        ids = sorted(row["id"] for row in rows)

        def outbox(*args, expect):
            return self.run_digestd("outbox", *args, "--config", self.config_path,
                                    expect=expect)

        # show: the row and its parts, by a unique prefix.
        target = ids[0]
        shown = outbox("show", target[:8], expect=0).stdout
        self.assertIn(target, shown)
        self.assertIn(f"--- part 0 ({target})", shown)
        body = json.loads(shown.split(f"--- part 0 ({target})", 1)[1].strip().splitlines()[0])
        self.assertEqual(body["id"], target)
        # Ambiguous and unknown prefixes change nothing.
        first_digits = collections.Counter(i[0] for i in ids)
        shared = next(d for d, n in first_digits.items() if n > 1)
        for verb in ("show", "retry", "drop"):
            proc = outbox(verb, shared, expect=1)
            self.assertIn("ambiguous", proc.stderr)
        self.assertIn("no outbox row", outbox("drop", "zzzz", expect=1).stderr)
        self.assertEqual(len(self.outbox_rows("--state", "dead")), 20)
        # drop ID: by a unique prefix, that row alone.
        dropped = ids[1]
        self.assertIn(dropped, outbox("drop", dropped[:12], expect=0).stdout)
        self.assertNotIn(dropped, {r["id"] for r in self.outbox_rows()})
        # --notifier narrows --dead.
        self.assertIn("0", outbox("retry", "--dead", "--notifier", "nobody", expect=0).stdout)
        self.assertEqual(len(self.outbox_rows("--state", "dead")), 19)
        # retry --dead: every dead row due now; they go out under their ids.
        sink.configure(status=200)
        self.assertIn("19", outbox("retry", "--dead", expect=0).stdout)
        self.once_proc(FIXTURE_DATE, expect=0)
        after = [r.id for r in sink.records()[20:]]
        self.assertEqual(sorted(after), sorted(i for i in ids if i != dropped))
        self.assertEqual({r["state"] for r in self.outbox_rows()}, {"sent"})
        # drop --dead: a new dead row, dropped with every other dead one.
        sink.configure(status=422)
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *many_entries(21)))
        self.once_proc(FIXTURE_DATE, expect=1)
        self.assertEqual(len(self.outbox_rows("--state", "dead")), 1)
        self.assertIn("1", outbox("drop", "--dead", expect=0).stdout)
        self.assertEqual(self.outbox_rows("--state", "dead"), [])
        self.assertEqual(len(self.outbox_rows()), 19)


EXEC_SCRIPT = r"""#!/bin/sh
# Appends stdin to bodies.jsonl in $1, keeps its environment, exits with the code in $1/exit.
out="$1"
body=$(cat)
printf '%s\n' "$body" >> "$out/bodies.jsonl"
env > "$out/env.$DIGESTD_NOTIFICATION_ID"
exit "$(cat "$out/exit")"
"""


class Exec(DeliveryCase):
    def test_exit_codes_deliver_retry_or_kill_and_the_environment_is_clean(self):
        script = self.write("hook.sh", EXEC_SCRIPT)
        os.chmod(script, 0o755)
        notifiers = ""
        for name, code in (("ok", 0), ("later", 75), ("broken", 1)):
            self.write(f"{name}/exit", f"{code}\n")
            # GNUTLS_NO_IMPLICIT_INIT: digestd sets it for itself (core/shared_library.h); a
            # command is given only what digestd was started with.
            notifiers += notifier(name, "exec", command=[script, os.path.join(self.dir, name)],
                                  env=["BB_TOKEN", "BB_UNSET", "GNUTLS_NO_IMPLICIT_INIT"],
                                  timeout="10s")
        self.configure(notifiers, watch("everything", ["ok", "later", "broken"]))
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *many_entries(1)))
        env = dict(os.environ, BB_TOKEN="token-value", BB_NOT_PASSED="hidden",
                   HOME=self.dir)
        env.pop("GNUTLS_NO_IMPLICIT_INIT", None)
        proc = subprocess.run([DIGESTD, "once", "--config", self.config_path, "--date",
                               FIXTURE_DATE], capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=self.dir, env=env)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        rows = {r["notifier"]: r for r in self.outbox_rows()}
        self.assertEqual(rows["ok"]["state"], "sent")
        self.assertEqual((rows["later"]["state"], rows["later"]["attempts"]), ("pending", 1))
        self.assertIn("75", rows["later"]["last_error"])
        self.assertEqual(rows["broken"]["state"], "dead")
        self.assertIn("exit status 1", rows["broken"]["last_error"])

        for name in ("ok", "later", "broken"):
            bodies = self.bodies(name)
            self.assertEqual(len(bodies), 1, name)
            self.assertEqual(bodies[0]["id"], rows[name]["id"])
            self.assertEqual(bodies[0]["notifier"], name)
            self.assertEqual(bodies[0]["papers"][0]["key"], "arxiv:2401.00001")
        seen = self.env_of("ok", rows["ok"]["id"])
        shell_own = {"PWD", "OLDPWD", "SHLVL", "_"}
        extra = {k for k in seen if k not in shell_own and not k.startswith("DIGESTD_")}
        self.assertEqual(extra, {"PATH", "LANG", "BB_TOKEN"}, seen)
        self.assertEqual(seen["BB_TOKEN"], "token-value")
        self.assertEqual(seen["DIGESTD_NOTIFICATION_ID"], rows["ok"]["id"])
        self.assertEqual(seen["DIGESTD_NOTIFIER"], "ok")

        # The temporary failure passes: made due, it is delivered under the same id. Given
        # GNUTLS_NO_IMPLICIT_INIT itself, digestd passes on the value it was given.
        self.write("later/exit", "0\n")
        self.retry_pending()
        env["GNUTLS_NO_IMPLICIT_INIT"] = "0"
        proc = subprocess.run([DIGESTD, "once", "--config", self.config_path, "--date",
                               FIXTURE_DATE], capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=self.dir, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual([b["id"] for b in self.bodies("later")], [rows["later"]["id"]] * 2)
        self.assertEqual(self.env_of("later", rows["later"]["id"])["GNUTLS_NO_IMPLICIT_INIT"], "0")
        states = {r["notifier"]: r["state"] for r in self.outbox_rows()}
        self.assertEqual(states, {"ok": "sent", "later": "sent", "broken": "dead"})
        self.assertEqual(len(self.bodies("ok")), 1)
        self.assertEqual(len(self.bodies("broken")), 1)

    def bodies(self, name):
        with open(os.path.join(self.dir, name, "bodies.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def env_of(self, name, row_id):
        with open(os.path.join(self.dir, name, "env." + row_id), encoding="utf-8") as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


class TestNotify(DeliveryCase):
    def test_sample_reaches_a_webhook(self):
        sink = self.sink(secrets=[SECRET_NEW])
        self.configure(notifier("hook", "webhook", url=sink.url(), secret=SECRET_NEW))
        proc = self.run_digestd("test-notify", "hook", "--config", self.config_path, expect=0)
        self.assertIn("delivered", proc.stdout + proc.stderr)
        [record] = sink.records()
        self.assert_signed(record, [SECRET_NEW])
        self.assertEqual([p["key"] for p in record.json["papers"]], ["test-notify:sample"])
        self.assertEqual(record.json["id"], record.id)

    def test_failing_target_exits_1_and_says_so(self):
        sink = self.sink(status=500)
        self.configure(notifier("hook", "webhook", url=sink.url()))
        proc = self.run_digestd("test-notify", "hook", "--config", self.config_path, expect=1)
        self.assertIn("failed", proc.stdout + proc.stderr)
        self.assertIn("500", proc.stdout + proc.stderr)
        self.assertEqual(sink.count(), 1)

    def test_file_notifier_gets_the_sample_and_no_real_paper(self):
        self.configure(notifier("log", "file", path="matches.jsonl"), watch("everything", ["log"]))
        self.write_fixture()
        self.run_digestd("test-notify", "log", "--config", self.config_path, expect=0)
        lines = self.matches_file()
        self.assertEqual([l["paper"]["key"] for l in lines], ["test-notify:sample"])
        # The sample marked nothing as sent: the real run notifies every real paper.
        sent = self.once(FIXTURE_DATE)
        self.assertEqual({l["paper"]["key"] for l in sent}, FIXTURE_KEYS)
        self.assertNotIn(lines[0]["notification"], {l["notification"] for l in sent})
        keys = [l["paper"]["key"] for l in self.matches_file()]
        self.assertEqual(sorted(keys), sorted(FIXTURE_KEYS | {"test-notify:sample"}))


class Shutdown(DeliveryCase):
    def test_sigterm_with_1000_transfers_in_flight_exits_0_soon_and_keeps_the_rows(self):
        # Issue 7 points 2 and 9: 1,000 transfers open at once (16 servers x 63 rows, under
        # the engine's cap of 64 per server), none of them ever answered.
        servers, papers = 16, 63
        slow = [self.sink(delay=30.0) for _ in range(servers)]
        day = today()
        names = [f"hook{i}" for i in range(servers)]
        self.configure("".join(notifier(n, "webhook", url=s.url(), max_in_flight=64,
                                        timeout="60s") for n, s in zip(names, slow)),
                       watches=watch("everything", names))
        self.write_digest(day, digest(day, *many_entries(papers)))
        total = servers * papers
        proc = self.start_run()
        open_now = lambda: sum(s.count() for s in slow)
        self.assertTrue(wait_for(lambda: open_now() >= total, 60),
                        f"only {open_now()} of {total} transfers reached the servers\n"
                        f"{self.run_log()[-2000:]}")
        in_flight = open_now()
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail(f"digestd run still runs 15 s after SIGTERM ({in_flight} in flight)")
        took = time.monotonic() - stopped_at
        stderr = self.run_log()
        self.assertEqual(proc.returncode, 0, stderr)
        self.assertLess(took, 2.0, f"SIGTERM to exit took {took:.2f} s with {in_flight} in "
                                   f"flight\n{stderr[-2000:]}")
        self.assertEqual(self.status_json()["outbox"],
                         {"pending": total, "sending": 0, "sent": 0, "dead": 0})
        for s in slow:
            s.close()
        # Nothing was lost and nothing is sent twice: a later run delivers all, once each.
        fast = self.sink()
        self.configure("".join(notifier(n, "webhook", url=fast.url(), max_in_flight=16)
                               for n in names), watches=watch("everything", names))
        self.once_proc(day, expect=0)
        ids = collections.Counter(fast.ids())
        self.assertEqual(len(ids), total)
        self.assertEqual(max(ids.values()), 1, ids.most_common(3))
        self.assertEqual(self.status_json()["outbox"]["sent"], total)


class Wake(DeliveryCase):
    def test_outbox_retry_wakes_a_running_daemon(self):
        sink = self.sink(status=429, retry_after=3600)
        day = today()
        self.configure(notifier("hook", "webhook", url=sink.url()))
        self.write_digest(day, digest(day, *many_entries(1)))
        proc = self.start_run()
        # The state file exists a moment before `run` has made its tables, and `outbox list`
        # refuses a state older than itself: until then there is nothing to read.
        self.assertTrue(wait_for(lambda: [r["attempts"] for r in
                                          self.digestd_json_lines("outbox", "list", "--json",
                                                                  expect=None)] == [1], 30),
                        "the first attempt was not recorded")
        self.assertEqual(sink.count(), 1)
        sink.configure(status=200)
        [row] = self.outbox_rows()
        retried = self.run_digestd("outbox", "retry", row["id"], "--config", self.config_path,
                                   expect=0)
        # SQLite: a signal to the lock file's pid; PostgreSQL: a NOTIFY every instance hears.
        self.assertIn("announced" if ON_POSTGRESQL else "woke", retried.stderr)
        # Due in an hour by Retry-After; due now by hand, and the daemon hears of it.
        self.assertTrue(wait_for(lambda: self.status_json()["outbox"]["sent"] == 1, 20),
                        self.outbox_rows())
        self.assertEqual(sink.ids(), [row["id"], row["id"]])
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        self.assertEqual(proc.returncode, 0, self.run_log())


class SharedState(DeliveryCase):
    @sqlite_only("on PostgreSQL `once` needs the leader lease a `run` holds, and refuses")
    def test_run_and_several_once_send_every_id_once(self):
        # Issue 7 point 10.
        sink = self.sink(delay=0.01, delay_max=0.04, seed=7)
        day = today()
        self.configure(notifier("hook", "webhook", url=sink.url(), max_in_flight=8))
        self.write_digest(day, digest(day, *many_entries(400)))
        run = self.start_run()
        onces = []
        for _ in range(3):
            time.sleep(0.15)
            onces.append(subprocess.Popen([DIGESTD, "once", "--config", self.config_path,
                                           "--date", day], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True, cwd=self.dir))
        for p in onces:
            _, err = p.communicate(timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0, err)
            self.assertNotRegex(err, r"(?i)database is locked|busy|constraint")
        # The sink counts a request when it arrives; the outbox once its answer is recorded.
        self.assertTrue(wait_for(lambda: self.status_json()["outbox"]["sent"] == 400, 30),
                        f"{self.status_json()['outbox']}; the sink saw {len(set(sink.ids()))}")
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=15)
        self.assertEqual(run.returncode, 0, self.run_log())
        ids = collections.Counter(sink.ids())
        self.assertEqual(len(ids), 400)
        self.assertEqual([i for i, n in ids.items() if n > 1], [])
        self.assertEqual(self.status_json()["outbox"]["sent"], 400)

    @sqlite_only("on PostgreSQL the second `once` refuses while the first holds the leader "
                 "lease; Issue14Migration (store tests) opens one new database twice at once")
    def test_two_first_runs_at_once_on_a_new_database(self):
        sink = self.sink()
        hook = notifier("hook", "webhook", url=sink.url())
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *many_entries(5)))
        for round_ in range(5):
            self.configure(hook, state=f"state-{round_}.db")
            mark = sink.count()
            procs = [subprocess.Popen([DIGESTD, "once", "--config", self.config_path, "--date",
                                       FIXTURE_DATE], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True, cwd=self.dir)
                     for _ in range(2)]
            for p in procs:
                _, err = p.communicate(timeout=TIMEOUT)
                self.assertEqual(p.returncode, 0, f"round {round_}: {err}")
                self.assertNotRegex(err, r"(?i)migrat|schema|locked|error")
            ids = collections.Counter(r.id for r in sink.records()[mark:])
            self.assertEqual(len(ids), 5, f"round {round_}")
            self.assertEqual(max(ids.values()), 1, f"round {round_}: {ids}")


class FullDisk(DeliveryCase):
    LIMIT = 4 << 20  # RLIMIT_FSIZE for the limited runs
    ROOM = 6 * 600   # bytes left under it in the matches file: about six lines of 20

    def test_file_notifier_under_a_file_size_limit_writes_whole_lines_only(self):
        # Issue 7 point 11: the matches file can take only part of the batch.
        self.configure(notifier("log", "file", path="matches.jsonl"), watch("all", ["log"]))
        self.write_digest(FIXTURE_DATE, digest(FIXTURE_DATE, *many_entries(20)))
        # The limit applies to every file the process grows, the state too: give it room
        # (4 MiB) and let earlier lines fill the matches file to just under it.
        filler = json.dumps({"filler": "x" * 1000}) + "\n"
        with open(self.matches, "w", encoding="utf-8") as f:
            size = 0
            while size + len(filler) <= self.LIMIT - self.ROOM:
                f.write(filler)
                size += len(filler)
            f.write(" " * (self.LIMIT - self.ROOM - size - 1) + "\n")  # a blank line, ignored

        # 1. However digestd groups its appends, the file gets whole lines or nothing.
        self.limited_once()
        rows = {r["id"] for r in self.outbox_rows()}
        self.assertEqual(len(rows), 20)
        first = self.check_lines_match_the_outbox()
        self.assertLess(len(first), 20, "everything fit: the test would prove nothing")

        # 2. One line per write: some fit, the one that does not is cut back whole.
        self.configure(notifier("log", "file", path="matches.jsonl", max_in_flight=1),
                       watch("all", ["log"]))
        self.retry_pending()
        self.limited_once()
        second = self.check_lines_match_the_outbox()
        self.assertGreater(len(second), len(first), "no line fit one by one")
        self.assertLess(len(second), 20, "everything fit: the test would prove nothing")
        size_then = os.path.getsize(self.matches)

        # 3. Room again: the rest goes out, every line exactly once.
        self.retry_pending()
        self.once_proc(FIXTURE_DATE, expect=0)
        with open(self.matches, "rb") as f:
            f.seek(size_then)
            later = f.read().splitlines(keepends=True)
        # The row that failed in step 2 had room for part of its line, not all of it: a torn
        # line could have stayed behind.
        self.assertLess(0, self.LIMIT - size_then)
        self.assertLess(self.LIMIT - size_then, max(len(line) for line in later))
        ids = collections.Counter(l["notification"] for l in self.notification_lines())
        self.assertEqual(set(ids), rows)
        self.assertEqual(max(ids.values()), 1)
        self.assertEqual({r["state"] for r in self.outbox_rows()}, {"sent"})

    @property
    def matches(self):
        return os.path.join(self.dir, "matches.jsonl")

    def limited_once(self):
        """`digestd once` under RLIMIT_FSIZE, SIGXFSZ ignored (writes fail with EFBIG)."""
        def limited():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.LIMIT, self.LIMIT))

        proc = subprocess.run([DIGESTD, "once", "--config", self.config_path, "--date",
                               FIXTURE_DATE], capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=self.dir, preexec_fn=limited)
        for name in ("state.db", "state.db-wal"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                self.assertLess(os.path.getsize(path), self.LIMIT, f"{name} reached the limit")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("File too large", proc.stderr)
        return proc

    def check_lines_match_the_outbox(self):
        """The notification ids in the file: each once, each a sent row; the rest pending."""
        ids = [l["notification"] for l in self.notification_lines()]
        self.assertEqual(len(ids), len(set(ids)), "a line written twice")
        for row in self.outbox_rows():
            self.assertEqual(row["state"], "sent" if row["id"] in ids else "pending", row)
        return ids

    def notification_lines(self):
        """The matches file's notification lines; fails on a torn (unparsable) line."""
        out = []
        with open(self.matches, encoding="utf-8") as f:
            text = f.read()
        self.assertTrue(text.endswith("\n"), "the file ends in a torn line")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                self.fail(f"torn line {number}: {line[:80]!r}")
            if "notification" in obj:
                out.append(obj)
        return out


class Sink(unittest.TestCase):
    """The recording sink itself: a sink that cannot tell good from bad proves nothing."""

    def test_signature_check_matches_the_standard_webhooks_vector(self):
        secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        body = b'{"test": 2432232314}'
        expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        self.assertEqual(sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body),
                         expected)
        with WebhookSink(secrets=[secret, SECRET_NEW], lifetime=20) as sink:
            headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
                       "webhook-timestamp": "1614265330",
                       "webhook-signature": "v1,bm90IGl0 " + expected}
            self.post(sink.url(), body, headers)
            self.post(sink.url(), body + b" ", headers)  # tampered
            good, tampered = sink.records()
            self.assertEqual(good.signatures_valid, [True, False])
            self.assertEqual(tampered.signatures_valid, [False, False])

    def test_process_sink_logs_fails_first_and_stops_by_itself(self):
        with_dir = self.temp_dir()
        port_file = os.path.join(with_dir, "port")
        log = os.path.join(with_dir, "log.jsonl")
        proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "webhook_sink.py"),
                                 "--port-file", port_file, "--log", log, "--fail-first", "1",
                                 "503", "--retry-after", "9", "--lifetime", "5"])
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.assertTrue(wait_for(lambda: os.path.exists(port_file), 10))
        with open(port_file, encoding="utf-8") as f:
            url = f"http://127.0.0.1:{f.read().strip()}/x"
        first = self.post(url, b"{}", {"webhook-id": "a"})
        second = self.post(url, b'{"n": 1}', {"webhook-id": "b"})
        self.assertEqual((first[0], first[1].get("Retry-After")), (503, "9"))
        self.assertEqual(second[0], 200)
        # Each answer line follows its answer, written by the thread that answered: the
        # first request's line may come after the second's.
        self.assertTrue(wait_for(lambda: len(read_log(log)) == 2 and
                                 all(e["answered"] is not None for e in read_log(log)), 10))
        entries = read_log(log)
        self.assertEqual([(e["id"], e["status"], e["answered"]) for e in entries],
                         [("a", 503, True), ("b", 200, True)])
        self.assertEqual(entries[1]["body"], '{"n": 1}')
        proc.wait(timeout=15)  # its lifetime ends it

    def post(self, url, body, headers):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, dict(answer.headers)
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers)

    def temp_dir(self):
        import tempfile
        tmp = tempfile.TemporaryDirectory(prefix="digestd-sink-")
        self.addCleanup(tmp.cleanup)
        return tmp.name


if __name__ == "__main__":
    unittest.main()
