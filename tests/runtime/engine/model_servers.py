"""The fake OpenAI app served the ways a real endpoint can be reached: over TLS with a
self-signed certificate, on IPv6, and an endpoint that answers with a redirect; and a raw
endpoint that answers every request with the bytes a test writes (``answering``)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.fake_openai import FakeOpenAI, FakeOpenAIServer, Receive, Scope, Send, serve_asgi

_START_DEADLINE = 10.0
RawSend = Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for ``localhost`` and 127.0.0.1, and its key, as PEM files."""

    certfile: Path
    keyfile: Path


def self_signed_certificate(directory: Path) -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "endpoint.crt", directory / "endpoint.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(certfile, keyfile)


@contextmanager
def serve(app: Any, *, host: str = "127.0.0.1", certificate: Certificate | None = None) -> Iterator[int]:
    """Run an ASGI app under uvicorn in a background thread on ``host`` (IPv4 or IPv6); yields its port."""
    tls: dict[str, Any] = {}
    if certificate is not None:
        tls = {"ssl_certfile": str(certificate.certfile), "ssl_keyfile": str(certificate.keyfile)}
    with serve_asgi(app, lifespan="on", host=host, **tls) as port:
        try:
            yield port
        finally:
            if isinstance(app, FakeOpenAI):
                app.close_waits()


@contextmanager
def serve_fake(*, host: str = "127.0.0.1", certificate: Certificate | None = None) -> Iterator[FakeOpenAIServer]:
    """A fresh fake OpenAI server; ``base_url`` uses https with a certificate, brackets on IPv6."""
    app = FakeOpenAI()
    with serve(app, host=host, certificate=certificate) as port:
        fake = FakeOpenAIServer(app, port)
        scheme = "https" if certificate is not None else "http"
        name = "localhost" if certificate is not None else (f"[{host}]" if ":" in host else host)
        fake.base_url = f"{scheme}://{name}:{port}/v1"
        yield fake


class Redirecting:
    """An endpoint that answers every request with ``status`` and a ``Location`` elsewhere."""

    def __init__(self, status: int, location: str) -> None:
        self.status = status
        self.location = location
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        self.requests += 1
        headers = [(b"location", self.location.encode()), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


@asynccontextmanager
async def answering(send: RawSend) -> AsyncIterator[str]:
    """An endpoint answering every request with ``send`` (after reading the request)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        with suppress(ConnectionError):
            await send(writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()
