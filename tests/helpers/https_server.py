"""A local HTTPS server for provisioning-by-URL tests (throwaway self-signed cert)."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl tool."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    return cert, key


@dataclass
class Served:
    """What the server answers, changeable while it runs.

    Attributes:
        body: the file served.
        etag: its ETag; a matching If-None-Match gets 304.
        status: set to e.g. 500 to fail every request.
        requests: the If-None-Match header of each request ("" when absent).
    """

    body: bytes = b""
    etag: str = '"v1"'
    status: int = 200
    requests: list[str] = field(default_factory=list)


class ProvisioningServer:
    """Serves :attr:`served` at ``/provisioning.toml`` over HTTPS on 127.0.0.1.

    Attributes:
        served: the response state.
        url: the file's URL.
        client_context: an SSL context trusting the throwaway certificate.
    """

    def __init__(self, cert: Path, key: Path) -> None:
        self.served = Served()
        served = self.served

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.requests.append(self.headers.get("If-None-Match", ""))
                if served.status != 200:
                    self.send_error(served.status)
                    return
                if self.headers.get("If-None-Match") == served.etag:
                    self.send_response(304)
                    self.send_header("ETag", served.etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/toml")
                self.send_header("ETag", served.etag)
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}/provisioning.toml"
        self.client_context = ssl.create_default_context(cafile=str(cert))
        # A short poll interval makes stop() prompt.
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True)
        self._stopped = False
        self._thread.start()

    def stop(self) -> None:
        """Shut down and close the socket, so connections are refused afterwards."""
        if self._stopped:
            return
        self._stopped = True
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)
