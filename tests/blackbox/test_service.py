"""`digestd run` as a service: the real binary with real signals. It runs every source at
start, stays up on a bad reload, wakes on SIGUSR1, refuses a second instance on the same
state, and exits 0 on SIGTERM."""
import json
import os
import signal
import subprocess
import time
import unittest

from digestd_harness import (DIGESTD, ServiceCase, WATCH_ALL, digest, entry, sqlite_only,
                             wait_for)




class Service(ServiceCase):
    def test_runs_at_start_reloads_and_stops_cleanly(self):
        today = self.today()
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        proc = self.start()
        self.assertTrue(wait_for(lambda: len(self.matches_file()) == 1), "first cycle at start")

        # A broken config on SIGHUP is refused; the daemon keeps running the old one.
        with open(os.path.join(self.dir, "digestd.toml"), encoding="utf-8") as f:
            good = f.read()
        self.write("digestd.toml", good + "\n[[watch]\n")
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(proc.log.wait_for("has errors; keeping the running configuration", 20),
                        proc.log.text())
        self.assertIsNone(proc.poll(), "daemon died on a bad reload")

        # A good config on SIGHUP is taken.
        self.write("digestd.toml", good)
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGUSR1)
        self.assertTrue(proc.log.wait_for("configuration reloaded", 20), proc.log.text())
        self.assertTrue(proc.log.wait_for("SIGUSR1: looking at the outbox again", 20),
                        proc.log.text())
        self.assertIsNone(proc.poll())
        code, err = self.stop(proc)
        self.assertEqual(code, 0, err)
        # Nothing was sent twice across the reloads.
        self.assertEqual(len(self.matches_file()), 1)

    @sqlite_only("one `run` holds a SQLite state's lock file; a PostgreSQL state has several")
    def test_a_second_run_on_the_same_state_refuses_to_start(self):
        today = self.today()
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        proc = self.start()
        self.assertTrue(wait_for(lambda: len(self.matches_file()) == 1), "first cycle at start")
        second = subprocess.run([DIGESTD, "run", "--config", os.path.join(self.dir, "digestd.toml")],
                                capture_output=True, text=True, timeout=20, cwd=self.dir)
        self.assertEqual(second.returncode, 1)
        self.assertIn("another digestd run", second.stderr)
        self.assertIsNone(proc.poll(), "the first run kept running")
        self.assertEqual(self.stop(proc)[0], 0)

    def test_restart_does_not_duplicate(self):
        today = self.today()
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        proc = self.start()
        self.assertTrue(wait_for(lambda: len(self.matches_file()) == 1))
        self.assertEqual(self.stop(proc)[0], 0)
        proc = self.start()
        # Nothing to wait for: a second's run after the start, to see no second delivery.
        self.assertTrue(proc.log.wait_for("running with", 20), proc.log.text())
        time.sleep(1.0)
        self.assertEqual(self.stop(proc)[0], 0)
        self.assertEqual(len(self.matches_file()), 1)

    def test_bad_config_at_start_exits_78(self):
        self.write("digestd.toml", "[daemon]\nstate = 5\n")
        proc = subprocess.run([DIGESTD, "run", "--config", os.path.join(self.dir, "digestd.toml")],
                              capture_output=True, text=True, timeout=20)
        self.assertEqual(proc.returncode, 78)
        self.assertRegex(proc.stderr, r"digestd\.toml:2:\d+:")

    def test_a_sighup_or_sigusr1_while_it_starts_is_answered_once_it_runs(self):
        # Both end a process by default. One sent while digestd starts (logrotate's
        # postrotate, `kill -HUP` right after a restart) is held, then answered by the loop.
        many = "".join(f'[[watch]]\nname = "w{i}"\nkeywords = ["topic{i} model"]\n'
                       f'notify = ["log"]\n' for i in range(10000))
        self.write_config(WATCH_ALL + many)  # a start of a second or so: loading 10,000 watches
        proc = self.start()
        err = proc.log

        def held_while_starting():
            try:
                with open(f"/proc/{proc.pid}/status", encoding="utf-8") as f:
                    blocked = next(int(line.split()[1], 16) for line in f
                                   if line.startswith("SigBlk:"))
            except (OSError, StopIteration):
                return False
            return "running with" not in err.text() and blocked & (1 << (signal.SIGHUP - 1))

        self.assertTrue(wait_for(held_while_starting, 20), "no start seen holding SIGHUP\n" +
                        err.text())
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGUSR1)
        self.assertTrue(err.wait_for("SIGHUP: configuration reloaded", 60), err.text())
        self.assertTrue(err.wait_for("SIGUSR1: looking at the outbox again", 20), err.text())
        self.assertIsNone(proc.poll())
        code, text = self.stop(proc)
        self.assertEqual(code, 0, text)


@sqlite_only("`digestd backup` copies a SQLite state file")
class Backup(ServiceCase):
    def test_backup_while_the_service_runs_is_a_consistent_copy(self):
        # Issue 11 point 1: `digestd backup PATH` beside a running `digestd run`.
        import sqlite3
        today = self.today()
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model"),
                                        entry("2401.00002", "B model")))
        proc = self.start()
        self.assertTrue(wait_for(lambda: len(self.matches_file()) == 2), "first cycle at start")
        copy = os.path.join(self.dir, "copy.db")
        done = subprocess.run([DIGESTD, "backup", copy, "-c",
                               os.path.join(self.dir, "digestd.toml")],
                              capture_output=True, text=True, timeout=30, cwd=self.dir)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIsNone(proc.poll(), "the service kept running")
        db = sqlite3.connect(copy)
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            self.assertEqual(db.execute("SELECT count(*) FROM sightings").fetchone()[0], 2)
            self.assertGreaterEqual(db.execute("SELECT count(*) FROM outbox").fetchone()[0], 2)
        finally:
            db.close()
        code, err = self.stop(proc)
        self.assertEqual(code, 0, err)


class StopDuringFetch(ServiceCase):
    def test_sigterm_while_a_fetch_hangs_exits_at_once_and_counts_no_failure(self):
        # Issue 7: the work runs off the event loop, and a stopping service cancels its fetch.
        port, accepted = self.hanging_server()
        self.write_config(WATCH_ALL, first_run="notify",
                          url="http://127.0.0.1:%d/{date}.md" % port)
        proc = self.start()
        self.assertTrue(wait_for(lambda: accepted, 20), "the fetch never connected")
        stopped_at = time.monotonic()
        code, err = self.stop(proc)
        took = time.monotonic() - stopped_at
        self.assertEqual(code, 0, err)
        self.assertLess(took, 2.0, err)
        status = subprocess.run([DIGESTD, "status", "--json", "--config",
                                 os.path.join(self.dir, "digestd.toml")],
                                capture_output=True, text=True, timeout=20, cwd=self.dir)
        self.assertEqual(json.loads(status.stdout)["sources"][0]["failures"], 0, status.stdout)


if __name__ == "__main__":
    unittest.main()
