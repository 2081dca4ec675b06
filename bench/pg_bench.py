#!/usr/bin/python3
"""digestd on PostgreSQL against SQLite (issue 14, point 6), on a throwaway local server.

Starts its own PostgreSQL (tests/support/pg_server.py) and measures two things:

1. The cost of committing a 10,000-paper digest: bench/store_bench's BM_CommitDigest on a
   fresh SQLite file and on a fresh PostgreSQL database (DIGESTD_BENCH_PG_URL), wall-clock
   medians of --reps repetitions.
2. Delivery throughput with 1, 2 and 4 `digestd run` instances on one database, and with
   one instance on a SQLite file for comparison. For each count, a fresh database gets --rows pending outbox rows: `digestd once` commits a
   --rows-paper digest for a match-all watch to a webhook (`group = "paper"`) whose target
   answers 503 while `retry_max_attempts = 1`, so every row goes dead at its first attempt;
   `digestd outbox retry --dead` then makes them all due. The sink starts accepting and the
   instances start together; the time runs from their start to the last new id the sink
   receives (at most --timeout s). Repeats are requests whose `webhook-id` the sink had
   already accepted.

    /usr/bin/python3 bench/pg_bench.py --digestd build/daemon/digestd \\
        --store-bench build/bench/store_bench [--rows 5000] [--instances sqlite,1,2,4]
        [--reps 3]
        [--max-in-flight 16] [--only commit|delivery]

The sink is one asyncio thread of this process on 127.0.0.1; the instances, PostgreSQL and
the sink share the machine's cores, which bounds what more instances can add on one host;
the table gives the CPU each used until the last row arrived. The server is pg_server.py's:
fsync off (synchronous_commit on), so a commit there costs no disk flush, where SQLite's
(synchronous = FULL) does.
"""
import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "support"))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (the generated papers of the end-to-end bench)
from pg_server import PgServer, server_processes  # noqa: E402

DATE = "2024-01-29"
COMMAND_TIMEOUT = 600  # any one digestd or store_bench command
STOP_TIMEOUT = 15      # SIGTERM, then SIGKILL


class WebhookSink:
    """A keep-alive HTTP/1.1 receiver on 127.0.0.1, in a thread of its own. Answers 503 until
    accept(), then 204, counting each accepted request by its webhook-id."""

    def __init__(self):
        self.accepting = False
        self.ids = {}            # webhook-id -> times accepted
        self.first_at = None     # monotonic time of the first accepted request
        self.last_new_at = None  # ... and of the last one with an id not seen before
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            sys.exit("pg_bench: the webhook sink did not start")

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.loop.create_server(lambda: _SinkProtocol(self), "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def accept(self):
        with self.lock:
            self.accepting = True
            self.ids.clear()
            self.first_at = self.last_new_at = None

    def refuse(self):
        with self.lock:
            self.accepting = False

    def answer(self, webhook_id):
        """The status line for a request carrying `webhook_id`."""
        with self.lock:
            if not self.accepting:
                return b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
            now = time.monotonic()
            if self.first_at is None:
                self.first_at = now
            seen = self.ids.get(webhook_id, 0)
            self.ids[webhook_id] = seen + 1
            if not seen:
                self.last_new_at = now
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    def cpu_seconds(self):
        """CPU time the sink's thread has used."""
        return time.clock_gettime(time.pthread_getcpuclockid(self.thread.ident))

    def counts(self):
        """(distinct ids, requests accepted)."""
        with self.lock:
            return len(self.ids), sum(self.ids.values())


class _SinkProtocol(asyncio.Protocol):
    def __init__(self, sink):
        self.sink = sink
        self.buf = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length, webhook_id = 0, ""
            for line in self.buf[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"webhook-id":
                    webhook_id = value.strip().decode("ascii", "replace")
            end = head_end + 4 + length
            if len(self.buf) < end:
                return
            self.buf = self.buf[end:]
            self.transport.write(self.sink.answer(webhook_id))


def run(cmd, ok=(0,), **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, **kw)
    if proc.returncode not in ok:
        sys.exit("pg_bench: %s exited %d:\n%s" % (" ".join(cmd), proc.returncode,
                                                 proc.stderr[-3000:]))
    return proc.stdout


# -- 1. the commit ------------------------------------------------------------------------

def bench_commit(store_bench, url, reps):
    """The median wall-clock ms of one 10,000-paper commit, by backend."""
    out = run([store_bench, "--benchmark_filter=^BM_CommitDigest(Postgres)?/10000$",
               "--benchmark_repetitions=%d" % reps, "--benchmark_format=json"],
              env=dict(os.environ, DIGESTD_BENCH_PG_URL=url))
    times = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") == "iteration":
            backend = "PostgreSQL" if "Postgres" in b["run_name"] else "SQLite"
            times.setdefault(backend, []).append(b["real_time"])  # ms: the benchmark's unit
    return {backend: statistics.median(t) for backend, t in times.items()}


# -- 2. delivery --------------------------------------------------------------------------

def write_config(path, url, work, port, max_in_flight, attempts):
    text = ('[daemon]\nstate = "%s"\nlog_level = "warn"\n\n'
            '[[source]]\nname = "papers"\nkind = "markdown"\nurl = "file://%s/{date}.md"\n'
            'first_run = "notify"\nlookback_days = 0\n\n'
            '[[notifier]]\nname = "hook"\nkind = "webhook"\nurl = "http://127.0.0.1:%d/hook"\n'
            'group = "paper"\nmax_in_flight = %d\nmin_interval = "0s"\n'
            'retry_max_attempts = %d\n\n'
            '[[watch]]\nname = "all"\nquery = "*"\nnotify = ["hook"]\n'
            % (url, work, port, max_in_flight, attempts))
    # 0600: digestd warns about a config others may read that names its state's URL.
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
              encoding="utf-8") as f:
        f.write(text)


def outbox_counts(digestd, cfg):
    # status exits 1 while rows are dead: that is what is being checked here.
    status = json.loads(run([digestd, "status", "--json", "--config", cfg], ok=(0, 1)))
    return status["outbox"]


def cpu_seconds(pids):
    """User + system CPU seconds the live processes `pids` have used so far."""
    ticks = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def stop_all(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(STOP_TIMEOUT)


def bench_delivery(digestd, pg, sink, work, instances, rows, max_in_flight, timeout, rep):
    """One run of `instances` (a count, or "sqlite": one instance on a SQLite file)."""
    if instances == "sqlite":
        folder = tempfile.mkdtemp(prefix="sqlite-", dir=work)
        url, instances = os.path.join(folder, "state.db"), 1
    else:
        url = pg.create_database("deliver_%d_%d" % (instances, rep))
    queue_cfg = os.path.join(work, "queue.toml")
    run_cfg = os.path.join(work, "run.toml")
    write_config(queue_cfg, url, work, sink.port, max_in_flight, attempts=1)
    write_config(run_cfg, url, work, sink.port, max_in_flight, attempts=12)
    # Every row dead at its first attempt, then all due at once.
    sink.refuse()
    once = subprocess.run([digestd, "once", "--config", queue_cfg, "--date", DATE],
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    counts = outbox_counts(digestd, queue_cfg)
    if counts.get("dead") != rows:
        sys.exit("pg_bench: expected %d dead rows, the outbox holds %s; once said:\n%s"
                 % (rows, counts, once.stderr[-2000:]))
    run([digestd, "outbox", "retry", "--dead", "--config", run_cfg])
    sink.accept()
    logs = [open(os.path.join(work, "run-%d.log" % i), "w") for i in range(instances)]
    server_pids = [pid for pid, _ in server_processes(pg.pid)]
    server_cpu, sink_cpu = cpu_seconds(server_pids), sink.cpu_seconds()
    started = time.monotonic()
    procs = [subprocess.Popen([digestd, "run", "--config", run_cfg], stdout=subprocess.DEVNULL,
                              stderr=log) for log in logs]
    try:
        deadline = started + timeout
        while sink.counts()[0] < rows and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                sys.exit("pg_bench: a digestd run instance exited early; see %s" % work)
            time.sleep(0.02)
        # What each part used until the last row arrived (new backends: the instances').
        cpu = {"digestd": cpu_seconds(p.pid for p in procs),
               "postgres": cpu_seconds(pid for pid, _ in server_processes(pg.pid))
               - server_cpu, "sink": sink.cpu_seconds() - sink_cpu}
        # Let a late repeat (a row sent by two instances) arrive before counting.
        time.sleep(1.0)
    finally:
        stop_all(procs)
        for log in logs:
            log.close()
    distinct, requests = sink.counts()
    sink.refuse()
    if distinct < rows:
        print("pg_bench: %d instance(s): only %d of %d rows arrived within %d s"
              % (instances, distinct, rows, timeout), file=sys.stderr)
        return None
    seconds = sink.last_new_at - started
    return {"seconds": seconds, "from_first": sink.last_new_at - sink.first_at,
            "repeats": requests - distinct, "cpu": cpu}


def label(instances):
    return "1 on SQLite" if instances == "sqlite" else "%d on PostgreSQL" % instances


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--digestd", help="the digestd binary (for the delivery bench)")
    ap.add_argument("--store-bench", help="the store_bench binary (for the commit bench)")
    ap.add_argument("--rows", type=int, default=5000,
                    help="outbox rows (papers of one digest; a source body stops at 20 MB, "
                    "about 15,000 of these papers)")
    ap.add_argument("--instances", default="sqlite,1,2,4",
                    help="instance counts on PostgreSQL; `sqlite`: one instance on a SQLite "
                    "file, for comparison")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-in-flight", type=int, default=16)
    ap.add_argument("--timeout", type=int, default=300, help="per delivery run, seconds")
    ap.add_argument("--only", choices=("commit", "delivery"))
    ap.add_argument("--work")
    a = ap.parse_args()
    do_commit, do_delivery = a.only in (None, "commit"), a.only in (None, "delivery")
    if do_commit and not a.store_bench:
        ap.error("--store-bench is needed for the commit bench (or --only delivery)")
    if do_delivery and not a.digestd:
        ap.error("--digestd is needed for the delivery bench (or --only commit)")
    work = a.work or tempfile.mkdtemp(prefix="digestd-pg-bench-")
    with PgServer() as pg:
        if do_commit:
            m = bench_commit(os.path.abspath(a.store_bench), pg.url, a.reps)
            print("10,000-paper commit: SQLite %.0f ms, PostgreSQL %.0f ms (medians of %d)"
                  % (m["SQLite"], m["PostgreSQL"], a.reps))
        if do_delivery:
            digestd = os.path.abspath(a.digestd)
            os.makedirs(os.path.join(work, "one"), exist_ok=True)
            e2e.write_inputs(work, a.rows, 0, DATE)
            sink = WebhookSink()
            table = []
            for n in [x if x == "sqlite" else int(x) for x in a.instances.split(",")]:
                runs = [bench_delivery(digestd, pg, sink, work, n, a.rows, a.max_in_flight,
                                       a.timeout, rep) for rep in range(a.reps)]
                runs = [r for r in runs if r]
                if not runs:
                    table.append((n, None, None, None, None, None))
                    continue
                seconds = statistics.median(r["seconds"] for r in runs)
                first = statistics.median(r["seconds"] - r["from_first"] for r in runs)
                cpu = {k: statistics.median(r["cpu"][k] for r in runs) for k in runs[0]["cpu"]}
                table.append((n, seconds, a.rows / seconds, sum(r["repeats"] for r in runs),
                              first, cpu))
            print("\n%d rows to one webhook on 127.0.0.1, max_in_flight = %d, min_interval = 0; "
                  "medians of %d; seconds from the instances' start to the last new id\n"
                  % (a.rows, a.max_in_flight, a.reps))
            print("| instances | rows | seconds | deliveries/s | repeats | first delivery "
                  "after s | CPU s: digestd / postgres / sink |")
            print("|---|---|---|---|---|---|---|")
            for n, seconds, rate, repeats, first, cpu in table:
                if seconds is None:
                    print("| %s | %d | timed out | – | – | – | – |" % (label(n), a.rows))
                else:
                    print("| %s | %d | %.2f | %.0f | %d | %.2f | %.1f / %s / %.1f |"
                          % (label(n), a.rows, seconds, rate, repeats, first, cpu["digestd"],
                             "–" if n == "sqlite" else "%.1f" % cpu["postgres"], cpu["sink"]))
            if any(row[1] is None for row in table):
                print("the instances' logs are in %s" % work)
                return 1
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
