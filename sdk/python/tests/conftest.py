"""Starts a real ``switchyard serve`` (embedded default) in a fresh data
directory on a free port, with an owner API key from the admin CLI."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import tempfile
import time

import httpx
import pytest


def _binary() -> str:
    default = pathlib.Path(__file__).resolve().parents[3] / "target" / "debug" / "switchyard"
    path = os.environ.get("SWITCHYARD_BIN", str(default))
    if not os.path.exists(path):
        pytest.exit(f"no switchyard binary at {path}; build it or set SWITCHYARD_BIN", returncode=2)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, api_key: str) -> None:
        self.url = url
        self.api_key = api_key
        self.base_url = f"{url}/v1"

    def graphql(self, query: str) -> dict:
        """Set-up the REST API has no route for (data endpoints and keys)."""
        r = httpx.post(f"{self.url}/graphql", json={"query": query}, headers={"authorization": f"Bearer {self.api_key}"})
        body = r.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture(scope="session")
def server():
    bin_path = _binary()
    with tempfile.TemporaryDirectory(prefix="switchyard-sdk-") as d:
        port = _free_port()
        proc = subprocess.Popen(
            [bin_path, "serve", "--listen", f"127.0.0.1:{port}", "--allow-private-targets", "true"],
            cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            else:
                raise RuntimeError("server did not start")
            out = subprocess.run([bin_path, "admin", "create-api-key", "--email", "owner@localhost"], cwd=d,
                                 check=True, capture_output=True, text=True).stdout
            yield Server(url, out.strip().splitlines()[-1])
        finally:
            proc.terminate()
            proc.wait(timeout=30)
