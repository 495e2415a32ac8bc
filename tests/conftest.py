"""Fixtures for the integration tests: a real registry (Debian's docker-registry), the built
helm-oci binary with an isolated Helm environment, and the real Helm 4.3 library."""
import hashlib
import io
import json
import os
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "bin" / "helm-oci"
HELM4 = REPO.parent / "shared" / "tools" / "helm4" / "helm4.py"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=15):
    deadline = time.time() + timeout
    # Readiness only: certificates are what the tests themselves examine.
    context = ssl._create_unverified_context() if url.startswith("https") else None
    while True:
        try:
            urllib.request.urlopen(url, timeout=1, context=context)
            return
        except ssl.SSLError:
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def htpasswd(path: Path, users: dict):
    """An htpasswd file (bcrypt, as distribution requires) for `users` {name: password}."""
    lines = [subprocess.run(["htpasswd", "-nbB", u, p], capture_output=True, text=True, check=True).stdout.strip()
             for u, p in users.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Registry:
    """A docker-registry process on a free loopback port, with a config this test wrote.
    `tls` is distribution's http.tls section (certificate, key, clientcas); `auth` its auth
    section (htpasswd or token). `data` is the storage directory, `root/data` unless another
    registry's is to be served. `http` adds to the http section (say, `http2`)."""

    def __init__(self, root: Path, tls=None, auth=None, data=None, http=None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        data = data or root / "data"
        config = root / "config.yml"
        http = {"addr": self.host, **({"tls": tls} if tls else {}), **(http or {})}
        config.write_text(json.dumps({  # JSON is YAML
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(data)}, "delete": {"enabled": True}},
            "http": http,
            **({"auth": auth} if auth else {}),
        }))
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=open(root / "registry.log", "w"))
        wait_http(f"{'https' if tls else 'http'}://{self.host}/v2/")

    def url(self, path):
        return f"http://{self.host}{path}"

    def manifest(self, repo, ref):
        req = urllib.request.Request(self.url(f"/v2/{repo}/manifests/{ref}"),
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        with urllib.request.urlopen(req) as r:
            return r.read()

    def manifest_digest(self, repo, ref):
        """The digest the registry says `ref` names, whatever kind of manifest it is."""
        accept = ", ".join(["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"])
        req = urllib.request.Request(self.url(f"/v2/{repo}/manifests/{ref}"), method="HEAD", headers={"Accept": accept})
        with urllib.request.urlopen(req) as r:
            return r.headers["Docker-Content-Digest"]

    def blob(self, repo, digest):
        with urllib.request.urlopen(self.url(f"/v2/{repo}/blobs/{digest}")) as r:
            return r.read()

    def delete_blob(self, repo, digest):
        urllib.request.urlopen(urllib.request.Request(self.url(f"/v2/{repo}/blobs/{digest}"), method="DELETE")).close()

    def put_blob(self, repo, data: bytes):
        """Uploads a blob monolithically, as any client may; returns its descriptor."""
        digest = sha256(data)
        start = urllib.request.Request(self.url(f"/v2/{repo}/blobs/uploads/"), method="POST", data=b"")
        with urllib.request.urlopen(start) as r:
            location = r.headers["Location"]
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(f"{location}{sep}digest={digest}", method="PUT", data=data,
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(put).close()
        return {"digest": digest, "size": len(data)}

    def put_chart(self, repo, tag, config: bytes, layer: bytes,
                  layer_type="application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                  config_type="application/vnd.cncf.helm.config.v1+json", **manifest_fields):
        """Pushes a chart made by hand (whatever its content), as a careless or hostile
        publisher might; returns the manifest's bytes."""
        manifest = {"schemaVersion": 2,
                    "config": {"mediaType": config_type, **self.put_blob(repo, config)},
                    "layers": [{"mediaType": layer_type, **self.put_blob(repo, layer)}], **manifest_fields}
        return self.put_manifest(repo, tag, json.dumps(manifest).encode())

    def put_manifest(self, repo, ref, data: bytes, media_type="application/vnd.oci.image.manifest.v1+json"):
        """Puts a manifest's bytes as they are (an image manifest unless told); returns them."""
        put = urllib.request.Request(self.url(f"/v2/{repo}/manifests/{ref}"), method="PUT", data=data,
                                     headers={"Content-Type": media_type})
        urllib.request.urlopen(put).close()
        return data

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def registry(tmp_path):
    r = Registry(tmp_path / "registry")
    yield r
    r.stop()


class HelmOci:
    """Runs bin/helm-oci with a Helm environment of its own."""

    def __init__(self, home: Path, cache: Path):
        self.home = home
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "HELM_CACHE_HOME": str(cache),
            "HELM_CONFIG_HOME": str(home / "config"),
        }

    @property
    def registry_config(self):
        """Where Helm (and so helm-oci) keeps registry logins in this environment."""
        return self.home / "config" / "registry" / "config.json"

    def run(self, *args, check=True, cwd=None, env=None, input=None):
        p = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, input=input,
                           cwd=cwd or self.home, env={**self.env, **(env or {})}, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"helm-oci {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
        return p

    def fails(self, *args, cwd=None, env=None, input=None):
        """Runs a command that must fail the Helm way: exit 1 and one `Error:` line."""
        p = self.run(*args, check=False, cwd=cwd, env=env, input=input)
        return self.error_line(p)

    @staticmethod
    def error_line(p):
        """The one `Error:` line of a run that failed the Helm way (exit 1, nothing else)."""
        assert p.returncode == 1, f"expected exit 1, got {p.returncode}: {p.stdout}{p.stderr}"
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
        return lines[0]

    def run_measured(self, *args, env=None):
        """Runs a command; returns it as run() does, and its peak resident memory in MB."""
        watcher = ("import json, resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True,"
                   " text=True); print(json.dumps([p.returncode, p.stdout, p.stderr,"
                   " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
        out = subprocess.run([sys.executable, "-c", watcher, str(BIN), *map(str, args)], capture_output=True,
                             text=True, cwd=self.home, env={**self.env, **(env or {})}, timeout=300)
        code, stdout, stderr, rss_kb = json.loads(out.stdout)
        return subprocess.CompletedProcess(args, code, stdout, stderr), rss_kb / 1024


@pytest.fixture
def helm_oci(tmp_path):
    """helm-oci with a Helm home and a chart cache of this test's own."""
    home = tmp_path / "home"
    home.mkdir()
    return HelmOci(home, tmp_path / "helm-cache")


def write_chart(root: Path, name="mychart", version="0.1.0", extra=None, **fields):
    """A small chart directory; `extra` maps relative paths to contents."""
    chart = root / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    meta = {"apiVersion": "v2", "name": name, "version": version, "description": "A test chart",
            "appVersion": "1.0", **fields}
    (chart / "Chart.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in meta.items()))
    (chart / "values.yaml").write_text("replicaCount: 1\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n")
    for rel, content in (extra or {}).items():
        p = chart / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return chart


@pytest.fixture
def chart(tmp_path):
    return write_chart(tmp_path / "src")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tgz(files: dict) -> bytes:
    """A gzipped tar of `files` ({path: bytes}), entries in the order given, no checks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def config_json(name="mychart", version="0.1.0", **fields) -> bytes:
    """A chart config blob, as Helm would write it."""
    return json.dumps({"name": name, "version": version, "apiVersion": "v2", **fields}).encode()


def helm4(*args, env=None):
    """Runs the real Helm 4.3 library (in `env`, else this environment); returns stdout."""
    p = subprocess.run([sys.executable, str(HELM4), *map(str, args)], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, f"helm4 {' '.join(map(str, args))} failed:\n{p.stderr}"
    return p.stdout


def pulled_by_digest(name, digest):
    """The file Helm's pull writes for `oci://…/NAME@DIGEST`: its name cut at the last ':'."""
    return f"{name}@{digest.replace(':', '-')}.tgz"


def files_left(directory: Path):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def helm3_plugin_env(plugin_dir: Path, home: Path, plugins: Path, path: str):
    """The environment Helm 3 (and 4) runs a plugin with; Helm's homes under `home/helm3`."""
    helm = home / "helm3"
    return {
        "PATH": path, "HOME": str(home),
        "HELM_PLUGIN_NAME": "oci", "HELM_PLUGIN_DIR": str(plugin_dir), "HELM_BIN": "/usr/local/bin/helm",
        "HELM_DEBUG": "false", "HELM_PLUGINS": str(plugins),
        "HELM_CACHE_HOME": str(helm / "cache"), "HELM_CONFIG_HOME": str(helm / "config"),
        "HELM_DATA_HOME": str(helm / "data"),
        "HELM_REGISTRY_CONFIG": str(helm / "config" / "registry" / "config.json"),
        "HELM_REPOSITORY_CACHE": str(helm / "cache" / "repository"),
        "HELM_REPOSITORY_CONFIG": str(helm / "config" / "repositories.yaml"),
        "HELM_NAMESPACE": "default", "HELM_KUBECONTEXT": "",
    }


def helm2_plugin_env(plugin_dir: Path, home: Path, plugins: Path, path: str):
    """The environment Helm 2 runs a plugin with; its home is `home/.helm`."""
    helm = home / ".helm"
    return {
        "PATH": path, "HOME": str(home),
        "HELM_PLUGIN_NAME": "oci", "HELM_PLUGIN_DIR": str(plugin_dir), "HELM_BIN": "helm",
        "HELM_PLUGIN": str(plugins), "HELM_HOME": str(helm),
        "HELM_PATH_REPOSITORY": str(helm / "repository"),
        "HELM_PATH_REPOSITORY_FILE": str(helm / "repository" / "repositories.yaml"),
        "HELM_PATH_CACHE": str(helm / "repository" / "cache"),
        "HELM_PATH_LOCAL_REPOSITORY": str(helm / "repository" / "local"),
        "HELM_PATH_STARTER": str(helm / "starters"), "TILLER_HOST": "", "TILLER_NAMESPACE": "kube-system",
    }
