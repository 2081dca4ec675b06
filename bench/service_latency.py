#!/usr/bin/env python3
"""How fast `digestd run`'s event loop answers while it is busy (issue 10 point 1, aim
<= 100 ms): /metrics scrapes and SIGHUP -> RELOADING=1 (read from a NOTIFY_SOCKET this
script creates), measured while

  deliveries  1,000 webhook deliveries are in flight to a sink on 127.0.0.1 that takes
              50 ms per request (max_in_flight = 2: about 25 s of delivering);
  fetch       the only source's fetch hangs on a listener that never answers (30 s timeout).

    python3 bench/service_latency.py --digestd build/daemon/digestd [--scrapes 200] [--reloads 20]

Prints median, p95 and max per measure and load. Not a test: numbers vary with the machine.
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "blackbox"))
from digestd_harness import digest, many_entries  # noqa: E402
from test_systemd import NotifySocket  # noqa: E402
from webhook_sink import WebhookSink  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def config(work, metrics_port, url, notifiers, watch_notify):
    return textwrap.dedent(f"""
        [daemon]
        state = "state.db"
        metrics_listen = "127.0.0.1:{metrics_port}"

        [[source]]
        name = "s"
        kind = "markdown"
        url = "{url}"
        lookback_days = 0
        first_run = "notify"
        timeout = "30s"
        """) + notifiers + textwrap.dedent(f"""
        [[watch]]
        name = "all"
        query = "*"
        notify = ["{watch_notify}"]
        """)


def percentiles(samples):
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return statistics.median(samples), p95, samples[-1]


def measure(digestd, work, busy, scrapes, reloads, label):
    notify = NotifySocket(work)
    metrics_port = int(open(os.path.join(work, "metrics.port")).read())
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    env.pop("WATCHDOG_USEC", None)
    proc = subprocess.Popen([digestd, "run", "--config", os.path.join(work, "digestd.toml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
                            env=env)
    try:
        if not busy(timeout=60):
            raise SystemExit(f"{label}: the load never started")
        scrape_ms = []
        for _ in range(scrapes):
            began = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                        timeout=5) as r:
                r.read()
            scrape_ms.append((time.monotonic() - began) * 1000)
        reload_ms = []
        for i in range(reloads):
            seen = len(notify.having("RELOADING", "1"))
            began = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            if not notify.wait("RELOADING", "1", count=seen + 1, timeout=5):
                raise SystemExit(f"{label}: no RELOADING within 5 s")
            at = notify.having("RELOADING", "1")[seen][0]
            reload_ms.append((at - began) * 1000)
            notify.wait("READY", "1", count=2 + i, timeout=5)
        still_busy = busy(timeout=0)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        notify.wait("STOPPING", "1", timeout=5)
        stop_ms = (notify.having("STOPPING", "1")[0][0] - began) * 1000
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()
    for name, samples in (("/metrics", scrape_ms), ("SIGHUP->RELOADING", reload_ms)):
        median, p95, worst = percentiles(samples)
        print(f"{label:10} {name:18} n={len(samples):4}  median {median:7.2f} ms  "
              f"p95 {p95:7.2f} ms  max {worst:7.2f} ms")
    print(f"{label:10} {'SIGTERM->STOPPING':18} n=   1  {stop_ms:.2f} ms"
          f"  (load still running at the end: {still_busy})")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digestd", default=os.path.join(HERE, "..", "build", "daemon", "digestd"))
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--reloads", type=int, default=20)
    args = parser.parse_args()
    args.digestd = os.path.abspath(args.digestd)
    today = time.strftime("%Y-%m-%d", time.gmtime())

    # 1,000 deliveries in flight.
    with tempfile.TemporaryDirectory(prefix="digestd-latency-") as work:
        sink = WebhookSink(status=200, delay=0.05)
        port = free_port()
        write(os.path.join(work, "metrics.port"), str(port))
        write(os.path.join(work, "digests", today + ".md"),
              digest(today, *many_entries(1000)))
        notifiers = textwrap.dedent(f"""
            [[notifier]]
            name = "hook"
            kind = "webhook"
            url = "{sink.url('/hook')}"
            max_in_flight = 2
            """)
        write(os.path.join(work, "digestd.toml"),
              config(work, port, "file://" + os.path.join(work, "digests", "{date}.md"),
                     notifiers, "hook"))

        def delivering(timeout):
            deadline = time.monotonic() + timeout
            while True:
                n = sink.count()
                if 20 <= n < 1000:
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
        measure(args.digestd, work, delivering, args.scrapes, args.reloads, "deliveries")
        sink.close()

    # A fetch that hangs.
    with tempfile.TemporaryDirectory(prefix="digestd-latency-") as work:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        accepted = []

        def accept():
            try:
                while True:
                    accepted.append(listener.accept()[0])
            except OSError:
                pass
        threading.Thread(target=accept, daemon=True).start()
        port = free_port()
        write(os.path.join(work, "metrics.port"), str(port))
        notifiers = textwrap.dedent("""
            [[notifier]]
            name = "screen"
            kind = "console"
            """)
        write(os.path.join(work, "digestd.toml"),
              config(work, port, f"http://127.0.0.1:{listener.getsockname()[1]}/{{date}}.md",
                     notifiers, "screen"))

        def fetching(timeout):
            deadline = time.monotonic() + timeout
            while not accepted and time.monotonic() < deadline:
                time.sleep(0.05)
            return bool(accepted)
        measure(args.digestd, work, fetching, args.scrapes, args.reloads, "fetch")
        listener.close()
        for c in accepted:
            c.close()


if __name__ == "__main__":
    main()
