"""`digestd migrate` on the real binary (issue 14 point 5): a SQLite state moved into
PostgreSQL keeps its first runs and what it sent, so the next `once` there sends nothing
twice and needs no baseline; a running `run` and a destination that holds rows are refused."""
import os
import time
import unittest

from digestd_harness import DeliveryCaseMixin, DigestdCase, digest, entry, notifier, watch
from pg_support import fresh_postgres_url
from webhook_sink import WebhookSink

D1 = "2024-01-29"
D2 = "2024-01-30"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Migrate(DeliveryCaseMixin, DigestdCase):
    def configure(self, sink, state="state.db"):
        hook = notifier("hook", "webhook", url=sink.url("/hook"), secret=[SECRET])
        path = self.write_config(watch("everything", ["hook"]), first_run="baseline",
                                 notifiers=hook)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.write("digestd.toml", text.replace('state = "state.db"', f'state = "{state}"'))

    def once_log(self, date):
        return self.run_digestd("once", "--config", self.config_path, "--date", date,
                                expect=0).stderr

    def sent_keys(self, sink):
        return sorted(r.json["papers"][0]["key"] for r in sink.records())

    def test_moving_up_needs_no_baseline_and_sends_nothing_twice(self):
        sink = WebhookSink(secrets=[SECRET])
        self.addCleanup(sink.close)
        self.configure(sink)
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model"),
                                     entry("2401.00002", "Another model")))
        self.assertIn("baseline", self.once_log(D1))
        self.write_digest(D2, digest(D2, entry("2401.00003", "A third model")))
        self.once_log(D2)
        self.assertEqual(self.sent_keys(sink), ["arxiv:2401.00003"])

        url = fresh_postgres_url(self)
        proc = self.run_digestd("migrate", "--from", "state.db", "--to", url, expect=0)
        self.assertIn("verified", proc.stdout)
        self.assertRegex(proc.stdout, r"(?m)^  sightings +3$")
        self.assertRegex(proc.stdout, r"(?m)^  outbox +1$")
        self.assertRegex(proc.stdout, r"(?m)^  sources +1$")
        self.assertIn("(PostgreSQL)", proc.stdout)

        # The same digests on PostgreSQL: no baseline again, nothing sent again.
        self.configure(sink, state=url)
        for date in (D1, D2):
            self.assertNotIn("baseline", self.once_log(date))
        self.assertEqual(self.sent_keys(sink), ["arxiv:2401.00003"])
        self.assertEqual(self.status_json()["backend"], "PostgreSQL")
        # A new paper goes out once.
        self.write_digest(D2, digest(D2, entry("2401.00003", "A third model"),
                                     entry("2401.00004", "A fourth model")))
        self.once_log(D2)
        self.once_log(D2)
        self.assertEqual(self.sent_keys(sink), ["arxiv:2401.00003", "arxiv:2401.00004"])

        # Copying once more into the same database is refused: it is not a fresh state.
        again = self.run_digestd("migrate", "--from", "state.db", "--to", url, expect=1)
        self.assertIn("not a fresh state", again.stderr)
        self.assertNotIn(url.split("@")[0] + ":", again.stderr)

    def test_a_running_service_on_the_source_is_refused(self):
        sink = WebhookSink(secrets=[SECRET])
        self.addCleanup(sink.close)
        self.configure(sink)
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model")))
        self.once_log(D1)
        proc = self.start_run()
        lock = os.path.join(self.dir, "state.db.lock")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(lock):
                with open(lock, encoding="utf-8") as f:
                    if f.read().strip():
                        break
            time.sleep(0.05)
        copy = os.path.join(self.dir, "copy.db")
        refused = self.run_digestd("migrate", "--from", "state.db", "--to", copy, expect=1)
        self.assertIn("another digestd run", refused.stderr)
        self.stop_run(proc)
        done = self.run_digestd("migrate", "--from", "state.db", "--to", copy, expect=0)
        self.assertIn("verified", done.stdout)

    def test_usage_and_a_missing_source(self):
        self.run_digestd("migrate", expect=2)
        self.run_digestd("migrate", "--from", "a.db", "--to", "a.db", expect=2)
        missing = self.run_digestd("migrate", "--from", "nowhere.db", "--to", "b.db", expect=1)
        self.assertIn("nowhere.db", missing.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "nowhere.db")))


if __name__ == "__main__":
    unittest.main()
