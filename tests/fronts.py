"""Small HTTP servers that stand in front of a real registry to misbehave on purpose."""
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import free_port


class _Server:
    """A threaded HTTP server on a free loopback port."""

    def __init__(self, handler):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Front(_Server):
    """Proxies to `upstream` (host:port); `tamper(method, path, status, headers, body)` may
    rewrite each answer and return (status, headers, body). Records every request it saw."""

    def __init__(self, upstream, tamper=None):
        self.upstream = upstream
        self.tamper = tamper or (lambda *a: a[2:])
        self.seen = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                front.seen.append((self.command, self.path, dict(self.headers)))
                conn = http.client.HTTPConnection(front.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                status, out_headers, data = front.tamper(
                    self.command, self.path, r.status, [(k, v) for k, v in r.getheaders()], data)
                self.send_response(status)
                for k, v in out_headers:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        _Server.__init__(self, Handler)


class Recorder(_Server):
    """A server that only records what reaches it (and answers 404)."""

    def __init__(self):
        self.seen = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def any(self):
                rec.seen.append((self.command, self.path))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = any

        _Server.__init__(self, Handler)
