"""Digest delivery on the real binary (issue 10 point 3): a watch with delivery = "digest"
holds its matches over two fetches and sends one message per notifier at its digest_schedule;
a digest watch with no matches sends nothing; nothing is doubled by a restart, and a SIGKILL
while the digest is being sent neither loses nor doubles it."""
import os
import time
import unittest

from digestd_harness import (DeliveryCaseMixin, DigestdCase, digest, entry, notifier,
                             wait_for, watch)
from webhook_sink import WebhookSink


def next_slot(lead=12):
    """The UTC minute at least `lead` seconds from now, as (cron, unix time)."""
    t = int(time.time()) + lead
    t += (60 - t % 60) % 60
    tm = time.gmtime(t)
    return f"{tm.tm_min} {tm.tm_hour} * * *", t




class DigestDelivery(DeliveryCaseMixin, DigestdCase):
    def configure(self, sinks, schedule):
        notifiers = "".join(notifier(name, "webhook", url=sink.url("/" + name))
                            for name, sink in sinks.items())
        watches = (watch("daily", list(sinks), query="model", delivery="digest",
                         digest_schedule=schedule) +
                   watch("quiet", list(sinks), query="nothing-matches-this", delivery="digest",
                         digest_schedule=schedule))
        self.write_config(watches, first_run="notify", notifiers=notifiers)

    def sink(self, **kw):
        sink = WebhookSink(status=200, **kw)
        self.addCleanup(sink.close)
        return sink

    def log(self):
        with open(os.path.join(self.dir, "run.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def fetch_two_days(self):
        """Two fetches, each with a matching paper: held, nothing sent."""
        self.write_digest("2024-01-29", digest("2024-01-29", entry("2401.00001", "A model")))
        self.once("2024-01-29")
        self.write_digest("2024-01-30", digest("2024-01-30", entry("2401.00002", "Another model"),
                                               entry("2401.00003", "Unrelated")))
        self.once("2024-01-30")

    def test_matches_of_two_fetches_go_out_as_one_message_at_the_schedule(self):
        sinks = {"a": self.sink(), "b": self.sink()}
        schedule, at = next_slot()
        self.configure(sinks, schedule)
        self.fetch_two_days()
        self.assertEqual([s.records() for s in sinks.values()], [[], []], "sent before the schedule")
        self.assertEqual(self.outbox_rows(), [])
        proc = self.start_run()
        # Nothing before the slot; one message per notifier after it.
        self.assertTrue(wait_for(lambda: all(s.count() == 1 for s in sinks.values()),
                                 at - time.time() + 30), self.log())
        for name, sink in sinks.items():
            record = sink.records()[0]
            self.assertGreaterEqual(record.wall, at - 1, "sent before the schedule")
            self.assertEqual(record.json["kind"], "digest")
            self.assertEqual(record.json["watches"], ["daily"])
            self.assertEqual(sorted(record.paper_keys), ["arxiv:2401.00001", "arxiv:2401.00002"])
        # The sink counts a request as it arrives; a SIGTERM before digestd has its answer
        # abandons the transfer with its row pending (README: "SIGTERM stops it at once"),
        # and the same message goes again. Stopped once both are recorded as sent.
        self.assertTrue(wait_for(lambda: [r["state"] for r in self.outbox_rows()] ==
                                 ["sent", "sent"], 30), self.log())
        self.stop_run(proc)
        # A restart and a `once` send nothing again; the quiet watch never sent anything.
        proc = self.start_run()
        time.sleep(3)
        self.stop_run(proc)
        self.once("2024-01-30")
        self.assertEqual([s.count() for s in sinks.values()], [1, 1])
        rows = self.outbox_rows()
        self.assertEqual(sorted((r["notifier"], r["kind"], r["state"]) for r in rows),
                         [("a", "digest", "sent"), ("b", "digest", "sent")])

    def test_once_sends_a_digest_that_is_due(self):
        sink = self.sink()
        schedule, at = next_slot(lead=3)
        self.configure({"a": sink}, schedule)
        self.fetch_two_days()
        self.assertEqual(sink.count(), 0)
        time.sleep(max(0.0, at - time.time()) + 1)
        self.once("2024-01-30")
        self.assertEqual(sink.count(), 1)
        self.assertEqual(len(sink.records()[0].paper_keys), 2)
        self.once("2024-01-30")
        self.assertEqual(sink.count(), 1)

    def test_sigkill_while_sending_neither_loses_nor_doubles_the_digest(self):
        sink = self.sink(delay=3.0)  # the digest is in flight for 3 s
        schedule, at = next_slot()
        self.configure({"a": sink}, schedule)
        self.fetch_two_days()
        proc = self.start_run()
        self.assertTrue(wait_for(lambda: sink.count() == 1, at - time.time() + 30), self.log())
        proc.kill()  # while the sink holds the request
        proc.wait(timeout=10)
        sink.configure(delay=0.0)
        proc = self.start_run()
        self.assertTrue(wait_for(lambda: any(r.status == 200 and r.answered
                                             for r in sink.records()[1:]), 30), self.log())
        self.stop_run(proc)
        records = sink.records()
        # The same message (one id) each time: delivered at least once, never a second digest.
        self.assertEqual({r.id for r in records}, {records[0].id})
        self.assertEqual(len(records[-1].paper_keys), 2)
        rows = self.outbox_rows()
        self.assertEqual([(r["kind"], r["state"]) for r in rows], [("digest", "sent")])


if __name__ == "__main__":
    unittest.main()
