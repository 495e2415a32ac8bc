"""Small HTTP servers that stand in front of a real registry to misbehave on purpose, a storage
host for the registry to redirect downloads to, and an HTTP proxy."""
import http.client
import select
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from conftest import free_port

# What an `intercept` returns to close the connection instead of answering: HANG_UP closes it
# in order (FIN), RESET aborts it (RST).
HANG_UP = "hang up"
RESET = "reset"


class Broken:
    """An answer body announced in full (its Content-Length) of which only the first `at`
    bytes are sent before the connection closes."""

    def __init__(self, data: bytes, at: int):
        self.data = data
        self.at = at


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


def _fetch(upstream, method, path, headers, body):
    """Sends one request to `upstream` (host:port); returns (status, headers, body)."""
    conn = http.client.HTTPConnection(upstream, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def _read_body(handler):
    """The request body, whether sized by Content-Length or chunked."""
    if "chunked" not in handler.headers.get("Transfer-Encoding", "").lower():
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""
    body = b""
    while size := int(handler.rfile.readline().split(b";")[0], 16):
        body += handler.rfile.read(size)
        handler.rfile.readline()
    while handler.rfile.readline().strip():  # trailers
        pass
    return body


def _passed_on(headers, dropped=()):
    """The request headers to send on with a body of known length."""
    dropped = {"transfer-encoding", *dropped}
    return {k: v for k, v in headers.items() if k.lower() not in dropped}


def _reply(handler, answer):
    """Sends `answer`: HANG_UP, RESET, or (status, headers, body) where body may be Broken."""
    if answer in (HANG_UP, RESET):
        handler.close_connection = True
        if answer == RESET:
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
        return
    status, headers, body = answer
    data = body.data if isinstance(body, Broken) else body
    handler.send_response(status)
    for k, v in headers:
        if k.lower() not in ("content-length", "transfer-encoding", "connection"):
            handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data[:body.at] if isinstance(body, Broken) else data)
    if isinstance(body, Broken):
        handler.close_connection = True


class Front(_Server):
    """Proxies to `upstream` (host:port), with the Host header it got, so that the locations
    the registry answers with name the front. Records every request it saw as (method, path,
    headers); the headers are an email.message.Message, so `.get` and `in` ignore case.
    `intercept(method, path, headers)` may answer in the upstream's stead: None passes the
    request on; HANG_UP, RESET or (status, headers, body) is the answer. `tamper(method, path,
    status, headers, body)` may rewrite each upstream answer and return (status, headers, body),
    the body possibly Broken. Headers named in `drop_headers` are not passed upstream."""

    def __init__(self, upstream, tamper=None, intercept=None, drop_headers=()):
        self.upstream = upstream
        self.tamper = tamper or (lambda *a: a[2:])
        self.intercept = intercept or (lambda *a: None)
        self.drop_headers = {h.lower() for h in drop_headers}
        self.seen = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                body = _read_body(self)
                front.seen.append((self.command, self.path, self.headers))
                answer = front.intercept(self.command, self.path, self.headers)
                if answer is None:
                    path, headers = front.upstream_request(self.path, _passed_on(self.headers, front.drop_headers))
                    answer = front.tamper(self.command, self.path, *_fetch(front.upstream, self.command, path, headers, body))
                _reply(self, answer)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        _Server.__init__(self, Handler)

    def upstream_request(self, path, headers):
        """The path and headers that go upstream for a request."""
        return path, headers


class Storage(Front):
    """A blob store on a port of its own, for a registry to redirect downloads to: it serves
    a registry path (whatever the query) by fetching it from the registry `upstream`, with
    its own `authorization` if given, passing Range on. Takes Front's options and records like
    Front."""

    def __init__(self, upstream, authorization=None, **options):
        self.authorization = authorization
        super().__init__(upstream, **options)

    def upstream_request(self, path, headers):
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        return path.split("?")[0], headers


class Proxy(_Server):
    """An HTTP proxy that takes every request to 127.0.0.1, whatever host it names: CONNECT
    host:port opens a tunnel to 127.0.0.1:port, and an absolute-form request (GET
    http://host:port/path) is forwarded there with its Host header. Records (method, target,
    headers) like Front."""

    def __init__(self):
        self.seen = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_CONNECT(self):
                proxy.seen.append((self.command, self.path, self.headers))
                upstream = socket.create_connection(("127.0.0.1", int(self.path.rsplit(":", 1)[1])))
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                _pipe(self.connection, upstream)

            def forward(self):
                body = _read_body(self)
                proxy.seen.append((self.command, self.path, self.headers))
                url = urlsplit(self.path)
                headers = _passed_on(self.headers, ("proxy-authorization", "proxy-connection"))
                path = url.path + (f"?{url.query}" if url.query else "")
                _reply(self, _fetch(f"127.0.0.1:{url.port}", self.command, path, headers, body))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        _Server.__init__(self, Handler)


def _pipe(a, b):
    """Copies bytes both ways between two sockets until either side closes."""
    try:
        while True:
            readable, _, _ = select.select([a, b], [], [])
            for src in readable:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)
    except OSError:
        pass
    finally:
        b.close()


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
