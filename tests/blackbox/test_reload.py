"""Issue 10 points 1 and 4 on the real binary: the event loop answers SIGHUP (RELOADING),
/metrics and SIGTERM (STOPPING) within 2 s while a fetch hangs or 1,000 deliveries are in
flight; a reload with a bad file keeps the old config and names file:line:col; a key that
needs a restart is reported as such; and after logrotate renames a `file` notifier's file and
sends SIGHUP, new lines go to a new file at the configured path."""
import os
import signal
import time
import unittest

from digestd_harness import (ServiceCase, WATCH_ALL, digest, entry, many_entries, notifier,
                             wait_for)
from test_systemd import NotifySocket, free_port, scrape
from webhook_sink import WebhookSink

BOUND = 2.0  # seconds: the bound for an answer from the loop


class Responsive(ServiceCase):
    def with_metrics(self, port):
        path = os.path.join(self.dir, "digestd.toml")
        with open(path, encoding="utf-8") as f:
            text = f.read().replace("[daemon]\n", f'[daemon]\nmetrics_listen = "127.0.0.1:{port}"\n', 1)
        self.write("digestd.toml", text)

    def check_answers(self, proc, notify, port):
        # SIGHUP: RELOADING then READY again.
        reloads = len(notify.having("RELOADING", "1"))
        began = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(notify.wait("RELOADING", "1", count=reloads + 1, timeout=BOUND),
                        "no RELOADING within 2 s")
        self.assertLess(time.monotonic() - began, BOUND)
        # /metrics
        began = time.monotonic()
        status, _, text = scrape(port, timeout=BOUND)
        self.assertEqual(status, 200)
        self.assertIn("digestd_notifier_sent_total", text)
        self.assertLess(time.monotonic() - began, BOUND)
        # SIGTERM: STOPPING at once, and the process leaves.
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertTrue(notify.wait("STOPPING", "1", timeout=BOUND), "no STOPPING within 2 s")
        self.assertLess(time.monotonic() - began, BOUND)
        self.assertEqual(proc.wait(timeout=15), 0)

    def test_answers_while_1000_deliveries_are_in_flight(self):
        sink = WebhookSink(status=200, delay=0.05)
        self.addCleanup(sink.close)
        hook = notifier("hook", "webhook", url=sink.url("/hook"), max_in_flight=2)
        watch = '\n[[watch]]\nname = "all"\nquery = "*"\nnotify = ["hook"]\n'
        self.write_config(watch, first_run="notify", notifiers=hook)
        port = free_port()
        self.with_metrics(port)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        self.write_digest(today, digest(today, *many_entries(1000)))
        notify = NotifySocket(self.dir)
        self.addCleanup(notify.close)
        proc = self.start({"NOTIFY_SOCKET": notify.path})
        self.assertTrue(sink.wait_for(lambda records: len(records) >= 20, 60), "no deliveries")
        self.assertLess(sink.count(), 900, "the deliveries were not in flight any more")
        self.check_answers(proc, notify, port)

    def test_answers_while_a_fetch_hangs(self):
        hang_port, accepted = self.hanging_server()
        self.write_config(WATCH_ALL, url="http://127.0.0.1:%d/{date}.md" % hang_port)
        port = free_port()
        self.with_metrics(port)
        notify = NotifySocket(self.dir)
        self.addCleanup(notify.close)
        proc = self.start({"NOTIFY_SOCKET": notify.path})
        self.assertTrue(wait_for(lambda: accepted), "the fetch never connected")
        self.check_answers(proc, notify, port)


class Reload(ServiceCase):
    def test_bad_file_keeps_the_old_config_and_names_file_line_column(self):
        today = self.today()
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        proc = self.start()
        self.assertTrue(wait_for(lambda: len(self.matches_file()) == 1), "first cycle")
        path = os.path.join(self.dir, "digestd.toml")
        with open(path, encoding="utf-8") as f:
            good = f.read()
        self.write("digestd.toml", good + '\n[[watch]]\nname = "bad"\nnotify = ["nobody"]\n')
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(proc.log.wait_for("keeping the running configuration", 20),
                        proc.log.text())
        # A changed state path is valid but needs a restart: reported, not taken.
        self.write_config(WATCH_ALL, first_run="notify", state="other.db")
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(proc.log.wait_for("state changed; restart digestd", 20), proc.log.text())
        self.assertIsNone(proc.poll())
        code, err = self.stop(proc)
        self.assertEqual(code, 0, err)
        self.assertRegex(err, r"digestd\.toml:\d+:\d+: .*nobody")
        self.assertIn("keeping the running configuration", err)
        self.assertRegex(err, r"\[daemon\] state changed; restart digestd")
        self.assertFalse(self.state_exists("other.db"))

    def test_sighup_after_logrotate_writes_to_a_new_file(self):
        today = self.today()
        # Every minute, so a second paper is fetched after the rotation.
        source = ('[[source]]\nname = "minutely"\nkind = "markdown"\nschedule = "* * * * *"\n'
                  'first_run = "notify"\nlookback_days = 0\n'
                  'url = "file://' + os.path.join(self.dir, "more/{date:%Y/%m/%d}.md") + '"\n')
        self.write_config(WATCH_ALL, first_run="notify", extra_source=source)
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        y, m, d = today.split("-")
        self.write(f"more/{y}/{m}/{d}.md", digest(today, entry("2401.00009", "Placeholder")))
        proc = self.start()
        self.assertTrue(wait_for(lambda: len(self.matches_file()) == 1), "first cycle")
        live = os.path.join(self.dir, "matches.jsonl")
        os.rename(live, live + ".1")  # what logrotate does, then `postrotate` sends SIGHUP
        proc.send_signal(signal.SIGHUP)
        self.write(f"more/{y}/{m}/{d}.md", digest(today, entry("2401.00009", "Placeholder"),
                                                  entry("2401.00002", "Another model")))
        self.assertTrue(wait_for(lambda: os.path.exists(live), timeout=75),
                        "no new file after the rotation")
        code, err = self.stop(proc)
        self.assertEqual(code, 0, err)
        new_lines = self.matches_file()
        self.assertEqual([r["paper"]["key"] for r in new_lines], ["arxiv:2401.00002"])
        with open(live + ".1", encoding="utf-8") as f:
            self.assertEqual(len(f.read().splitlines()), 1, "the rotated file grew")


if __name__ == "__main__":
    unittest.main()
