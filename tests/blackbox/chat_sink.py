"""A recording stand-in for the chat platforms (issue 9), stdlib only: one HTTP server on
127.0.0.1 per platform, answering as that platform does (Discord's message object, Telegram's
{"ok": true, ...}, Matrix's event id, ...) or with that platform's 429 form when told to.

    with ChatSink("discord", throttle_first=1, retry_after=2) as sink:
        ... point a discord notifier at sink.base + "/api/webhooks/1/token" ...
        sink.wait_for_count(2, timeout=30)
        sink.records()   # [ChatRecord, ...] in arrival order

Bounded: a sink closes itself after `lifetime` seconds (default 120).
"""
import http.server
import json
import threading
import time
import urllib.parse

LIFETIME = 120.0
MAX_BODY = 8 << 20


class ChatRecord:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.target = path                        # path and query, as sent
        parsed = urllib.parse.urlsplit(path)
        self.path = urllib.parse.unquote(parsed.path)
        self.query = urllib.parse.parse_qs(parsed.query)
        self.headers = headers                    # lower-case names
        self.raw_body = body
        self.body = body.decode("utf-8", "replace")
        self.received = time.monotonic()
        self.answered_at = None                   # monotonic time the answer went out
        self.status = None
        try:
            self.json = json.loads(self.body)
        except ValueError:
            self.json = None


def throttle_answer(kind, seconds):
    """(headers, body) of `kind`'s 429 asking to wait `seconds` (platforms.md §1)."""
    if kind == "discord":       # JSON retry_after (float seconds) and the header
        return ({"Retry-After": str(seconds)},
                {"message": "You are being rate limited.", "retry_after": float(seconds),
                 "global": False})
    if kind == "telegram":      # parameters.retry_after only
        return ({}, {"ok": False, "error_code": 429,
                     "description": f"Too Many Requests: retry after {seconds}",
                     "parameters": {"retry_after": seconds}})
    if kind == "matrix":        # retry_after_ms (the header is optional)
        return ({}, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests",
                     "retry_after_ms": seconds * 1000})
    if kind == "ntfy":          # ntfy sends no delay at all; a header is the sink's choice
        return ({"Retry-After": str(seconds)},
                {"code": 42901, "http": 429, "error": "limit reached"})
    return ({"Retry-After": str(seconds)}, "rate_limited")   # slack, teams, mattermost, gchat


def success_answer(kind, seq):
    """(status, body) of `kind`'s answer to a delivered message."""
    if kind == "discord":
        return 200, {"id": str(1185000000000000000 + seq), "type": 0, "content": ""}
    if kind == "telegram":
        return 200, {"ok": True, "result": {"message_id": 1000 + seq}}
    if kind == "matrix":
        return 200, {"event_id": f"$event{seq}:sink.test"}
    if kind == "googlechat":
        return 200, {"name": f"spaces/AAA/messages/m{seq}"}
    if kind == "ntfy":
        return 200, {"id": f"msg{seq}", "event": "message"}
    if kind == "teams":
        return 202, ""
    return 200, "ok"                                          # slack, mattermost


class ChatSink:
    """A platform's stand-in in a thread of this process. Thread-safe."""

    def __init__(self, kind, throttle_first=0, retry_after=2, status=None, lifetime=LIFETIME):
        self.kind = kind
        self._throttle_left = throttle_first
        self._retry_after = retry_after
        self._status = status                     # a fixed status instead of success
        self._lock = threading.Condition()
        self._records = []
        self._closing = threading.Event()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                sink._handle(self)

            do_PUT = do_GET = do_POST

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()

    def records(self):
        with self._lock:
            return list(self._records)

    def count(self):
        with self._lock:
            return len(self._records)

    def wait_for_count(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._records) < n:
                left = deadline - time.monotonic()
                if left <= 0 or self._closing.is_set():
                    return False
                self._lock.wait(min(left, 0.2))
            return True

    def close(self):
        if self._closing.is_set():
            return
        self._closing.set()
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        record = ChatRecord(handler.command, handler.path, headers, body)
        with self._lock:
            seq = len(self._records)
            self._records.append(record)
            extra = {}
            if self._throttle_left > 0:
                self._throttle_left -= 1
                status = 429
                extra, answer = throttle_answer(self.kind, self._retry_after)
            elif self._status is not None:
                status, answer = self._status, f"status {self._status}"
            else:
                status, answer = success_answer(self.kind, seq)
            record.status = status
            self._lock.notify_all()
        data = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type",
                                "text/plain" if isinstance(answer, str) else "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True
        with self._lock:
            record.answered_at = time.monotonic()
