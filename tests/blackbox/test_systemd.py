"""Issue 10, points 5-7: `digestd run` under a stand-in systemd. sd_notify messages read from
a NOTIFY_SOCKET the test creates (READY, STATUS, WATCHDOG every WATCHDOG_USEC/2, RELOADING,
STOPPING), /metrics scraped and parsed while a fetch hangs and after a cycle, and the three
log forms on stderr."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import prometheus_text
from digestd_harness import (DIGESTD, ServiceCase, WATCH_ALL, digest, entry, wait_for)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotifySocket:
    """An AF_UNIX datagram socket like systemd's: collects every message with its time."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []  # (monotonic time, {key: value})
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.done:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()

    def having(self, key, value=None):
        with self.lock:
            return [(t, m) for t, m in self.messages
                    if key in m and (value is None or m[key] == value)]

    def wait(self, key, value=None, count=1, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.having(key, value)) >= count:
                return True
            time.sleep(0.02)
        return False


def scrape(port, path="/metrics", timeout=2.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


class Notify(ServiceCase):
    def test_ready_status_watchdog_reloading_stopping(self):
        today = self.today()
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        notify = NotifySocket(self.dir)
        self.addCleanup(notify.close)
        proc = self.start({"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})

        self.assertTrue(notify.wait("READY", "1"), "no READY=1")
        # STATUS says what runs and when the next job is due.
        self.assertTrue(notify.wait("STATUS"))
        self.assertTrue(wait_for(lambda: any(m["STATUS"].startswith("idle; last job: 1 source ok")
                                               for _, m in notify.having("STATUS"))),
                        notify.having("STATUS"))
        idle = [m["STATUS"] for _, m in notify.having("STATUS") if m["STATUS"].startswith("idle")]
        self.assertRegex(idle[-1], r"; next: fetch hf-ko at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")

        # WATCHDOG=1 every WATCHDOG_USEC/2: at least 4 in 2.5 s, none more than 1 s apart.
        first = len(notify.having("WATCHDOG", "1"))
        time.sleep(2.5)
        pings = [t for t, _ in notify.having("WATCHDOG", "1")]
        self.assertGreaterEqual(len(pings) - first, 4, pings)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 1.0, gaps)

        # SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(notify.wait("RELOADING", "1"), "no RELOADING=1")
        reloading = notify.having("RELOADING", "1")[0]
        self.assertRegex(reloading[1].get("MONOTONIC_USEC", ""), r"^\d+$")
        self.assertTrue(wait_for(lambda: any(t > reloading[0]
                                             for t, _ in notify.having("READY", "1"))),
                        "no READY=1 after the reload")

        code, err = self.stop(proc)
        self.assertEqual(code, 0, err)
        self.assertTrue(notify.wait("STOPPING", "1", timeout=2), "no STOPPING=1")

    def test_libsystemd_is_loaded_only_where_systemd_listens(self):
        def mapped(proc):
            with open(f"/proc/{proc.pid}/maps") as maps:
                return "libsystemd.so.0" in maps.read()

        today = self.today()
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))
        proc = self.start()
        # Past its readiness (its first cycle ran), and a reload's: messages it would send.
        self.assertTrue(wait_for(lambda: len(self.matches_file()) == 1), "no first cycle")
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(proc.log.wait_for("configuration reloaded", 20), proc.log.text())
        self.assertFalse(mapped(proc))
        self.assertEqual(self.stop(proc)[0], 0)

        notify = NotifySocket(self.dir)
        self.addCleanup(notify.close)
        proc = self.start({"NOTIFY_SOCKET": notify.path})
        self.assertTrue(notify.wait("READY", "1"), "no READY=1")
        self.assertTrue(mapped(proc))
        self.assertEqual(self.stop(proc)[0], 0)

    def test_no_watchdog_pings_without_watchdog_usec(self):
        self.write_config(WATCH_ALL)
        notify = NotifySocket(self.dir)
        self.addCleanup(notify.close)
        proc = self.start({"NOTIFY_SOCKET": notify.path})
        self.assertTrue(notify.wait("READY", "1"))
        time.sleep(1.0)
        self.assertEqual(notify.having("WATCHDOG"), [])
        self.assertEqual(self.stop(proc)[0], 0)

    def test_watchdog_is_answered_while_a_fetch_hangs(self):
        port, accepted = self.hanging_server()
        self.write_config(WATCH_ALL, url="http://127.0.0.1:%d/{date}.md" % port)
        notify = NotifySocket(self.dir)
        self.addCleanup(notify.close)
        proc = self.start({"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "600000"})
        self.assertTrue(wait_for(lambda: accepted), "the fetch never connected")
        start = len(notify.having("WATCHDOG", "1"))
        time.sleep(1.5)
        self.assertGreaterEqual(len(notify.having("WATCHDOG", "1")) - start, 3)
        working = [m["STATUS"] for _, m in notify.having("STATUS")]
        self.assertIn("working: fetching hf-ko, then delivering", working[-1])
        self.assertEqual(self.stop(proc)[0], 0)


class Metrics(ServiceCase):
    def metrics_config(self, port, **kw):
        extra = kw.pop("daemon_extra", "")
        path = self.write_config(WATCH_ALL + '\n[[watch]]\nname = "quoted \\"x\\" \\\\ watch"\n'
                                 'keywords = ["model"]\nnotify = ["log"]\n', **kw)
        with open(path, encoding="utf-8") as f:
            text = f.read().replace(
                "[daemon]\n", f'[daemon]\nmetrics_listen = "127.0.0.1:{port}"\n{extra}', 1)
        self.write("digestd.toml", text)

    def test_scraped_during_a_long_fetch_and_parsed(self):
        hang_port, accepted = self.hanging_server()
        port = free_port()
        self.metrics_config(port, url="http://127.0.0.1:%d/{date}.md" % hang_port)
        proc = self.start()
        self.assertTrue(wait_for(lambda: accepted), "the fetch never connected")
        began = time.monotonic()
        status, content_type, text = scrape(port)
        self.assertLess(time.monotonic() - began, 2.0)
        self.assertEqual(status, 200)
        self.assertTrue(content_type.startswith("text/plain; version=0.0.4"), content_type)
        families = prometheus_text.parse(text)
        # Declared from the config before any job ends: zeros, every family typed.
        self.assertEqual(prometheus_text.sample(families, "digestd_source_fetches_total",
                                                source="hf-ko"), 0)
        self.assertEqual(prometheus_text.sample(families, "digestd_notifier_pending",
                                                notifier="log"), 0)
        for name, kind in [("digestd_source_failures_total", "counter"),
                           ("digestd_source_last_success_timestamp_seconds", "gauge"),
                           ("digestd_source_papers_total", "counter"),
                           ("digestd_source_fetch_duration_seconds", "summary"),
                           ("digestd_notifier_sent_total", "counter"),
                           ("digestd_notifier_failed_total", "counter"),
                           ("digestd_notifier_dead_total", "counter"),
                           ("digestd_notifier_delivery_latency_seconds", "summary"),
                           ("digestd_watch_matches_total", "counter"),
                           ("digestd_matches_total", "counter"),
                           ("digestd_cycle_duration_seconds", "summary")]:
            self.assertEqual(families[name]["type"], kind, name)
        # Anything but /metrics is a 404; the loop keeps serving after it.
        with self.assertRaises(urllib.error.HTTPError) as caught:
            scrape(port, "/")
        self.assertEqual(caught.exception.code, 404)
        # A client that connects and says nothing does not block the next scrape.
        idle = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(idle.close)
        self.assertEqual(scrape(port)[0], 200)
        code, err = self.stop(proc)
        self.assertEqual(code, 0, err)

    def test_counts_after_a_cycle(self):
        today = self.today()
        port = free_port()
        self.metrics_config(port, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model"),
                                        entry("2401.00002", "B model"),
                                        entry("2401.00003", "Unrelated")))
        proc = self.start()
        self.assertTrue(wait_for(lambda: len(self.matches_file()) == 2), "first cycle")

        def counted():
            f = prometheus_text.parse(scrape(port)[2])
            return f if prometheus_text.sample(f, "digestd_cycle_duration_seconds_count") else None
        self.assertTrue(wait_for(lambda: counted() is not None))
        f = counted()
        s = prometheus_text.sample
        self.assertEqual(s(f, "digestd_source_fetches_total", source="hf-ko"), 1)
        self.assertEqual(s(f, "digestd_source_failures_total", source="hf-ko"), 0)
        self.assertEqual(s(f, "digestd_source_papers_total", source="hf-ko"), 3)
        self.assertAlmostEqual(s(f, "digestd_source_last_success_timestamp_seconds", source="hf-ko"),
                               time.time(), delta=60)
        self.assertEqual(s(f, "digestd_source_fetch_duration_seconds_count", source="hf-ko"), 1)
        self.assertEqual(s(f, "digestd_watch_matches_total", watch="everything about models"), 2)
        # A label value with a quote and a backslash comes back as written.
        self.assertEqual(s(f, "digestd_watch_matches_total", watch='quoted "x" \\ watch'), 2)
        # Two watches, two papers, one notifier: 4 matches, 2 notifications sent.
        self.assertEqual(s(f, "digestd_matches_total"), 4)
        self.assertEqual(s(f, "digestd_notifier_sent_total", notifier="log"), 2)
        self.assertEqual(s(f, "digestd_notifier_pending", notifier="log"), 0)
        self.assertEqual(s(f, "digestd_notifier_delivery_latency_seconds_count", notifier="log"), 2)
        self.assertGreaterEqual(s(f, "digestd_cycle_duration_seconds_count"), 1)
        self.assertEqual(self.stop(proc)[0], 0)

    def test_a_reload_keeps_the_listening_address(self):
        port, other = free_port(), free_port()
        self.metrics_config(port)
        proc = self.start()
        self.assertTrue(wait_for(lambda: self._serves(port)), "no /metrics")
        self.metrics_config(other)
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(proc.log.wait_for("configuration reloaded", 20), proc.log.text())
        self.assertTrue(self._serves(port))
        self.assertFalse(self._serves(other))
        code, err = self.stop(proc)
        self.assertEqual(code, 0, err)
        self.assertIn("metrics_listen changed; it takes effect at a restart", err)
        self.assertIn("configuration reloaded", err)

    @staticmethod
    def _serves(port):
        try:
            return scrape(port, timeout=1)[0] == 200
        except OSError:
            return False

    def test_a_port_in_use_fails_the_start(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            self.metrics_config(port)
            proc = self.start()
            code = proc.wait(timeout=20)
        err = proc.log.finish()
        self.assertEqual(code, 1, err)
        self.assertIn("metrics_listen 127.0.0.1:%d: cannot bind" % port, err)


class ExpositionParser(unittest.TestCase):
    """The parser above must reject what a scraper rejects, or its passes mean nothing."""

    def test_rejects_malformed_expositions(self):
        bad = [
            "x 1\n",                                               # no TYPE
            "# TYPE x counter\nx{a=\"b} 1\n",                       # unterminated label
            "# TYPE x counter\nx{a=\"\\q\"} 1\n",                   # bad escape
            "# TYPE x counter\nx one\n",                            # not a number
            "# TYPE x counter\nx -1\n",                             # negative counter
            "# TYPE x counter\n# TYPE y gauge\ny 1\nx 1\n",         # x's samples after y
            "# TYPE x summary\nx 1\n",                              # summary without quantile
            "# TYPE x counter\n# TYPE x counter\nx 1\n",            # typed twice
            "# TYPE x counter\nx 1",                                # no final newline
        ]
        for text in bad:
            with self.assertRaises(prometheus_text.ExpositionError, msg=text):
                prometheus_text.parse(text)
        good = prometheus_text.parse('# HELP x h\n# TYPE x counter\nx{a="q\\"\\\\\\n"} 2\n')
        self.assertEqual(prometheus_text.sample(good, "x", a='q"\\\n'), 2)


class Logs(ServiceCase):
    def once_stderr(self, *args, env=None, stderr_file=None):
        full_env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        full_env.update(env or {})
        return subprocess.run([DIGESTD, "once", "--config", os.path.join(self.dir, "digestd.toml"),
                               *args], capture_output=stderr_file is None,
                              stderr=stderr_file, stdout=subprocess.PIPE if stderr_file else None,
                              text=True, timeout=60, cwd=self.dir, env=full_env)

    def setUp(self):
        super().setUp()
        today = self.today()
        self.write_config(WATCH_ALL, first_run="notify")
        self.write_digest(today, digest(today, entry("2401.00001", "A model")))

    def test_plain_lines_carry_a_utc_timestamp(self):
        proc = self.once_stderr()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = [l for l in proc.stderr.splitlines() if "source hf-ko" in l]
        self.assertTrue(lines, proc.stderr)
        self.assertRegex(lines[0],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z digestd: info: source hf-ko: ")

    def test_journal_priority_prefixes_when_stderr_is_the_journal_stream(self):
        with tempfile.TemporaryFile(mode="w+") as err:
            st = os.fstat(err.fileno())
            proc = self.once_stderr(env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
                                    stderr_file=err)
            err.seek(0)
            text = err.read()
        self.assertEqual(proc.returncode, 0, text)
        self.assertRegex(text, r"(?m)^<6>info: source hf-ko: ")
        # JOURNAL_STREAM naming another stream (a child's stderr redirected elsewhere): plain.
        proc = self.once_stderr(env={"JOURNAL_STREAM": "1:1"})
        self.assertNotIn("<6>", proc.stderr)
        self.assertRegex(proc.stderr, r"(?m)^\d{4}-\d\d-\d\dT.*digestd: info: ")

    def test_json_one_object_per_line(self):
        proc = self.once_stderr("--log-format", "json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        records = [json.loads(line) for line in proc.stderr.splitlines()]
        self.assertTrue(records)
        for r in records:
            self.assertEqual(set(r) - {"source", "line"},
                             {"time", "level", "logger", "message", "pid", "thread"}, r)
            self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertTrue(any(r["message"].startswith("source hf-ko: ") and r["level"] == "info"
                            for r in records), records)

    def test_a_bad_log_format_is_a_usage_error(self):
        proc = self.once_stderr("--log-format", "xml")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--log-format", proc.stderr)

    def test_run_logs_json_too(self):
        proc = self.start(extra_args=("--log-format", "json"))
        self.assertTrue(proc.log.wait_for("running with", 20), proc.log.text())
        code, err = self.stop(proc)
        self.assertEqual(code, 0, err)
        messages = [json.loads(line)["message"] for line in err.splitlines()]
        self.assertIn("SIGTERM: stopping", messages)


if __name__ == "__main__":
    unittest.main()
