#!/usr/bin/python3
"""End-to-end table of the real digestd binary on generated inputs (issue 12, point 5).

Generates a 10,000-paper markdown digest (listed by votes, as a real one is) and the same
papers as an RSS 2.0 feed (by id), a set of 1,000 keyword/author watches, starts a feed
server, a webhook sink and an SMTP sink on 127.0.0.1 (threads of this process, so their CPU
is not counted as digestd's), runs `digestd once` first and second on each scenario, and
prints one table: wall, CPU (user + sys of digestd alone), peak RSS, state size and
deliveries per second. The feed is read from its file and, as a feed reader gets it, over
HTTP (libcurl and what it loads are part of that process's time and memory).

    /usr/bin/python3 bench/e2e.py --digestd build/daemon/digestd [--papers 10000]
        [--watches 1000] [--hooks 1000] [--reps 3] [--work DIR] [--only fanout,md-all,...]

Each figure is the median of --reps runs on a fresh state. `../shared/peers/run.sh
--digestd build/daemon/digestd` gives the peers' rows for the same kind of work.
"""
import argparse
import http.server
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

WORDS_EN = ("sparse attention diffusion retrieval agents reasoning alignment quantization "
            "distillation multimodal benchmark tokenizer speculative decoding mixture experts "
            "vision language robotics graph protein speech video editing evaluation").split()
WORDS_KO = ("희소화 추론 정렬 양자화 증류 멀티모달 벤치마크 토크나이저 추측 디코딩 전문가 혼합 "
            "비전 언어 로봇 그래프 단백질 음성 비디오 편집 평가 검색 생성 환각").split()
FIRST = ("Ada Alan Grace Torsten Yoshua Fei Minjun Seoyeon Jiho Yuna Wei Haruki Maria Ivan "
         "Amara Lucas Sofia Omar Lena Ravi Mei Jonas Aiko Diego Nadia Tomas Ingrid Kofi").split()
LAST = ("Lovelace Turing Hopper Hoefler Bengio Li Kim Lee Park Choi Chen Sato Garcia Petrov "
        "Okafor Martin Rossi Haddad Novak Iyer Wang Berg Tanaka Lopez Ahmed Silva Larsen Mensah "
        "Schmidt Dubois Moreau Kowalski Nguyen Singh Cohen Murphy").split()
NAMES = ["%s %s" % (f, l) for f in FIRST for l in LAST]


def paper(rng, i):
    title = " ".join(rng.choice(WORDS_EN).title() for _ in range(6))
    authors = rng.sample(NAMES, rng.randint(2, 7))
    bullets = []
    for _ in range(3):
        words = [rng.choice(WORDS_KO if rng.random() < 0.5 else WORDS_EN) for _ in range(40)]
        bullets.append(" ".join(words) + ".")
    return {"id": "2401.%05d" % (i + 1), "title": title, "authors": authors,
            "votes": rng.randint(0, 300), "bullets": bullets}


def markdown_digest(date, papers):
    """The text of a markdown digest of `papers` (see paper()) dated `date`."""
    md = ["## Daily Papers (%s)\n" % date]
    for p in papers:
        md.append("\n### [%s](https://arxiv.org/abs/%s)\n\n![](https://example.invalid/%s.png)\n"
                  "\nVote: %d\n\nAuthors: %s\n\n%s\n" % (
                      p["title"], p["id"], p["id"], p["votes"], ", ".join(p["authors"]),
                      "\n".join("- " + b for b in p["bullets"])))
    return "".join(md)


def write_inputs(work, n_papers, n_watches, date):
    rng = random.Random(20240129)
    papers = [paper(rng, i) for i in range(n_papers)]
    # Listed as a real digest lists them, by votes, most first: their ids in no order.
    by_votes = sorted(papers, key=lambda p: -p["votes"])
    with open(os.path.join(work, date + ".md"), "w", encoding="utf-8") as f:
        f.write(markdown_digest(date, by_votes))
    rss = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>bench</title>'
           '<link>https://example.invalid/</link><description>bench</description>']
    for p in papers:
        rss.append("<item><title>%s</title><link>https://arxiv.org/abs/%s</link>"
                   "<guid>https://arxiv.org/abs/%s</guid><dc:creator>%s</dc:creator>"
                   "<description>%s</description></item>" % (
                       p["title"], p["id"], p["id"], ", ".join(p["authors"]),
                       " ".join(p["bullets"])))
    rss.append("</channel></rss>\n")
    with open(os.path.join(work, "feed.xml"), "w", encoding="utf-8") as f:
        f.write("".join(rss))
    # The same feed with its first item only: what a service is before a large cycle.
    with open(os.path.join(work, "feed1.xml"), "w", encoding="utf-8") as f:
        f.write("".join(rss[:2] + rss[-1:]))
    # Like a real watch list: a few watches on common topics, many on rare terms and people.
    watches = []
    for i in range(n_watches):
        if i % 5 == 4:
            watches.append('authors = ["%s"]' % rng.choice(NAMES))
        elif i % 20 == 0:
            watches.append('keywords = ["%s %s"]' % (rng.choice(WORDS_EN), rng.choice(WORDS_EN)))
        else:
            rare = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7))
            watches.append('keywords = ["%s"]' % rare)
    one = markdown_digest(date, papers[:1])
    with open(os.path.join(work, "one", date + ".md"), "w", encoding="utf-8") as f:
        f.write(one)
    return watches


class WebhookSink:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    sink.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024  # a fan-out connects 64 at once; 5 would drop SYNs

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class FeedServer:
    """Serves the files of `folder` over HTTP/1.1 on a port of 127.0.0.1."""

    def __init__(self, folder):
        class Handler(http.server.SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=folder, **kwargs)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class SmtpSink:
    def __init__(self):
        from aiosmtpd.controller import Controller
        self.count = 0
        self.bytes = 0
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.count += 1
                sink.bytes += len(envelope.content)
                return "250 OK"

        # aiosmtpd's controller checks its port by connecting to it: it needs a real one.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


def config(work, name, source, notifiers, watches, notify):
    state = os.path.join(work, name, "state.db")
    text = ['[daemon]\nstate = "%s"\nlog_level = "warn"\nalert_notify = ["%s"]\n' % (
        state, notify[0])]
    text.append("\n[[source]]\n" + source)
    for n in notifiers:
        text.append("\n[[notifier]]\n" + n)
    for i, w in enumerate(watches):
        text.append('\n[[watch]]\nname = "w%d"\n%s\nnotify = [%s]\n' % (
            i, w, ", ".join('"%s"' % n for n in notify)))
    os.makedirs(os.path.join(work, name), exist_ok=True)
    path = os.path.join(work, name, "digestd.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(text))
    return path, state


def timed(cmd, work):
    # GNU time measures its own child: a child forked from this (large) Python process would
    # report Python's memory as its peak.
    out = os.path.join(work, "time.txt")
    proc = subprocess.run(["/usr/bin/time", "-o", out, "-f", "%e %U %S %M", *cmd],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(cmd), proc.stderr.decode("utf-8", "replace")[-2000:]))
    with open(out) as f:
        wall, user, system, rss_kb = f.read().split()[-4:]
    return float(wall), float(user) + float(system), int(rss_kb) / 1024.0


def vm_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def idle_rss(exe, work, name, source, papers, reps=3):
    """Median resident memory of `digestd run` once its start-up job has written `papers`
    lines and it is idle again, or None. Each wait is bounded."""
    out = os.path.join(work, name, "out.jsonl")
    cfg, state = config(work, name, source, ['name = "out"\nkind = "file"\npath = "%s"\n' % out],
                        ['query = "*"'], ["out"])
    figures = []
    for _ in range(reps):
        for path in (state, state + "-wal", state + "-shm", out):
            if os.path.exists(path):
                os.remove(path)
        proc = subprocess.Popen([exe, "run", "--config", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            lines = 0
            while time.monotonic() < deadline and proc.poll() is None:
                if os.path.exists(out):
                    with open(out, "rb") as f:
                        lines = sum(1 for _ in f)
                if lines >= papers:
                    break
                time.sleep(0.2)
            if lines < papers:
                print("run (%s): %d of %d lines after the bound" % (name, lines, papers))
                return None
            # The job's end (results committed, memory given back), and a pass of the kernel's
            # khugepaged (every 10 s), which fills any heap range still asking for huge pages.
            time.sleep(12)
            figures.append(vm_rss_mb(proc.pid))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return statistics.median(figures)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--digestd", required=True)
    ap.add_argument("--papers", type=int, default=10000)
    ap.add_argument("--watches", type=int, default=1000)
    ap.add_argument("--hooks", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work")
    ap.add_argument("--only", help="comma-separated scenario names to run (md-all, feed-all, "
                    "feed-http, md-watches, feed-mail, http-mail, fanout, idle); default: all")
    a = ap.parse_args()
    exe = os.path.abspath(a.digestd)
    work = a.work or tempfile.mkdtemp(prefix="digestd-e2e-")
    os.makedirs(os.path.join(work, "one"), exist_ok=True)
    date = "2024-01-29"
    watches = write_inputs(work, a.papers, a.watches, date)
    hooks, smtp, feeds = WebhookSink(), SmtpSink(), FeedServer(work)
    md = ('name = "papers"\nkind = "markdown"\nurl = "file://%s/{date}.md"\n'
          'first_run = "notify"\nlookback_days = 0\n' % work)
    feed = ('name = "papers"\nkind = "feed"\nurl = "file://%s/feed.xml"\nfirst_run = "notify"\n'
            % work)
    feed_http = ('name = "papers"\nkind = "feed"\nurl = "http://127.0.0.1:%d/feed.xml"\n'
                 'first_run = "notify"\n' % feeds.port)
    one = ('name = "papers"\nkind = "markdown"\nurl = "file://%s/one/{date}.md"\n'
           'first_run = "notify"\nlookback_days = 0\n' % work)
    file_notifier = lambda name: 'name = "out"\nkind = "file"\npath = "%s"\n' % os.path.join(
        work, name, "out.jsonl")
    mail = ('name = "out"\nkind = "email"\nurl = "smtp://127.0.0.1:%d"\n'
            'from = "digestd-bench@example.invalid"\nto = ["bench@example.invalid"]\n'
            'max_papers = %d\n' % (smtp.port, a.papers))
    every = ['query = "*"']
    scenarios = [
        ("markdown, 1 match-all watch -> file", "md-all", md, [file_notifier("md-all")], every,
         ["out"]),
        ("feed, 1 match-all watch -> file", "feed-all", feed, [file_notifier("feed-all")], every,
         ["out"]),
        ("feed over HTTP, 1 match-all watch -> file", "feed-http", feed_http,
         [file_notifier("feed-http")], every, ["out"]),
        ("markdown, %d watches -> file" % a.watches, "md-watches", md,
         [file_notifier("md-watches")], watches, ["out"]),
        ("feed -> one email with every paper", "feed-mail", feed, [mail], every, ["out"]),
        ("feed over HTTP -> one email with every paper", "http-mail", feed_http, [mail], every,
         ["out"]),
        ("1 paper -> %d webhooks" % a.hooks, "fanout", one,
         ['name = "h%d"\nkind = "webhook"\nurl = "http://127.0.0.1:%d/h/%d"\n' % (i, hooks.port, i)
          for i in range(a.hooks)], every, ["h%d" % i for i in range(a.hooks)]),
    ]
    wanted = set(a.only.split(",")) if a.only else None
    if a.only:
        unknown = wanted - {s[1] for s in scenarios} - {"idle"}
        if unknown:
            sys.exit("--only: unknown scenario(s): %s" % ", ".join(sorted(unknown)))
        scenarios = [s for s in scenarios if s[1] in wanted]
    rows = []
    for label, name, source, notifiers, wl, notify in scenarios:
        cfg, state = config(work, name, source, notifiers, wl, notify)
        firsts, seconds, sizes, rates = [], [], [], []
        for _ in range(a.reps):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(state + suffix):
                    os.remove(state + suffix)
            out = os.path.join(work, name, "out.jsonl")
            if os.path.exists(out):
                os.remove(out)
            before = hooks.count + smtp.count
            first = timed([exe, "once", "--config", cfg, "--date", date], work)
            delivered = hooks.count + smtp.count - before
            if name in ("md-all", "feed-all", "feed-http", "md-watches") and os.path.exists(out):
                with open(out, encoding="utf-8") as f:
                    delivered = sum(1 for _ in f)
            firsts.append(first)
            rates.append(delivered / first[0] if first[0] > 0 else 0.0)
            sizes.append(os.path.getsize(state) / 1e6)
            seconds.append(timed([exe, "once", "--config", cfg, "--date", date], work))
        med = lambda runs, k: statistics.median(r[k] for r in runs)
        rows.append((label + ", first run", med(firsts, 0), med(firsts, 1), med(firsts, 2),
                     statistics.median(sizes), statistics.median(rates)))
        rows.append((label + ", second run", med(seconds, 0), med(seconds, 1), med(seconds, 2),
                     None, None))
    print("\n%d papers, %d watches, %d webhooks; medians of %d runs; work folder %s\n" % (
        a.papers, a.watches, a.hooks, a.reps, work))
    print("| scenario | wall s | CPU s | peak RSS MiB | state MB | deliveries/s |")
    print("|---|---|---|---|---|---|")
    for label, wall, cpu, rss, size, rate in rows:
        print("| %s | %.3f | %.3f | %.1f | %s | %s |" % (
            label, wall, cpu, rss, "%.1f" % size if size is not None else "",
            "%.0f" % rate if rate is not None else ""))
    if smtp.count:
        print("\nSMTP sink: %d messages, %.1f KB each" % (smtp.count, smtp.bytes / smtp.count / 1e3))
    if wanted is None or "idle" in wanted:
        # `run` fetches today's date: the digest's date is written into the URL.
        # A service's size depends on which parser its jobs have run (each one's code pages
        # stay resident), so a large cycle is compared with a small one of the same kind.
        small_md = idle_rss(exe, work, "idle-small", one.replace("{date}", date), 1)
        small = idle_rss(exe, work, "idle-feed1", feed.replace("feed.xml", "feed1.xml"), 1)
        large = idle_rss(exe, work, "idle-large", feed, a.papers)
        large_md = idle_rss(exe, work, "idle-large-md", md.replace("{date}", date), a.papers)
        # A service's sources are fetched over HTTP: libcurl and the libraries it brings stay.
        small_http = idle_rss(exe, work, "idle-http1", feed_http.replace("feed.xml", "feed1.xml"),
                              1)
        large_http = idle_rss(exe, work, "idle-http", feed_http, a.papers)
        if small_md and small and large and large_md and small_http and large_http:
            print("\n`digestd run`, resident memory once its start-up job is done (medians of "
                  "%d): %.1f MiB after a 1-paper markdown job, %.1f MiB after a %d-paper one "
                  "(%+.1f MiB); %.1f MiB after a 1-item feed job, %.1f MiB after a %d-item one "
                  "(%+.1f MiB); over HTTP, %.1f MiB after a 1-item feed job, %.1f MiB after a "
                  "%d-item one (%+.1f MiB)" % (
                      a.reps, small_md, large_md, a.papers, large_md - small_md, small, large,
                      a.papers, large - small, small_http, large_http, a.papers,
                      large_http - small_http))
        else:
            print("\n`digestd run`: no idle figure (see the messages above)")
    smtp.controller.stop()
    hooks.server.shutdown()
    feeds.server.shutdown()
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
