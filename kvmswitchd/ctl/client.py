"""kvmctl's HTTP client: requests, streamed uploads, errors, the bearer token."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 10.0
# An upload's reply waits for the server to fsync the whole image.
UPLOAD_TIMEOUT = 600.0
# A token file bigger than this is the wrong file (tokens are ~50 characters).
MAX_TOKEN_FILE = 4096


class CtlError(Exception):
    pass


def find_token(token_file: str | None) -> str | None:
    """The bearer token: ``--token-file``/``$KVMCTL_TOKEN_FILE``, else ``$KVMCTL_TOKEN``.

    Never a command-line argument: those show in ``ps`` and shell history.
    """
    path = token_file or os.environ.get("KVMCTL_TOKEN_FILE")
    if path:
        try:
            with Path(path).open("rb") as handle:
                raw = handle.read(MAX_TOKEN_FILE + 1)
        except OSError as exc:
            raise CtlError(f"cannot read the token file {path}: {exc.strerror}") from None
        if len(raw) > MAX_TOKEN_FILE:
            raise CtlError(f"{path} is too big to be a token file")
        token = raw.decode("utf-8", "replace").strip()
        if not token:
            raise CtlError(f"the token file {path} is empty")
        return token
    return os.environ.get("KVMCTL_TOKEN") or None


class Client:
    def __init__(self, base: str, token: str | None) -> None:
        if not base.startswith(("http://", "https://")):
            raise CtlError(f"--url must start with http:// or https://, got {base!r}")
        self.base = base.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = self._new(method, path, data)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        return json.loads(self._send(req, TIMEOUT) or b"null")

    def get_bytes(self, path: str) -> bytes:
        return self._send(self._new("GET", path, None), TIMEOUT)

    def put_bytes(self, path: str, data: bytes) -> Any:
        req = self._new("PUT", path, data)
        req.add_header("Content-Type", "application/octet-stream")
        return json.loads(self._send(req, TIMEOUT) or b"null")

    def upload(
        self, name: str, path: str, on_sent: Callable[[int, int], None] | None = None
    ) -> Any:
        """PUT the file at ``path`` as image ``name``, streamed (never read whole);
        ``on_sent(bytes sent, file size)`` is called as it goes (a progress bar)."""
        try:
            f = open(path, "rb")  # noqa: SIM115  # closed below, after the request
            size = os.fstat(f.fileno()).st_size
        except OSError as exc:
            raise CtlError(f"cannot read {path}: {exc.strerror}") from None
        with f:  # a file object: urllib streams it in blocks
            quoted = urllib.parse.quote(name, safe="")
            body = f if on_sent is None else _Counted(f, size, on_sent)
            req = self._new("PUT", f"/storage/images/{quoted}", body)
            req.add_header("Content-Type", "application/octet-stream")
            req.add_header("Content-Length", str(size))
            return json.loads(self._send(req, UPLOAD_TIMEOUT) or b"null")

    def _new(self, method: str, path: str, data: Any) -> urllib.request.Request:
        url = self.base + "/api/v1" + path
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310  # http(s) only, checked above
        req.add_header("Accept", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        return req

    def _send(self, req: urllib.request.Request, timeout: float) -> bytes:
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310  # same
                body: bytes = resp.read()
                return body
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read())
                message = payload.get("message") or payload.get("error") or str(exc)
            except ValueError:
                message = str(exc)
            raise CtlError(f"{exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            raise CtlError(f"cannot reach {self.base}: {exc.reason}") from None


class _Counted:
    """A file urllib streams from, telling how much it has read so far."""

    def __init__(self, f: BinaryIO, size: int, on_sent: Callable[[int, int], None]) -> None:
        self._f = f
        self._size = size
        self._on_sent = on_sent
        self._sent = 0

    def read(self, amount: int = -1) -> bytes:
        data = self._f.read(amount)
        self._sent += len(data)
        self._on_sent(self._sent, self._size)
        return data
