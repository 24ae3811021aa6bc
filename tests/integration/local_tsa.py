"""A local RFC 3161 time-stamping authority for tests: a CA and a TSA certificate made with
`cryptography`, `openssl ts -reply` answering behind a small HTTP handler on 127.0.0.1."""

from __future__ import annotations

import datetime
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONFIG = """
[ tsa ]
default_tsa = local
[ local ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
certs = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass(frozen=True)
class LocalTsa:
    url: str
    ca_cert: Path  # what qrec is told to trust (QREC_TSA_CERT)
    requests: list[int]


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
                 issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.TIME_STAMPING]), critical=True).add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@contextmanager
def local_tsa() -> Iterator[LocalTsa]:
    with tempfile.TemporaryDirectory(prefix="qrec-tsa-") as tmp:
        d = Path(tmp)
        ca_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), \
            ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("qrec test CA", ca_key, "qrec test CA", ca_key, ca=True)
        tsa = _certificate("qrec test TSA", tsa_key, "qrec test CA", ca_key, ca=False)
        pem = serialization.Encoding.PEM
        ca_path = _write(d / "ca.crt", ca.public_bytes(pem))
        _write(d / "tsa.crt", tsa.public_bytes(pem))
        _write(d / "tsa.key", tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        _write(d / "serial", b"01\n")
        config = _write(d / "tsa.cnf", CONFIG.format(dir=d).encode())
        lock, requests = threading.Lock(), []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:  # one serial file
                    _write(d / "q.tsq", query)
                    done = subprocess.run(["openssl", "ts", "-reply", "-config", str(config),
                                           "-queryfile", str(d / "q.tsq"), "-out",
                                           str(d / "r.tsr")], capture_output=True, check=False)
                    reply = (d / "r.tsr").read_bytes() if done.returncode == 0 else b""
                    requests.append(len(query))
                self.send_response(200 if reply else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield LocalTsa(f"http://127.0.0.1:{server.server_address[1]}/", ca_path, requests)
        finally:
            server.shutdown()
            server.server_close()
