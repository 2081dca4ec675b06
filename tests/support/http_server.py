"""A scripted HTTP/1.1 server on 127.0.0.1 for digestd's tests (stdlib only).

Binds port 0 and prints the chosen port as its first stdout line. Exits by itself after
--lifetime seconds, or as soon as its stdin closes, so it never outlives the test that
started it. Each connection runs in its own thread, so a hanging handler blocks nobody.

Paths (query parameters in brackets):
  /ok                       200 "hello digestd\n"
  /etag                     200 with ETag and Last-Modified; 304 when If-None-Match or
                            If-Modified-Since matches
  /404 /500                 that status
  /429                      429 with Retry-After: 7
  /status[?code=N]          status N
  /hang                     reads the request, never answers
  /drip[?bytes=N&interval=S] announces N bytes, sends one every S seconds
  /truncated                Content-Length 1000, sends 10 bytes, closes
  /big[?bytes=N&length=0]   N bytes of 'x'; length=0 omits Content-Length (close-delimited)
  /gzip[?bytes=N]           gzip-encoded body: a known text, or N zero bytes
  /redirect?to=URL          302 to URL (any scheme), with an ETag and Retry-After of its own
  /redirect-chain?n=K       K redirects in a row, then /ok
  /redirect-loop            302 to itself
  /echo-headers             200 JSON: method, target, client_port, headers, body
  /content-type?type=X      200 with Content-Type X
  /sleep?ms=N               waits N ms (at most 10 s), then 200 "slept N\n"
  /concurrency[?reset=1]    200 JSON: in_flight and max_in_flight, the number of /sleep
                            requests being served now and at most at once since the start
                            (or the last reset, which sets the maximum to the current count)
A request target in absolute form (as sent to a proxy) is served by its path, and
/echo-headers reports the raw target, so tests can see a request came through a proxy.
"""

import argparse
import gzip
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

ETAG = '"v1-digestd"'
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
OK_BODY = b"hello digestd\n"
GZIP_TEXT = b"gzip body for digestd: " + b"abcdefghij" * 100 + b"\n"
MAX_BODY = 1 << 20  # largest request body /echo-headers reads
MAX_BIG = 1 << 30   # largest /big or /gzip body, so a typo cannot fill the disk or RAM

LIFETIME = 120.0
MAX_SLEEP_MS = 10000


class Concurrency:
    """Counts /sleep requests in flight, so tests can see how many a client ran at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def enter(self):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self):
        with self.lock:
            self.in_flight -= 1

    def snapshot(self, reset):
        with self.lock:
            if reset:
                self.max_in_flight = self.in_flight
            return {"in_flight": self.in_flight, "max_in_flight": self.max_in_flight}


CONCURRENCY = Concurrency()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "digestd-test-server"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    # Every method goes through the same routing: the client decides what it sends.
    def do_GET(self):
        self.route()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def int_param(self, query, name, default, upper):
        try:
            value = int(query.get(name, [str(default)])[0])
        except ValueError:
            value = default
        return max(0, min(value, upper))

    def send_simple(self, code, body=b"", content_type="text/plain", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        if code == 304:
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def route(self):
        target = self.path
        if target.startswith("http://") or target.startswith("https://"):
            parts = urllib.parse.urlsplit(target)
            local = parts.path or "/"
            if parts.query:
                local += "?" + parts.query
        else:
            local = target
        parsed = urllib.parse.urlsplit(local)
        path = parsed.path
        query = urllib.parse.parse_qs(parsed.query)
        request_body = self.read_body()

        if path == "/ok":
            self.send_simple(200, OK_BODY)
        elif path == "/etag":
            validators = [("ETag", ETAG), ("Last-Modified", LAST_MODIFIED)]
            if (self.headers.get("If-None-Match") == ETAG
                    or self.headers.get("If-Modified-Since") == LAST_MODIFIED):
                self.send_simple(304, headers=validators)
            else:
                self.send_simple(200, b"etag body\n", headers=validators)
        elif path in ("/404", "/500"):
            code = int(path[1:])
            self.send_simple(code, b"status %d\n" % code)
        elif path == "/429":
            self.send_simple(429, b"slow down\n", headers=[("Retry-After", "7")])
        elif path == "/status":
            code = self.int_param(query, "code", 200, 599)
            self.send_simple(code, b"status %d\n" % code)
        elif path == "/hang":
            time.sleep(LIFETIME)
        elif path == "/drip":
            self.drip(self.int_param(query, "bytes", 100, 1 << 20),
                      float(query.get("interval", ["0.1"])[0]))
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/big":
            self.big(self.int_param(query, "bytes", 1000, MAX_BIG),
                     query.get("length", ["1"])[0] != "0")
        elif path == "/gzip":
            if "bytes" in query:
                raw = bytes(self.int_param(query, "bytes", 0, MAX_BIG))
            else:
                raw = GZIP_TEXT
            self.send_simple(200, gzip.compress(raw),
                             headers=[("Content-Encoding", "gzip")])
        elif path == "/redirect":
            to = query.get("to", ["/ok"])[0]
            self.send_simple(302, b"moved\n",
                             headers=[("Location", to), ("ETag", '"from-redirect"'),
                                      ("Retry-After", "99")])
        elif path == "/redirect-chain":
            n = self.int_param(query, "n", 1, 100)
            to = "/redirect-chain?n=%d" % (n - 1) if n > 1 else "/ok"
            self.send_simple(302, b"moved\n", headers=[("Location", to)])
        elif path == "/redirect-loop":
            self.send_simple(302, b"again\n", headers=[("Location", "/redirect-loop")])
        elif path == "/echo-headers":
            echo = {
                "method": self.command,
                "target": target,
                "client_port": self.client_address[1],
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": request_body.decode("utf-8", "replace"),
            }
            self.send_simple(200, json.dumps(echo, sort_keys=True).encode(),
                             content_type="application/json")
        elif path == "/content-type":
            self.send_simple(200, b"typed\n",
                             content_type=query.get("type", ["text/plain"])[0])
        elif path == "/sleep":
            ms = self.int_param(query, "ms", 100, MAX_SLEEP_MS)
            CONCURRENCY.enter()
            try:
                time.sleep(ms / 1000.0)
            finally:
                CONCURRENCY.leave()
            self.send_simple(200, b"slept %d\n" % ms)
        elif path == "/concurrency":
            state = CONCURRENCY.snapshot(query.get("reset", ["0"])[0] == "1")
            self.send_simple(200, json.dumps(state, sort_keys=True).encode(),
                             content_type="application/json")
        else:
            self.send_simple(404, b"no such test path\n")

    def drip(self, count, interval):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(count))
        self.end_headers()
        for _ in range(count):
            self.wfile.write(b".")
            self.wfile.flush()
            time.sleep(interval)

    def big(self, count, with_length):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if with_length:
            self.send_header("Content-Length", str(count))
        else:
            # Without a length the body ends when the connection does.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = b"x" * 65536
        remaining = count
        while remaining > 0:
            piece = chunk if remaining >= len(chunk) else chunk[:remaining]
            self.wfile.write(piece)
            remaining -= len(piece)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # hanging handlers must not keep the process alive at exit

    def handle_error(self, request, client_address):
        # Clients hang up mid-body on purpose (timeouts, size limits): not worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    global LIFETIME
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=LIFETIME,
                        help="seconds before the server exits on its own")
    args = parser.parse_args()
    LIFETIME = args.lifetime

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    timer = threading.Timer(LIFETIME, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    server.serve_forever()


if __name__ == "__main__":
    main()
