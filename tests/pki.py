"""A tiny certificate authority for the TLS tests, made with the openssl CLI (OpenSSL 3)."""
import os
import secrets
import subprocess
from pathlib import Path


def openssl(*args):
    # An empty config keeps the system openssl.cnf (whose default extensions differ between
    # distributions, and may make every certificate a CA) out of what we sign.
    p = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "OPENSSL_CONF": os.devnull})
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{p.stderr}")


def _ec_key(path: Path):
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    return path


def _serial():
    return f"0x{secrets.token_hex(8)}"


class CA:
    """A self-signed CA (EC P-256) in `directory`; `cert` and `key` are PEM files."""

    def __init__(self, directory: Path, name="helm-oci test CA"):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.key = _ec_key(directory / "ca.key")
        self.cert = directory / "ca.pem"
        openssl("req", "-x509", "-new", "-key", self.key, "-subj", f"/CN={name}",
                 "-days", "30", "-set_serial", _serial(),
                 "-addext", "basicConstraints=critical,CA:true",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-out", self.cert)

    def issue(self, name, sans=("IP:127.0.0.1", "DNS:localhost"), client=False):
        """A leaf key and certificate for `name`, for a TLS server (or a client if `client`);
        returns (cert_path, key_path)."""
        key = _ec_key(self.directory / f"{name}.key")
        cert = self.directory / f"{name}.pem"
        # `req -x509 -CA` (OpenSSL 3) signs in one step, without a CSR file. webpki wants v3
        # extensions and the names in subjectAltName; the CN is not looked at.
        openssl("req", "-x509", "-new", "-key", key, "-subj", f"/CN={name}",
                 "-CA", self.cert, "-CAkey", self.key, "-days", "30", "-set_serial", _serial(),
                 "-addext", "basicConstraints=critical,CA:false",
                 "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
                 "-addext", f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}",
                 "-addext", f"subjectAltName={','.join(sans)}",
                 "-out", cert)
        return cert, key


def signing_pair(directory: Path):
    """A self-signed RSA 2048 certificate and key for signing registry tokens (RS256);
    returns (cert_path, key_path)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "token-signing.key"
    cert = directory / "token-signing.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
    openssl("req", "-x509", "-new", "-key", key, "-subj", "/CN=helm-oci token signer",
             "-days", "30", "-set_serial", _serial(),
             "-addext", "keyUsage=critical,digitalSignature", "-out", cert)
    return cert, key
