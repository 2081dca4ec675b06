"""A recording webhook receiver for digestd's black-box tests (stdlib only).

Listens on 127.0.0.1 (port 0), records every request (webhook-id, webhook-timestamp,
webhook-signature, body, when it came) and answers as told: a fixed status, a delay before
each answer, the first N requests failed with a status, or no answer at all (hang). Given
the notifier's secrets it checks each request's Standard Webhooks signatures.

In a test:

    with WebhookSink(secrets=["whsec_..."], status=200) as sink:
        ... point a notifier at sink.url("/hook") ...
        sink.wait_for_count(3, timeout=10)
        sink.records()   # [Record, ...] in arrival order

As a process (for tests that must keep a sink alive across their own steps):

    python3 webhook_sink.py --port-file F --log F [--delay S] [--delay-max S]
        [--fail-first N STATUS] [--status CODE] [--hang] [--retry-after S]
        [--secret whsec_...]... [--lifetime S]

writes its port to --port-file once it listens and one JSON object per line to --log,
flushed per line: a request line when a request arrives ({"seq", "id", "timestamp",
"signature", "body", ...}) and an answer line once its answer went out or failed
({"answered": seq, "status", "ok"}). read_log() joins the two.

Bounded: a sink stops by itself after its lifetime (default 120 s), and a process sink also
exits when its stdin closes if --exit-on-stdin-close is given. A hanging or delayed answer
ends as soon as the sink is closed.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import random
import sys
import threading
import time

LIFETIME = 120.0
MAX_BODY = 4 << 20  # a digestd webhook body is kept under 20,000 bytes; allow far more


def sign(secret, msg_id, timestamp, body):
    """The Standard Webhooks signature ("v1,<base64>") of `body` (bytes) under `secret`."""
    key = base64.b64decode(_padded(secret.removeprefix("whsec_")))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _padded(text):
    return text + "=" * (-len(text) % 4)


def signature_matches(secrets, msg_id, timestamp, body, header):
    """For each of `secrets`, whether `header` (the webhook-signature value: space-separated
    "v1,..." entries) carries that secret's signature of (msg_id, timestamp, body)."""
    offered = (header or "").split()
    result = []
    for secret in secrets:
        expected = sign(secret, msg_id or "", timestamp or "", body)
        result.append(any(hmac.compare_digest(o, expected) for o in offered))
    return result


class Record:
    """One request as the sink saw it."""

    def __init__(self, seq, method, path, headers, body, secrets):
        self.seq = seq
        self.method = method
        self.path = path
        self.headers = headers                  # lower-case names
        self.raw_body = body
        self.body = body.decode("utf-8", "replace")
        self.id = headers.get("webhook-id")
        self.timestamp = headers.get("webhook-timestamp")
        self.signature = headers.get("webhook-signature")
        self.received = time.monotonic()
        self.wall = time.time()
        # One bool per configured secret: its signature is present and right.
        self.signatures_valid = signature_matches(secrets, self.id, self.timestamp, body,
                                                  self.signature) if secrets else []
        self.status = None                      # the status chosen; None: no answer (hang)
        self.answered = None                    # True once the answer was written
        try:
            self.json = json.loads(self.body)
        except ValueError:
            self.json = None

    @property
    def paper_keys(self):
        if not isinstance(self.json, dict):
            return []
        return [p.get("key") for p in self.json.get("papers") or []]

    def to_json(self):
        return {"seq": self.seq, "id": self.id, "timestamp": self.timestamp,
                "signature": self.signature, "signatures_valid": self.signatures_valid,
                "method": self.method, "path": self.path, "body": self.body,
                "status": self.status, "wall": self.wall}


class WebhookSink:
    """A webhook receiver in a thread of this process. Thread-safe; see the module doc."""

    def __init__(self, secrets=(), status=200, delay=0.0, delay_max=None, fail_first=0,
                 fail_status=500, hang=False, retry_after=None, lifetime=LIFETIME,
                 log_path=None, seed=None, responder=None):
        self.secrets = list(secrets)
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._records = []
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None
        self._random = random.Random(seed)
        # responder(record, earlier_records) -> a status for this request, or None for the
        # settings above; called under the sink's lock, so it must not block.
        self._responder = responder
        self.configure(status=status, delay=delay, delay_max=delay_max, fail_first=fail_first,
                       fail_status=fail_status, hang=hang, retry_after=retry_after)
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                sink._handle(self)

            do_PUT = do_GET = do_PATCH = do_DELETE = do_POST

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()

    # --- configuration -------------------------------------------------------------------

    def configure(self, **changes):
        """Changes how later requests are answered: status, delay (seconds), delay_max (a
        random delay in [delay, delay_max]), fail_first (the next N requests get
        fail_status), fail_status, hang (never answer), retry_after (a Retry-After value
        sent with 429 and 503)."""
        known = {"status", "delay", "delay_max", "fail_first", "fail_status", "hang",
                 "retry_after"}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown sink settings {sorted(unknown)}")
        with self._lock:
            for name, value in changes.items():
                setattr(self, "_" + name, value)

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    # --- what arrived --------------------------------------------------------------------

    def records(self):
        with self._lock:
            return list(self._records)

    def ids(self):
        return [r.id for r in self.records()]

    def count(self):
        with self._lock:
            return len(self._records)

    def wait_for(self, predicate, timeout):
        """Waits until predicate(records) is true; returns whether it became true."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self._records):
                left = deadline - time.monotonic()
                if left <= 0 or self._closing.is_set():
                    return predicate(self._records)
                self._lock.wait(min(left, 0.2))
            return True

    def wait_for_count(self, n, timeout):
        return self.wait_for(lambda records: len(records) >= n, timeout)

    # --- lifetime ------------------------------------------------------------------------

    def close(self):
        if self._closing.is_set():
            return
        self._closing.set()
        self._timer.cancel()
        with self._lock:
            self._lock.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self._lock:
            if self._log:
                self._log.close()
                self._log = None

    @property
    def closed(self):
        return self._closing.is_set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- serving -------------------------------------------------------------------------

    def _handle(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            record = Record(len(self._records), handler.command, handler.path, headers, body,
                            self.secrets)
            chosen = self._responder(record, self._records) if self._responder else None
            if chosen is not None:
                status = chosen
            elif self._hang:
                status = None
            elif self._fail_first > 0:
                self._fail_first -= 1
                status = self._fail_status
            else:
                status = self._status
            delay = self._delay
            if self._delay_max is not None:
                delay = self._random.uniform(self._delay, self._delay_max)
            retry_after = self._retry_after
            record.status = status
            self._records.append(record)
            self._write_log(record.to_json())
            self._lock.notify_all()

        if status is None:
            # Never answer; the connection closes when the sink does.
            self._closing.wait()
            handler.close_connection = True
            return
        if delay > 0 and self._closing.wait(delay):
            handler.close_connection = True
            return
        answer = b"accepted\n" if 200 <= status < 300 else b"status %d\n" % status
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Content-Length", str(len(answer)))
            if retry_after is not None and status in (429, 503):
                handler.send_header("Retry-After", str(retry_after))
            handler.end_headers()
            handler.wfile.write(answer)
            handler.wfile.flush()
            ok = True
        except OSError:
            handler.close_connection = True
            ok = False
        with self._lock:
            record.answered = ok
            self._write_log({"answered": record.seq, "status": status, "ok": ok})

    def _write_log(self, obj):
        if self._log:
            self._log.write(json.dumps(obj, ensure_ascii=False) + "\n")
            self._log.flush()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # digestd opens up to max_in_flight connections at once

    def handle_error(self, request, client_address):
        # Clients hang up mid-answer on purpose (timeouts, SIGKILL): not worth a traceback.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def read_log(path):
    """The request records of a --log file (dicts), each with "answered" (True, False, or
    None when no answer line came) merged in. Tolerates a torn last line."""
    requests, answers = [], {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "answered" in obj:
                answers[obj["answered"]] = obj["ok"]
            else:
                requests.append(obj)
    for r in requests:
        r["answered"] = answers.get(r["seq"])
    return requests


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port-file", required=True, help="the port is written here")
    parser.add_argument("--log", required=True, help="JSON lines, one per request and answer")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--delay-max", type=float, default=None,
                        help="with --delay: a random delay in [delay, delay-max]")
    parser.add_argument("--fail-first", nargs=2, type=int, metavar=("N", "STATUS"),
                        default=(0, 500))
    parser.add_argument("--hang", action="store_true", help="never answer")
    parser.add_argument("--retry-after", default=None)
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--lifetime", type=float, default=LIFETIME)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--exit-on-stdin-close", action="store_true")
    args = parser.parse_args(argv)

    sink = WebhookSink(secrets=args.secret, status=args.status, delay=args.delay,
                       delay_max=args.delay_max, fail_first=args.fail_first[0],
                       fail_status=args.fail_first[1], hang=args.hang,
                       retry_after=args.retry_after, lifetime=args.lifetime,
                       log_path=args.log, seed=args.seed)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{sink.port}\n")
    os.replace(tmp, args.port_file)  # readers never see a half-written port

    if args.exit_on_stdin_close:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except OSError:
                pass
            sink.close()
        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        while not sink._closing.wait(0.5):
            pass
    except KeyboardInterrupt:
        sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
