"""Trusted time for checkpoints: an RFC 3161 time-stamping authority (QREC_TSA_URL) stamps a
checkpoint's note text, and its token is checked against the authority's root certificate
(QREC_TSA_CERT), so "this history existed by then" holds without trusting the plant's clock.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)


class TimestampError(Exception):
    """The authority could not be reached, refused, or its token does not verify."""


@dataclass(frozen=True)
class Authority:
    url: str
    roots: tuple[x509.Certificate, ...]

    @classmethod
    def from_files(cls, url: str, cert: Path) -> Authority:
        roots = tuple(x509.load_pem_x509_certificates(cert.read_bytes()))
        if not roots:
            raise TimestampError(f"{cert} holds no PEM certificate")
        return cls(url, roots)

    def stamp(self, message: bytes, timeout: float = 10.0) -> tuple[datetime, bytes]:
        """Ask for a token on the message; returns the time it gives and the response."""
        request = TimestampRequestBuilder().data(message).nonce(nonce=True) \
            .cert_request(cert_request=True).build()
        http = urllib.request.Request(self.url, data=request.as_bytes(), method="POST",
                                      headers={"Content-Type": "application/timestamp-query"})
        try:
            with urllib.request.urlopen(http, timeout=timeout) as answer:
                response = answer.read()
        except (urllib.error.URLError, OSError) as e:
            raise TimestampError(f"the authority at {self.url} cannot be reached: {e}") from None
        builder = VerifierBuilder.from_request(request)
        return self.verify(response, message, builder), response

    def verify(self, response: bytes, message: bytes,
               builder: VerifierBuilder | None = None) -> datetime:
        """The time the token gives the message, once it verifies against the roots."""
        builder = builder or VerifierBuilder()
        for root in self.roots:
            builder = builder.add_root_certificate(root)
        try:
            decoded = decode_timestamp_response(response)
            builder.build().verify_message(decoded, message)
        except (VerificationError, ValueError) as e:
            raise TimestampError(f"the timestamp token does not verify: {e}") from None
        return decoded.tst_info.gen_time
