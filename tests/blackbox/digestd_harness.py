"""Shared helpers for the black-box tests: run the real digestd binary on configs and
digests written to a temporary directory. Every call is bounded in time.

The state backend comes from $DIGESTD_TEST_BACKEND: "sqlite" (the default) puts the state in
a file in the test's directory, "postgresql" in a fresh database per test on the test server
(pg_support.py). A test names its state with `self.state_location()` and reads the same on
both; a test that looks at the SQLite file itself carries `@sqlite_only("why")`."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest

from pg_support import NO_SERVER, fresh_postgres_url, postgres_server_url, psql

DIGESTD = os.environ.get("DIGESTD", "digestd")
TIMEOUT = 60
BACKEND = os.environ.get("DIGESTD_TEST_BACKEND", "") or "sqlite"
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"DIGESTD_TEST_BACKEND={BACKEND!r}: expected sqlite or postgresql")
ON_POSTGRESQL = BACKEND == "postgresql"


def wait_for(predicate, timeout=20.0):
    """Polls `predicate` until it holds or `timeout` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class StderrReader:
    """Collects a process's stderr lines in a thread, so a test can wait for one."""

    def __init__(self, proc):
        self.lines = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc):
        for line in proc.stderr:
            with self._lock:
                self.lines.append(line)

    def text(self):
        with self._lock:
            return "".join(self.lines)

    def wait_for(self, needle, timeout, count=1):
        """Whether `needle` shows `count` times within `timeout` seconds."""
        return wait_for(lambda: self.text().count(needle) >= count, timeout)

    def finish(self, timeout=10):
        """Everything the process wrote, once its stderr has ended (after it exited)."""
        self._thread.join(timeout)
        return self.text()


def sqlite_only(reason):
    """Skips a test or class on PostgreSQL, saying why: sqlite_only("reads the state file")."""
    return unittest.skipIf(ON_POSTGRESQL, "SQLite only: " + reason)


def entry(arxiv_id, title, votes=10, authors="Ada Lovelace, Alan Turing", bullets=None):
    """One digest entry in the canonical layout (FORMATS.md §1.2)."""
    bullets = bullets or [f"{title}에 대한 요약 문장이다."]
    vote_line = f"Vote: {votes}\n\n" if votes is not None else "Vote: -\n\n"
    return (f"### [{title}](https://arxiv.org/abs/{arxiv_id})\n\n"
            f"![](https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv_id}.png)\n\n"
            f"{vote_line}Authors: {authors}\n\n" + "".join(f"- {b}\n" for b in bullets) + "\n")


def digest(date, *entries):
    return f"## Daily Papers ({date})\n\n" + "".join(entries)


class DigestdCase(unittest.TestCase):
    """A temp dir with digests/YYYY/MM/DD.md, a config, and helpers to run digestd."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="digestd-bb-")
        self.dir = self._tmp.name
        self.addCleanup(self._tmp.cleanup)
        self._states = {}

    def state_location(self, name="state.db"):
        """The `[daemon] state` value for the state called `name`: the file `name`, relative
        to the config, on SQLite; on PostgreSQL a database of this test's own, made on first
        use and dropped at cleanup. The same name gives the same state within a test."""
        if name not in self._states:
            if ON_POSTGRESQL and postgres_server_url() is None:
                # Asked for PostgreSQL by name: no server is a failure, not a skip.
                raise AssertionError(NO_SERVER)
            self._states[name] = fresh_postgres_url(self) if ON_POSTGRESQL else name
        return self._states[name]

    def state_exists(self, name="state.db"):
        """Whether digestd has made the state called `name`: the file, or any table."""
        location = self.state_location(name)
        if not ON_POSTGRESQL:
            return os.path.exists(os.path.join(self.dir, location))
        return psql(location, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                    ).strip() != "0"

    def state_shown(self, name="state.db"):
        """How `status` names that state: the file's absolute path, or the URL."""
        location = self.state_location(name)
        return location if ON_POSTGRESQL else os.path.join(self.dir, location)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def write_digest(self, date, text):
        y, m, d = date.split("-")
        return self.write(f"digests/{y}/{m}/{d}.md", text)

    def remove_digest(self, date):
        y, m, d = date.split("-")
        os.remove(os.path.join(self.dir, f"digests/{y}/{m}/{d}.md"))

    def write_config(self, watches, first_run="baseline", lookback_days=0, extra_source="",
                     notifiers=None, url=None, state="state.db"):
        url = url or "file://" + os.path.join(self.dir, "digests/{date:%Y/%m/%d}.md")
        notifiers = notifiers or textwrap.dedent("""
            [[notifier]]
            name = "log"
            kind = "file"
            path = "matches.jsonl"

            [[notifier]]
            name = "screen"
            kind = "console"
            """)
        text = textwrap.dedent(f"""
            [daemon]
            state = {toml_value(self.state_location(state))}
            timezone = "UTC"

            [[source]]
            name = "hf-ko"
            kind = "markdown"
            url = "{url}"
            lookback_days = {lookback_days}
            first_run = "{first_run}"
            """) + extra_source + notifiers + watches
        return self.write("digestd.toml", text)

    def run_digestd(self, *args, expect=None, timeout=TIMEOUT):
        proc = subprocess.run([DIGESTD, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.dir)
        if expect is not None:
            self.assertEqual(proc.returncode, expect,
                             f"digestd {' '.join(args)}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def once(self, date, *extra, expect=0):
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", date, "--json", *extra, expect=expect)
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    def matches_file(self):
        path = os.path.join(self.dir, "matches.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


WATCH_ALL = """
[[watch]]
name = "everything about models"
keywords = ["model"]
notify = ["log"]
"""


# --- Delivery helpers (issue 7): notifier tables, the outbox and status as JSON. ---

def toml_value(value):
    """A Python value as a TOML value: str, bool, int, list of those, dict (inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string is JSON's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def notifier(name, kind, **keys):
    """A [[notifier]] table: notifier("hook", "webhook", url=..., secret=[...])."""
    lines = ["", "[[notifier]]", f"name = {toml_value(name)}", f"kind = {toml_value(kind)}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def watch(name, notify, query="*", **keys):
    """A [[watch]] table matching every paper by default."""
    lines = ["", "[[watch]]", f"name = {toml_value(name)}", f"query = {toml_value(query)}",
             f"notify = {toml_value(list(notify))}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def many_entries(count, first=1, prefix="2401", title="Paper"):
    """`count` distinct entries with arXiv ids PREFIX.NNNNN from `first` on."""
    return [entry(f"{prefix}.{i:05d}", f"{title} {i} on models", votes=i % 50)
            for i in range(first, first + count)]


class DeliveryCaseMixin:
    """Outbox and status helpers for a DigestdCase: every call bounded by TIMEOUT."""

    @property
    def config_path(self):
        return os.path.join(self.dir, "digestd.toml")

    def digestd_json_lines(self, *args, expect=0):
        proc = self.run_digestd(*args, "--config", self.config_path, expect=expect)
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    def outbox_rows(self, *filters):
        """`outbox list --json` rows, optionally with --state S / --notifier N."""
        return self.digestd_json_lines("outbox", "list", "--json", *filters)

    def status_json(self):
        proc = self.run_digestd("status", "--json", "--config", self.config_path)
        self.assertIn(proc.returncode, (0, 1), proc.stderr)
        return json.loads(proc.stdout)

    def start_run(self):
        """`digestd run` on the config, its log appended to run.log; killed at cleanup."""
        with open(os.path.join(self.dir, "run.log"), "ab") as log:
            proc = subprocess.Popen([DIGESTD, "run", "--config", self.config_path],
                                    stdout=subprocess.DEVNULL, stderr=log, cwd=self.dir)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc

    def stop_run(self, proc):
        """SIGTERM, and a clean exit within 20 s."""
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=20), 0)


class ServiceCase(DigestdCase):
    """`digestd run` on the test's digestd.toml with real signals. Its stderr is read as it
    comes (`proc.log`), so a test waits for a line instead of sleeping."""

    def start(self, env=None, extra_args=()):
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
        full_env.update(env or {})
        proc = subprocess.Popen([DIGESTD, "run", "--config", os.path.join(self.dir, "digestd.toml"),
                                 *extra_args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                cwd=self.dir, env=full_env)
        proc.log = StderrReader(proc)

        def end():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.log.finish()
            proc.stderr.close()
        self.addCleanup(end)
        return proc

    def stop(self, proc):
        """SIGTERM: the exit code (within 20 s) and all the run logged."""
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        return code, proc.log.finish()

    def today(self):
        return time.strftime("%Y-%m-%d", time.gmtime())

    def hanging_server(self):
        """A listener that accepts and never answers: a fetch that hangs until cancelled.
        Its port, and the list of connections it accepted."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        self.addCleanup(listener.close)
        accepted = []

        def accept():
            try:
                while True:
                    accepted.append(listener.accept()[0])
            except OSError:
                pass
        threading.Thread(target=accept, daemon=True).start()
        self.addCleanup(lambda: [c.close() for c in accepted])
        return listener.getsockname()[1], accepted
