"""A real `legant gateway` process on loopback (its RFC 8414 metadata, JWKS
and signed revocation feed), built from this repository, as
sdk/process_test.go does for the Go SDK."""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.request
from typing import Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


@dataclasses.dataclass
class Issuer:
    bin: pathlib.Path
    base: str
    data: pathlib.Path

    def mint(self, user: str, aud: str, *flags: str) -> str:
        out = subprocess.run([str(self.bin), "mint", "--keys", str(self.data / "keys"), "--issuer", self.base,
                              "--user", user, "--agent", "planner", "--aud", aud, "--ttl", "1h", *flags],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def revoke(self, *flags: str) -> None:
        subprocess.run([str(self.bin), "revoke", *flags, "--reason", "test", "--data-dir", str(self.data)],
                       check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ok(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never answered")


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    go = shutil.which("go")
    assert go, "the Go toolchain is needed to build legant for these tests"
    tmp = tmp_path_factory.mktemp("legant")
    binary = tmp / "legant"
    subprocess.run([go, "build", "-o", str(binary), "./cmd/legant"], cwd=REPO, check=True)
    reg = tmp / "legant.yaml"
    reg.write_text("version: 1\nupstreams:\n  - slug: api\n    url: http://127.0.0.1:9/mcp\n"
                   "    tools:\n      pay: {scope: pay}\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp / "data"
    log = open(tmp / "gateway.log", "wb")
    gw = subprocess.Popen([str(binary), "gateway", "--listen", f"127.0.0.1:{port}", "-f", str(reg),
                           "--data-dir", str(data), "--admin-listen="], stdout=log, stderr=log)
    try:
        wait_ok(base + "/.well-known/jwks.json")
        yield Issuer(binary, base, data)
    finally:
        gw.terminate()
        try:
            gw.wait(10)
        except subprocess.TimeoutExpired:
            gw.kill()
            gw.wait()
        log.close()
