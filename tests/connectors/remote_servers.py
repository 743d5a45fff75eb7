"""Real servers on loopback for the remote connectors: SFTP (paramiko), SharePoint's
REST API (http.server) and S3 (moto's server). Each one is a context manager that the
tests start and stop; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import paramiko

# ---------------------------------------------------------------- SFTP (paramiko server)


class _SshServer(paramiko.ServerInterface):
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == self.user and password == self.password
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    def stat(self):  # noqa: ANN201
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class _ReadOnlySftp(paramiko.SFTPServerInterface):
    """Serves a folder read-only, as the SFMC export server does for us."""

    def __init__(self, server: paramiko.ServerInterface, root: str) -> None:
        super().__init__(server)
        self.root = root

    def _real(self, path: str) -> str:
        clean = os.path.normpath("/" + path).lstrip("/")
        return os.path.join(self.root, clean)

    def canonicalize(self, path: str) -> str:
        return os.path.normpath("/" + path)

    def list_folder(self, path: str):  # noqa: ANN201
        real = self._real(path)
        try:
            return [
                paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(real, n)), n)
                for n in os.listdir(real)
            ]
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def stat(self, path: str):  # noqa: ANN201
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    lstat = stat

    def open(self, path: str, flags: int, attr):  # noqa: ANN001, ANN201
        if flags & (os.O_WRONLY | os.O_RDWR):
            return paramiko.SFTP_PERMISSION_DENIED
        try:
            fh = open(self._real(path), "rb")  # noqa: SIM115 - closed by the handle
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        handle = _Handle(flags)
        handle.readfile = fh
        handle.filename = path
        return handle


@dataclass
class SftpServer:
    host: str
    port: int
    user: str
    password: str
    known_hosts: Path
    root: Path


_HOST_KEY: list[paramiko.RSAKey] = []


@contextmanager
def sftp_server(
    root: Path, tmp: Path, user: str = "sfmc", password: str = "s3nha"
) -> Iterator[SftpServer]:
    """A paramiko SSH/SFTP server on 127.0.0.1 serving `root`; known_hosts written to tmp."""
    if not _HOST_KEY:
        _HOST_KEY.append(paramiko.RSAKey.generate(2048))
    key = _HOST_KEY[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    port = sock.getsockname()[1]
    stop = threading.Event()
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _ReadOnlySftp, str(root))
            transport.start_server(server=_SshServer(user, password))
            transports.append(transport)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    known = tmp / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n")
    try:
        yield SftpServer("127.0.0.1", port, user, password, known, root)
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()
        for t in transports:
            t.close()


# ------------------------------------------------------- SharePoint REST (http.server)


@dataclass
class SharePointServer:
    host: str
    port: int
    token: str
    root: Path
    requests: list[str] = field(default_factory=list)


def _sharepoint_handler(state: SharePointServer) -> type[BaseHTTPRequestHandler]:
    prefix = "getFileByServerRelativePath(DecodedUrl='"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            return

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            body = {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}
            self._send(status, json.dumps(body).encode())

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {state.token}":
                return True
            self._error(401, "-2147024891, System.UnauthorizedAccessException", "Access denied.")
            return False

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            state.requests.append(f"POST {self.path}")
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self._authorized():
                return
            if self.path.endswith("/_api/contextInfo"):
                info = {
                    "FormDigestValue": "0x1,digest",
                    "FormDigestTimeoutSeconds": 1800,
                    "LibraryVersion": "16.0.0.0",
                    "SiteFullUrl": "",
                    "WebFullUrl": "",
                }
                self._send(200, json.dumps({"d": {"GetContextWebInformation": info}}).encode())
                return
            self._error(
                400,
                "-1, Microsoft.SharePoint.Client.InvalidClientQueryException",
                "Unsupported request.",
            )

        def do_GET(self) -> None:  # noqa: N802
            state.requests.append(f"GET {self.path}")
            if not self._authorized():
                return
            if prefix not in self.path:
                self._error(400, "-1, InvalidClientQueryException", "Unsupported request.")
                return
            rest = self.path.split(prefix, 1)[1]
            relative = unquote(rest.split("')", 1)[0])
            local = state.root / relative.lstrip("/")
            if not local.is_file():
                self._error(404, "-2130575338, System.IO.FileNotFoundException", "File Not Found.")
                return
            if rest.split("')", 1)[1].startswith("/$value"):
                self._send(200, local.read_bytes(), "application/octet-stream")
                return
            meta = {
                "__metadata": {"type": "SP.File"},
                "Id": "0c3f0b1e",
                "ServerRelativePath": {"DecodedUrl": relative},
                "Name": local.name,
            }
            self._send(200, json.dumps({"d": meta}).encode())

    return Handler


@contextmanager
def sharepoint_server(root: Path, token: str = "token-de-teste") -> Iterator[SharePointServer]:
    """Answers the REST calls a file download makes: contextinfo, file metadata, $value."""
    state = SharePointServer("127.0.0.1", 0, token, root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _sharepoint_handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


# ------------------------------------------------------------------ S3 (moto server)


@contextmanager
def s3_server(monkeypatch) -> Iterator[str]:  # noqa: ANN001
    """moto's S3 server on loopback; the AWS_* variables point boto3 and Sail at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield url
    finally:
        server.stop()
