"""A registry token server (the distribution "token" auth spec) whose tokens the real
docker-registry accepts: RS256 JWTs signed with openssl, the signing certificate in `x5c`."""
import base64
import json
import secrets
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fronts import _Server
from pki import signing_pair


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parse_scope(scope):
    """(type, name, actions) of `type:name:actions`; only the outer colons separate, as a
    name could hold a registry's port. None if malformed: such a scope is granted nothing."""
    if scope.count(":") < 2:
        return None
    kind, rest = scope.split(":", 1)
    name, actions = rest.rsplit(":", 1)
    return kind, name, [a for a in actions.split(",") if a]


class TokenServer(_Server):
    """Answers GET and POST /token for `users` (name -> password); anonymous callers get
    only `pull`. Records every token request in `requests`, every token it handed out in
    `issued`. `expire_first=N` makes the first N access tokens already expired, `post_404`
    refuses the OAuth2 POST so clients must fall back to GET; repositories named in `deny` are
    never granted, and users named in `readers` are granted only pull. `tls` is (cert, key).
    `shape` may rewrite each answer to a GET (a dict) before it is sent."""

    def __init__(self, directory: Path, users=None, service="helm-oci-test",
                 issuer="helm-oci-test-issuer", tls=None, expires_in=300, expire_first=0,
                 post_404=False, deny=(), readers=(), shape=lambda answer: answer):
        self.users = users or {}
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.expire_first = expire_first
        self.post_404 = post_404
        self.deny = set(deny)
        self.readers = set(readers)
        self.shape = shape
        self.cert, self.key = signing_pair(directory)
        with open(self.cert) as f:
            self._x5c = base64.b64encode(ssl.PEM_cert_to_DER_cert(f.read())).decode()
        self.requests = []
        self.issued = []
        self.refresh_tokens = {}
        self._lock = threading.Lock()
        self._access_count = 0
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
        ts = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                # The handshake runs here, in the request's thread, so a client that hangs
                # or refuses our certificate cannot stall the accept loop.
                if context:
                    self.request = context.wrap_socket(self.request, server_side=True)
                super().setup()

            def finish(self):
                super().finish()
                self.request.close()

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def refuse(self, method, scopes, grant, status, body):
                ts.requests.append({"method": method, "scopes": scopes, "user": None,
                                    "grant": grant, "granted": []})
                self.reply(status, body)

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path != "/token":
                    return self.reply(404, {"error": "not found"})
                query = parse_qs(url.query)
                scopes = [s for v in query.get("scope", []) for s in v.split()]
                auth = self.headers.get("Authorization")
                grant = "basic" if auth else "anonymous"
                user = ts._basic_user(auth) if auth else None
                if auth and user is None:
                    return self.refuse("GET", scopes, grant, 401, {"errors": [
                        {"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                token, _ = ts._grant("GET", scopes, user, grant)
                body = {"token": token, "access_token": token, "expires_in": ts.expires_in,
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                if user is not None and query.get("offline_token") == ["true"]:
                    body["refresh_token"] = ts._refresh_token(user)
                self.reply(200, ts.shape(body))

            def do_POST(self):
                # Read the body even when refusing, so a kept-alive connection stays in step.
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if ts.post_404 or urlsplit(self.path).path != "/token":
                    return self.reply(404, {"error": "not found"})
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                scopes = form.get("scope", "").split()
                grant = form.get("grant_type")
                if grant == "password":
                    user = form.get("username")
                    if user not in ts.users or ts.users[user] != form.get("password"):
                        user = None
                elif grant == "refresh_token":
                    user = ts.refresh_tokens.get(form.get("refresh_token"))
                else:
                    return self.refuse("POST", scopes, grant, 400, {"error": "unsupported_grant_type"})
                if user is None:
                    return self.refuse("POST", scopes, grant, 401, {"error": "invalid_grant"})
                token, granted = ts._grant("POST", scopes, user, grant)
                answer = {"access_token": token, "expires_in": ts.expires_in, "scope": " ".join(granted)}
                if form.get("access_type") == "offline":
                    answer["refresh_token"] = ts._refresh_token(user)
                self.reply(200, answer)

        _Server.__init__(self, Handler)
        scheme = "https" if tls else "http"
        self.realm = f"{scheme}://{self.host}/token"
        self.quiet_tls_errors()

    def registry_auth(self):
        """The `auth` section of a docker-registry config that trusts this server."""
        return {"token": {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(self.cert)}}

    def _basic_user(self, header):
        """The user a Basic Authorization header names, if the password is right."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return user if user in self.users and self.users[user] == password else None

    def _refresh_token(self, user):
        token = secrets.token_urlsafe(24)
        self.refresh_tokens[token] = user
        self.issued.append(token)
        return token

    def _grant(self, method, scopes, user, grant):
        """Records the request and signs a token granting what `user` (None: anonymous) may
        do of `scopes`; returns (token, granted scope strings)."""
        access, granted = [], []
        for kind, name, actions in filter(None, map(_parse_scope, scopes)):
            if user is None or user in self.readers:
                actions = [a for a in actions if a == "pull" and kind == "repository"]
            if kind == "repository" and name in self.deny:
                actions = []
            if actions:
                access.append({"type": kind, "name": name, "actions": actions})
                granted.append(f"{kind}:{name}:{','.join(actions)}")
        with self._lock:
            self._access_count += 1
            expired = self._access_count <= self.expire_first
        now = int(time.time())
        # The registry allows 60 s of clock skew on exp, so "expired" must be well past it.
        exp = now - 600 if expired else now + self.expires_in
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": exp,
                  "nbf": (exp - 600 if expired else now - 60), "iat": now,
                  "jti": secrets.token_hex(16), "access": access}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), capture_output=True, check=True).stdout
        token = f"{signing_input}.{_b64url(signature)}"
        self.issued.append(token)
        self.requests.append({"method": method, "scopes": scopes, "user": user, "grant": grant,
                              "granted": granted})
        return token, granted
