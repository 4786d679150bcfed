"""Test TLS material made with the openssl tool (EC keys: fast to generate)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require_tool


@dataclass(frozen=True, slots=True)
class Pems:
    cert: Path
    key: Path
    other_key: Path  # a valid key of another certificate
    encrypted_key: Path  # the right key, under a passphrase


def make_pems(directory: Path) -> Pems:
    openssl = require_tool("openssl", "makes the test certificates")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)

    pems = Pems(
        directory / "cert.pem",
        directory / "key.pem",
        directory / "other-key.pem",
        directory / "encrypted-key.pem",
    )
    for cert, key in ((pems.cert, pems.key), (directory / "other-cert.pem", pems.other_key)):
        run(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        )  # fmt: skip
    run(
        "pkey", "-in", str(pems.key), "-aes256", "-passout", "pass:secret",
        "-out", str(pems.encrypted_key),
    )  # fmt: skip
    return pems
