"""Small HTTP servers that stand in front of a real registry to misbehave on purpose, a storage
host for the registry to redirect downloads to, and an HTTP proxy."""
import http.client
import select
import socket
import ssl
import struct
import sys
import threading
import time
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


class Slow:
    """An answer body sent `chunk` bytes at a time, `pause` seconds apart."""

    def __init__(self, data: bytes, chunk: int, pause: float):
        self.data, self.chunk, self.pause = data, chunk, pause


class _NoDelayServer(ThreadingHTTPServer):
    """Sends each write at once: an answer's head and body go out as separate writes, and
    Nagle's algorithm would hold the body back for the client's delayed ACK (40 ms)."""

    def get_request(self):
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address


class _Server:
    """A threaded HTTP server on a free loopback port."""

    def __init__(self, handler):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.server = _NoDelayServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def quiet_tls_errors(self):
        """A client refusing our certificate (or hanging up mid-handshake) is what some tests
        are about, not a crash worth a traceback."""
        handle_error = self.server.handle_error

        def handle(request, address):
            if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
                handle_error(request, address)

        self.server.handle_error = handle

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
    """Sends `answer`: HANG_UP, RESET, or (status, headers, body) where body may be Broken
    or Slow."""
    if answer in (HANG_UP, RESET):
        handler.close_connection = True
        if answer == RESET:
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
        return
    status, headers, body = answer
    data = body.data if isinstance(body, (Broken, Slow)) else body
    handler.send_response(status)
    for k, v in headers:
        if k.lower() not in ("content-length", "transfer-encoding", "connection"):
            handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        _send_body(handler, body, data)
    if isinstance(body, Broken):
        handler.close_connection = True


def _send_body(handler, body, data):
    if not isinstance(body, Slow):
        handler.wfile.write(data[:body.at] if isinstance(body, Broken) else data)
        return
    try:
        for i in range(0, len(data), body.chunk):
            handler.wfile.write(data[i:i + body.chunk])
            handler.wfile.flush()
            time.sleep(body.pause)
    except OSError:
        handler.close_connection = True


class Front(_Server):
    """Proxies to `upstream` (host:port), with the Host header it got, so that the locations
    the registry answers with name the front. Records every request it saw as (method, path,
    headers); the headers are an email.message.Message, so `.get` and `in` ignore case.
    `intercept(method, path, headers)` may answer in the upstream's stead: None passes the
    request on; HANG_UP, RESET or (status, headers, body) is the answer. `tamper(method, path,
    status, headers, body)` may rewrite each upstream answer and return (status, headers, body),
    the body possibly Broken. Headers named in `drop_headers` are not passed upstream.

    It also counts what crosses it: `connections` accepted (with `tls=(cert, key)`, TLS
    handshakes completed), the most requests it held at once (`max_in_flight`), and each
    request's (method, path, start, end) in `timeline`. `delay` holds every answer back that
    many seconds, so that requests a client makes at once are seen at once."""

    def __init__(self, upstream, tamper=None, intercept=None, drop_headers=(), tls=None, delay=0):
        self.upstream = upstream
        self.tamper = tamper or (lambda *a: a[2:])
        self.intercept = intercept or (lambda *a: None)
        self.drop_headers = {h.lower() for h in drop_headers}
        self.seen = []
        self.connections = 0
        self.in_flight = self.max_in_flight = 0
        self.timeline = []
        lock = threading.Lock()
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                if context:
                    self.request = context.wrap_socket(self.request, server_side=True)
                with lock:
                    front.connections += 1
                super().setup()

            def handle_one(self):
                body = _read_body(self)
                start = time.monotonic()
                with lock:
                    front.in_flight += 1
                    front.max_in_flight = max(front.max_in_flight, front.in_flight)
                front.seen.append((self.command, self.path, self.headers))
                time.sleep(delay)
                answer = front.intercept(self.command, self.path, self.headers)
                if answer is None:
                    headers = _passed_on(self.headers, front.drop_headers)
                    if context:
                        # The registry then names itself https:// in the locations it hands out.
                        headers["X-Forwarded-Proto"] = "https"
                    path, headers = front.upstream_request(self.path, headers)
                    answer = front.tamper(self.command, self.path, *_fetch(front.upstream, self.command, path, headers, body))
                _reply(self, answer)
                with lock:
                    front.in_flight -= 1
                    front.timeline.append((self.command, self.path, start, time.monotonic()))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        _Server.__init__(self, Handler)
        if context:
            self.quiet_tls_errors()

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


class Answering(_Server):
    """A server that answers every request with `answer(method, path)`, a (status, headers,
    body) (a token service of a test's making, say), recording what it saw."""

    def __init__(self, answer):
        self.seen = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def any(self):
                _read_body(self)
                server.seen.append((self.command, self.path))
                _reply(self, answer(self.command, self.path))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = any

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


def passing(prefix, upstream):
    """A Front `intercept` that sends requests for paths under `prefix` to `upstream` instead:
    a token service answered for by the registry's own host, as GHCR's and Harbor's are."""
    def intercept(method, path, headers):
        return _fetch(upstream, method, path, _passed_on(headers), b"") if path.startswith(prefix) else None
    return intercept


def uploads_sent_to(host):
    """A Front `tamper` of a hostile registry: every upload location it hands out names `host`."""
    def tamper(method, path, status, headers, body):
        if method == "POST" and "/blobs/uploads/" in path:
            headers = [(k, f"http://{host}/steal" if k.lower() == "location" else v) for k, v in headers]
        return status, headers, body
    return tamper


class Silent:
    """A server that takes every connection and reads what comes, but never answers, as a
    hung host does: `requests` lists the request lines it got."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        # What each connection received, apart: pieces of two requests are never joined.
        self.held, self.received = [], []
        threading.Thread(target=self._take, daemon=True).start()

    def _take(self):
        while True:
            try:
                connection = self.listener.accept()[0]
            except OSError:
                return
            self.held.append(connection)
            received = bytearray()
            self.received.append(received)
            threading.Thread(target=self._read, args=(connection, received), daemon=True).start()

    def _read(self, connection, received):
        while True:
            try:
                data = connection.recv(65536)
            except OSError:
                return
            if not data:
                return
            received += data

    @property
    def requests(self):
        lines = [line for received in list(self.received) for line in bytes(received).split(b"\r\n")]
        return [line.decode() for line in lines if line.split(b" ")[0] in (b"GET", b"HEAD", b"POST", b"PUT")]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.listener.close()
        for connection in self.held:
            connection.close()


class Garbled(_Server):
    """A server that answers every request with the raw bytes `reply`, whatever they are (not
    HTTP, say), then hangs up; `seen` records each request as (method, path)."""

    def __init__(self, reply: bytes):
        self.seen = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def any(self):
                server.seen.append((self.command, self.path))
                self.wfile.write(reply)
                self.close_connection = True

            do_GET = do_HEAD = any

        _Server.__init__(self, Handler)
