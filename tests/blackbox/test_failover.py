"""Failover on a PostgreSQL state (issue 14): several `digestd run` instances on one
database, one leader by lease, a recording webhook sink on 127.0.0.1. SIGKILL the leader
(mid-cycle and mid-delivery) and the survivor takes over within the lease; nothing is lost,
and a repeat comes only under the same outbox id. A PostgreSQL restart crashes nobody.

Each class starts a PostgreSQL server of its own, since these tests kill and restart things.
DIGESTD_FAILOVER_KILLS=N runs the kill loop N times (100 for the long version; 5 in CI)."""
import itertools
import json
import os
import random
import re
import signal
import statistics
import subprocess
import textwrap
import time
import unittest

from digestd_harness import DIGESTD, DeliveryCaseMixin, DigestdCase, digest, entry, notifier, watch
from pg_support import PgServer, PgServerError
from webhook_sink import WebhookSink

LEASE = 3.0                     # seconds, as `leader_lease = "3s"`
TAKEOVER_BOUND = 3 * LEASE      # the issue asks for a takeover within the lease plus a margin
DELIVERY_TIMEOUT = 30.0
KILLS = int(os.environ.get("DIGESTD_FAILOVER_KILLS") or 5)
HOLDER_PID = re.compile(r"/(\d+):\d+$")  # "HOST/PID:START"
_databases = itertools.count()


def wait_for(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


class PostgresServerCase(DeliveryCaseMixin, DigestdCase):
    """A PostgreSQL server per class, a fresh database and a webhook sink per test, and a
    digest for today that grows by the papers a test adds."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg = PgServer()
        try:
            cls.pg.start()
        except PgServerError as e:
            cls.pg.stop()
            raise unittest.SkipTest(f"no PostgreSQL server to start: {e}")

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        name = f"failover_{os.getpid()}_{next(_databases)}"
        self.state_url = self.pg.create_database(name)
        self.addCleanup(self.pg.drop_database, name)
        self.sink = WebhookSink(lifetime=max(600.0, KILLS * 30.0), delay=0.0, delay_max=0.1)
        self.addCleanup(self.sink.close)
        self.entries = []
        self.next_paper = 1
        self.logs = []
        source_url = "file://" + os.path.join(self.dir, "digests/{date:%Y/%m/%d}.md")
        self.write("digestd.toml", textwrap.dedent(f"""
            [daemon]
            state = "{self.state_url}"
            timezone = "UTC"
            leader_lease = "{int(LEASE)}s"

            [[source]]
            name = "hf-ko"
            kind = "markdown"
            url = "{source_url}"
            lookback_days = 0
            first_run = "notify"
            """) + notifier("hook", "webhook", url=self.sink.url()) + watch("all", ["hook"]))
        os.chmod(self.config_path, 0o600)

    # --- papers ----------------------------------------------------------------------------

    def add_papers(self, count):
        """Adds `count` new papers to today's digest; returns their keys."""
        keys = []
        for _ in range(count):
            arxiv_id = f"2402.{self.next_paper:05d}"
            self.next_paper += 1
            self.entries.append(entry(arxiv_id, f"Paper {arxiv_id} on models"))
            keys.append("arxiv:" + arxiv_id)
        date = today()
        self.write_digest(date, digest(date, *self.entries))
        return keys

    def delivered(self):
        """{paper key: [webhook-id of each request that carried it]}."""
        seen = {}
        for record in self.sink.records():
            for key in record.paper_keys:
                seen.setdefault(key, []).append(record.id)
        return seen

    def wait_delivered(self, keys, timeout=DELIVERY_TIMEOUT):
        ok = self.sink.wait_for(
            lambda records: set(keys) <= {k for r in records for k in r.paper_keys}, timeout)
        missing = set(keys) - set(self.delivered())
        self.assertTrue(ok, f"not delivered within {timeout:.0f} s: {sorted(missing)}\n"
                        + self.log_tails())

    def assert_each_once(self, keys):
        seen = self.delivered()
        for key in keys:
            self.assertEqual(len(seen.get(key, [])), 1, f"{key}: {seen.get(key)}")

    # --- instances -------------------------------------------------------------------------

    def start_instance(self):
        """`digestd run` with its log in run-N.log; killed at cleanup if still running."""
        path = os.path.join(self.dir, f"run-{len(self.logs)}.log")
        self.logs.append(path)
        with open(path, "ab") as log:
            proc = subprocess.Popen([DIGESTD, "run", "--config", self.config_path],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=log, cwd=self.dir)
        proc.log = path
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc

    def log_tails(self, lines=15):
        out = []
        for path in self.logs:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = [l for l in f.read().splitlines() if "warning:" not in l]
            out.append(f"--- {os.path.basename(path)}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    def log_of(self, proc):
        with open(proc.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def leader_pid(self):
        """The pid of the instance whose lease is active, or None."""
        # Before the first instance made the schema, status has nothing to show: no leader.
        proc = self.run_digestd("status", "--json", "--config", self.config_path)
        try:
            leader = json.loads(proc.stdout).get("leader")
        except ValueError:
            return None
        if not leader or not leader.get("active"):
            return None
        match = HOLDER_PID.search(leader["holder"])
        self.assertIsNotNone(match, leader)
        return int(match.group(1))

    def wait_leader(self, among, timeout):
        """Polls until an instance of `among` (Popen objects) leads; returns it."""
        by_pid = {p.pid: p for p in among}
        pid = wait_for(lambda: (lambda pid: pid if pid in by_pid else None)(self.leader_pid()),
                       timeout)
        self.assertIn(pid, by_pid, f"no leader among {sorted(by_pid)} within {timeout} s\n"
                      + self.log_tails())
        return by_pid[pid]

    def kill_and_time_takeover(self, leader, survivors):
        """SIGKILLs `leader`; returns the survivor that took the lease and how long it took."""
        killed_at = time.monotonic()
        leader.kill()
        leader.wait(timeout=10)
        successor = self.wait_leader(survivors, TAKEOVER_BOUND + 5)
        return successor, time.monotonic() - killed_at

    def stop_within(self, proc, seconds):
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=seconds), 0, self.log_tails())


class Failover(PostgresServerCase):
    def test_once_on_postgresql(self):
        check = self.run_digestd("check", "--config", self.config_path, expect=0)
        self.assertIn("ok", check.stdout)
        keys = self.add_papers(3)
        self.once(today())
        self.assert_each_once(keys)
        self.assertEqual(len(self.sink.records()), 3)
        self.assertEqual(self.once(today()), [])
        self.assertEqual(len(self.sink.records()), 3, "a second once sent again")
        status = self.status_json()
        self.assertEqual(status["backend"], "PostgreSQL")
        self.assertEqual(status["state"], self.state_url)

    def test_status_before_any_instance_ran_says_so(self):
        # A password in the URL (the test server trusts anyone) is never shown.
        with open(self.config_path, encoding="utf-8") as f:
            text = f.read()
        with_password = self.state_url.replace("://digestd_test@", "://digestd_test:s3cret@")
        self.assertNotEqual(with_password, self.state_url)
        self.write("digestd.toml", text.replace(self.state_url, with_password))
        os.chmod(self.config_path, 0o600)
        proc = self.run_digestd("status", "--config", self.config_path, expect=1)
        self.assertIn("no state yet", proc.stderr)
        self.assertIn(self.state_url, proc.stderr)
        self.assertNotIn("s3cret", proc.stderr)

    def test_two_instances_one_leads_and_survivor_takes_over(self):
        keys = self.add_papers(3)
        first, second = self.start_instance(), self.start_instance()
        leader = self.wait_leader([first, second], 20)
        survivor = second if leader is first else first
        self.wait_delivered(keys)
        time.sleep(1.0)  # a late duplicate would come now
        self.assert_each_once(keys)
        leads = [p for p in (first, second) if "leads; it runs the fetch jobs" in self.log_of(p)]
        self.assertEqual(leads, [leader], self.log_tails())

        new_keys = self.add_papers(2)
        successor, took = self.kill_and_time_takeover(leader, [survivor])
        print(f"\ntakeover after SIGKILL of the leader: {took:.2f} s (lease {LEASE:.0f} s)")
        self.assertLessEqual(took, TAKEOVER_BOUND, self.log_tails())
        self.wait_delivered(new_keys)
        time.sleep(1.0)
        self.assert_each_once(keys + new_keys)
        self.assertIsNone(successor.poll())
        self.stop_within(successor, 5)

    def test_kill_loop(self):
        rng = random.Random(14)
        all_keys = self.add_papers(2)
        instances = [self.start_instance(), self.start_instance()]
        self.wait_leader(instances, 20)
        takeovers = []
        for _ in range(KILLS):
            leader = self.wait_leader(instances, TAKEOVER_BOUND + 5)
            all_keys += self.add_papers(3)
            # The leader may still be in the cycle and the deliveries of its takeover; SIGUSR1
            # has it look at the outbox too. The next leader fetches the new papers.
            leader.send_signal(signal.SIGUSR1)
            time.sleep(rng.uniform(0.0, 0.4))
            instances.remove(leader)
            _, took = self.kill_and_time_takeover(leader, instances)
            takeovers.append(took)
            instances.append(self.start_instance())
        self.wait_delivered(all_keys, timeout=DELIVERY_TIMEOUT + 10)
        time.sleep(1.0)
        seen = self.delivered()
        lost = [k for k in all_keys if k not in seen]
        repeated = sum(len(ids) - 1 for ids in seen.values())
        print(f"\nkill loop: {KILLS} kills, {len(all_keys)} papers; takeover max "
              f"{max(takeovers):.2f} s, median {statistics.median(takeovers):.2f} s; "
              f"lost {len(lost)}, repeated {repeated}")
        self.assertEqual(lost, [])
        for key, ids in seen.items():
            self.assertEqual(len(set(ids)), 1, f"{key} repeated under other ids: {ids}")
        self.assertLessEqual(max(takeovers), TAKEOVER_BOUND, self.log_tails())
        for proc in instances:
            self.assertIsNone(proc.poll(), self.log_tails())
            self.stop_within(proc, 5)


class HungLeader(PostgresServerCase):
    def test_a_stopped_leader_is_replaced_and_writes_nothing_after(self):
        keys = self.add_papers(2)
        first, second = self.start_instance(), self.start_instance()
        leader = self.wait_leader([first, second], 20)
        survivor = second if leader is first else first
        self.wait_delivered(keys)
        # The sink has a paper once its request arrives, and answers up to 0.1 s later: the
        # leader is stopped once it has recorded what it sent. Stopped with a transfer whose
        # result is not recorded, its row may go out again (a repeat under the same id, which
        # delivery at least once allows, seen once in a CI run; not what this test is about).
        recorded = wait_for(lambda: not self.outbox_rows("--state", "sending"), DELIVERY_TIMEOUT)
        self.assertTrue(recorded, self.log_tails())
        # SIGSTOP: the process and its sessions stay, but nothing renews the lease. The
        # papers added now are for the successor, which fetches every source as it takes over.
        new_keys = self.add_papers(2)
        stopped_at = time.monotonic()
        leader.send_signal(signal.SIGSTOP)
        try:
            successor = self.wait_leader([survivor], TAKEOVER_BOUND + 5)
            took = time.monotonic() - stopped_at
            print(f"\ntakeover after SIGSTOP of the leader: {took:.2f} s (lease {LEASE:.0f} s)")
            self.assertLessEqual(took, TAKEOVER_BOUND, self.log_tails())
            self.wait_delivered(new_keys)
        finally:
            leader.send_signal(signal.SIGCONT)
        # Woken, the old leader finds its lease gone: it says so and stops fetching.
        lost = wait_for(lambda: "leader lease: lost" in self.log_of(leader), 2 * LEASE + 5)
        self.assertTrue(lost, self.log_tails())
        self.assertEqual(self.leader_pid(), successor.pid)
        time.sleep(1.0)
        self.assert_each_once(keys + new_keys)
        for proc in (leader, successor):
            self.assertIsNone(proc.poll(), self.log_tails())
            self.stop_within(proc, 5)


class WakeUps(PostgresServerCase):
    def test_outbox_retry_wakes_an_instance_on_another_connection(self):
        # Every delivery fails for good: the rows go dead, and the instance has nothing due.
        self.sink.configure(status=400)
        keys = self.add_papers(2)
        instance = self.start_instance()
        self.wait_leader([instance], 20)
        dead = wait_for(lambda: len(self.outbox_rows("--state", "dead")) == 2, DELIVERY_TIMEOUT)
        self.assertTrue(dead, self.log_tails())
        requests = len(self.sink.records())
        # `outbox retry` runs elsewhere (no pid to signal on a shared state): its NOTIFY
        # wakes the instance, which sends at once instead of at a timer it has not set.
        self.sink.configure(status=200)
        retried_at = time.monotonic()
        self.run_digestd("outbox", "retry", "--dead", "--config", self.config_path, expect=0)
        self.assertTrue(self.sink.wait_for(lambda records: len(records) >= requests + 2, 10),
                        "the retried rows were not sent within 10 s\n" + self.log_tails())
        print(f"\noutbox retry to delivery on a woken instance: "
              f"{time.monotonic() - retried_at:.2f} s")
        self.assertEqual({k for r in self.sink.records()[requests:] for k in r.paper_keys},
                         set(keys))
        self.stop_within(instance, 5)


class PostgresRestart(PostgresServerCase):
    def test_postgresql_restart(self):
        keys = self.add_papers(2)
        instances = [self.start_instance(), self.start_instance()]
        self.wait_leader(instances, 20)
        self.wait_delivered(keys)
        self.pg.restart()
        time.sleep(2 * LEASE)  # the instances find their sessions gone and reconnect
        for proc in instances:
            self.assertIsNone(proc.poll(), "an instance died with the database\n"
                              + self.log_tails())
        # A fetch comes on a schedule (a minute at best) or with a new leader: the leader
        # stops cleanly and resigns, and the other instance, on its reconnected session,
        # takes the lease over and fetches the new paper.
        new_keys = self.add_papers(1)
        leader = self.wait_leader(instances, TAKEOVER_BOUND + 5)
        instances.remove(leader)
        self.stop_within(leader, 5)
        self.wait_leader(instances, TAKEOVER_BOUND + 5)
        self.wait_delivered(new_keys)
        time.sleep(1.0)
        self.assert_each_once(new_keys)
        # A paper sent just before the restart may go again (its "sent" was not committed
        # yet), but only under the same outbox id.
        for key, ids in self.delivered().items():
            self.assertEqual(len(set(ids)), 1, f"{key} repeated under other ids: {ids}")
        self.stop_within(instances[0], 5)


if __name__ == "__main__":
    unittest.main()
