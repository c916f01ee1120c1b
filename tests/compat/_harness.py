"""Process harness for the compatibility suite: find the `quiver` binary, start it on chosen
ports with a throw-away storage directory, wait until it answers, and stop it again.

Used by conftest.py (one server on free ports for the whole session) and by test_examples.py
(a second server on the fixed ports 6333/6334 the example scripts hard-code).

Environment:
    QUIVER_BIN               path to the server binary (default: target/release/quiver if it exists,
                             else target/debug/quiver, relative to the repository root)
    QUIVER_COMPAT_SELFTEST=1 do not start any server: the "server" clients are qdrant-client's local
                             mode, so the suite checks itself (local against local)
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0

# servers started and not yet stopped; conftest checks after every test that they are alive
RUNNING: list["QuiverServer"] = []


def selftest() -> bool:
    """True when the suite runs against qdrant-client's local mode instead of a server."""
    return os.environ.get("QUIVER_COMPAT_SELFTEST", "0") not in ("", "0", "false", "no")


def quiver_binary() -> Path:
    env = os.environ.get("QUIVER_BIN")
    if env:
        return Path(env).resolve()
    release = REPO_ROOT / "target" / "release" / "quiver"
    if release.exists():
        return release
    return REPO_ROOT / "target" / "debug" / "quiver"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nobody listens on it. SO_REUSEADDR, as servers set it: TIME_WAIT leftovers don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def _tcp_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ServerError(RuntimeError):
    pass


class QuiverServer:
    """One `quiver` process. Its stdout/stderr go to files in its own temp directory (a pipe
    nobody reads would block the server once it fills)."""

    def __init__(self, http_port: int | None = None, grpc_port: int | None = None,
                 extra_env: dict[str, str] | None = None):
        self.extra_env = dict(extra_env or {})
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        while self.grpc_port == self.http_port:
            self.grpc_port = free_port()
        self.binary = quiver_binary()
        self.workdir = Path(tempfile.mkdtemp(prefix="quiver-compat-"))
        self.storage = self.workdir / "storage"
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> "QuiverServer":
        if not self.binary.exists():
            raise ServerError(
                f"quiver binary not found at {self.binary}. Build it with "
                "`cargo build --release -p quiver-server` or point QUIVER_BIN at it "
                "(or run the suite against local mode with QUIVER_COMPAT_SELFTEST=1).")
        self.storage.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "QUIVER__STORAGE__PATH": str(self.storage),
            "QUIVER__SERVICE__HTTP_PORT": str(self.http_port),
            "QUIVER__SERVICE__GRPC_PORT": str(self.grpc_port),
            "QUIVER__SERVICE__HOST": "127.0.0.1",
        })
        env.update(self.extra_env)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(self.binary)], env=env, cwd=self.workdir,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        RUNNING.append(self)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerError(f"quiver exited with code {self.proc.returncode} during "
                                  f"startup.\n{self.describe()}")
            ready = (_http_status(self.http_url + "/readyz") == 200
                     or _http_status(self.http_url + "/") == 200)
            if ready and _tcp_open(self.grpc_port):
                return
            time.sleep(0.1)
        raise ServerError(f"quiver did not answer 200 on /readyz or / within "
                          f"{READY_TIMEOUT_S:.0f}s (and/or gRPC port closed).\n{self.describe()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self, tail_chars: int = 20000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no output>"
        return text[-tail_chars:]

    def describe(self) -> str:
        return (f"binary={self.binary} http={self.http_port} grpc={self.grpc_port} "
                f"storage={self.storage}\n--- quiver stderr (tail) ---\n{self.output()}")

    def stop(self) -> None:
        if self in RUNNING:
            RUNNING.remove(self)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        self.stop()
        if os.environ.get("QUIVER_COMPAT_KEEP_STORAGE"):
            return
        shutil.rmtree(self.workdir, ignore_errors=True)
