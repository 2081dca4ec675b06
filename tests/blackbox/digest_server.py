"""A local HTTP server for the black-box tests: serves digests from a folder on 127.0.0.1
with ETag/Last-Modified and conditional GET, can be told to fail, and logs every request.
Runs in a thread of the test process; bounded by the test's own time limits."""
import hashlib
import http.server
import os
import threading


class DigestServer:
    def __init__(self, root, tls_cert=None):
        self.root = root
        self.requests = []          # (path, if_none_match, status, user_agent)
        self.fail_with = None       # an HTTP status to answer every request with
        self.content_type = "text/markdown; charset=utf-8"
        self.headers_seen = []      # every request's headers, as a dict (lower-case names)
        self.etags = True           # False: no ETag, so every fetch is a whole 200
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                inm = self.headers.get("If-None-Match", "")
                status, body, etag = server._answer(self.path, inm)
                with server._lock:
                    server.requests.append((self.path, inm, status, self.headers.get("User-Agent", "")))
                    server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                if status in (429, 503):
                    self.send_header("Retry-After", "3600")
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.scheme = "http"
        if tls_cert:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls_cert)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def _answer(self, path, if_none_match):
        if self.fail_with:
            return self.fail_with, b"failing on purpose\n", None
        file = os.path.normpath(os.path.join(self.root, path.lstrip("/").split("?")[0]))
        if not file.startswith(os.path.abspath(self.root)) or not os.path.isfile(file):
            return 404, b"not found\n", None
        with open(file, "rb") as f:
            body = f.read()
        if not self.etags:
            return 200, body, None
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if if_none_match == etag:
            return 304, b"", etag
        return 200, body, etag

    def paths(self):
        with self._lock:
            return [r[0] for r in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
