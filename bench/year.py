#!/usr/bin/python3
"""A year of daily digests in one state (issue 12, point 6): how the state grows, and what
the commands a person runs on it cost at the end.

Generates --days daily markdown digests of --papers papers each (the papers of bench/e2e.py,
each day its own), runs `digestd once --date D` for each day in order on one SQLite state
with one keyword watch to a `file` notifier, prints the state's size every --every days, then
the median wall time of --reps runs of `status`, `explain --paper`, `explain --date` and
`once` with nothing new.

    /usr/bin/python3 bench/year.py --digestd build/daemon/digestd [--days 365] [--papers 500]
        [--every 30] [--reps 3] [--work DIR]

Everything is local: the digests are `file://` URLs. About a minute for the default year.
"""
import argparse
import datetime
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402  (the papers and the digest layout)

START = datetime.date(2025, 1, 1)


def write_digests(folder, days, papers_a_day):
    rng = random.Random(20250101)
    os.makedirs(folder, exist_ok=True)
    keys = []
    for d in range(days):
        date = START + datetime.timedelta(days=d)
        papers = []
        for i in range(papers_a_day):
            p = e2e.paper(rng, d * papers_a_day + i)
            p["id"] = "%02d%02d.%05d" % (date.year % 100, date.month,
                                         (d * papers_a_day + i) % 100000)
            keys.append("arxiv:" + p["id"])
            papers.append(p)
        with open(os.path.join(folder, "%s.md" % date), "w", encoding="utf-8") as f:
            f.write(e2e.markdown_digest(str(date), papers))
    return keys


def run(cmd):
    started = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    if proc.returncode not in (0, 1):
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), proc.returncode,
                                          proc.stderr.decode("utf-8", "replace")[-2000:]))
    return time.monotonic() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--digestd", required=True)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--papers", type=int, default=500)
    ap.add_argument("--every", type=int, default=30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work")
    a = ap.parse_args()
    exe = os.path.abspath(a.digestd)
    work = a.work or tempfile.mkdtemp(prefix="digestd-year-")
    os.makedirs(work, exist_ok=True)
    digests = os.path.join(work, "digests")
    keys = write_digests(digests, a.days, a.papers)
    state = os.path.join(work, "state.db")
    for path in (state, state + "-wal", state + "-shm"):
        if os.path.exists(path):
            os.remove(path)
    cfg = os.path.join(work, "digestd.toml")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write('[daemon]\nstate = "%s"\nlog_level = "error"\n\n'
                '[[source]]\nname = "papers"\nkind = "markdown"\nurl = "file://%s/{date}.md"\n'
                'lookback_days = 0\nfirst_run = "notify"\n\n'
                '[[notifier]]\nname = "out"\nkind = "file"\npath = "%s"\n\n'
                '[[watch]]\nname = "w"\nquery = "sparse OR 희소화"\nnotify = ["out"]\n'
                % (state, digests, os.path.join(work, "out.jsonl")))
    print("%d days of %d papers; work folder %s\n" % (a.days, a.papers, work))
    print("| days | state MB | MB a day |\n|---|---|---|")
    last = START + datetime.timedelta(days=a.days - 1)
    spent = 0.0
    for d in range(a.days):
        date = START + datetime.timedelta(days=d)
        spent += run([exe, "once", "--config", cfg, "--date", str(date)])
        if (d + 1) % a.every == 0 or d + 1 == a.days:
            mb = os.path.getsize(state) / 1e6
            print("| %d | %.1f | %.2f |" % (d + 1, mb, mb / (d + 1)))
    print("\n%d daily runs took %.1f s (%.0f ms each)\n" % (a.days, spent, 1000 * spent / a.days))
    commands = [
        ("status", ["status"]),
        ("explain --paper", ["explain", "--paper", keys[-a.papers // 2]]),
        ("explain --date", ["explain", "--date", str(START + datetime.timedelta(days=a.days // 2))]),
        ("once, nothing new", ["once", "--date", str(last)]),
    ]
    print("| command, on the year's state | wall s (median of %d) |\n|---|---|" % a.reps)
    for label, args in commands:
        times = [run([exe, *args, "--config", cfg]) for _ in range(a.reps)]
        print("| %s | %.2f |" % (label, statistics.median(times)))
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
