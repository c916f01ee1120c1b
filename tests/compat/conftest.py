"""Fixtures of the Qdrant compatibility suite.

* `quiver_server` (session): a `quiver` process on free 127.0.0.1 ports with a temp storage dir,
  started once, always stopped; if it dies, the next test fails with its stderr.
* `rest` / `grpc` (session): qdrant-client 1.20 talking to it over REST / gRPC.
* `client` (session, parametrized "rest" and "grpc"): both of the above in turn.
* `local` (session): `QdrantClient(":memory:")`, the reference the server is compared against.
* `pair`: a `Pair` of (client, local) that names collections uniquely and deletes them afterwards.
* `dataset` (parametrized "plain"/"indexed") and `indexed_dataset`: the _dataset.py points loaded
  once per session into the server and into local mode (read-only for tests).

QUIVER_COMPAT_SELFTEST=1 replaces the server clients by other local-mode clients, which checks the
suite itself; tests marked `server_only` are then skipped.

Run (from the repository root):
    cargo build --release -p quiver-server
    .venv/bin/pip install -r tests/compat/requirements.txt      # once
    .venv/bin/python -m pytest tests/compat -q                   # QUIVER_BIN=... to pick a binary
    QUIVER_COMPAT_SELFTEST=1 .venv/bin/python -m pytest tests/compat -q   # check the suite itself
    .venv/bin/python -m pytest tests/compat -q -k "rest and not example"  # REST only, no examples
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from qdrant_client import QdrantClient

import _compat
import _dataset
from _compat import Pair, unique
from _harness import RUNNING, QuiverServer, ServerError, selftest


def pytest_configure(config):
    config.addinivalue_line("markers", "server_only: needs a real quiver server (not self-test)")
    config.addinivalue_line("filterwarnings",
                            "ignore:Payload indexes have no effect in the local Qdrant")
    config.addinivalue_line("filterwarnings", "ignore:Local mode performs exact")


def pytest_collection_modifyitems(config, items):
    if not selftest():
        return
    skip = pytest.mark.skip(reason="QUIVER_COMPAT_SELFTEST=1: server-only test")
    for item in items:
        if "server_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    if selftest():
        return "quiver compat: SELF-TEST mode (local mode vs local mode, no server)"
    from _harness import quiver_binary
    return f"quiver compat: binary {quiver_binary()}"


@pytest.fixture(autouse=True)
def _servers_still_alive():
    """Fails the test during which a quiver died (with its stderr), and every later one fast."""
    for server in RUNNING:
        if not server.alive() and getattr(server, "death_reported", False):
            pytest.fail(f"quiver died earlier (exit code {server.proc.returncode}); "
                        "see the first failure for its stderr", pytrace=False)
    yield
    for server in RUNNING:
        if not server.alive() and not getattr(server, "death_reported", False):
            server.death_reported = True
            pytest.fail(f"quiver died (exit code {server.proc.returncode}) during this test.\n"
                        f"{server.describe()}", pytrace=False)


@pytest.fixture(scope="session")
def quiver_server():
    if selftest():
        yield None
        return
    server = QuiverServer()
    error = None
    try:
        server.start()
    except ServerError as e:
        error = str(e)
        server.cleanup()
    if error:
        pytest.fail(error, pytrace=False)
    try:
        yield server
    finally:
        died = not server.alive() and not getattr(server, "death_reported", False)
        server.cleanup()
        if died:
            pytest.fail(f"quiver was dead at the end of the session.\n{server.describe()}",
                        pytrace=False)


def make_client(server: QuiverServer | None, prefer_grpc: bool) -> QdrantClient:
    if server is None:  # self-test
        return QdrantClient(":memory:")
    return QdrantClient(host="127.0.0.1", port=server.http_port, grpc_port=server.grpc_port,
                        prefer_grpc=prefer_grpc, timeout=60, check_compatibility=False)


@pytest.fixture(scope="session")
def rest(quiver_server):
    c = make_client(quiver_server, prefer_grpc=False)
    yield c
    c.close()


@pytest.fixture(scope="session")
def grpc(quiver_server):
    c = make_client(quiver_server, prefer_grpc=True)
    yield c
    c.close()


@pytest.fixture(scope="session", params=["rest", "grpc"])
def client(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(autouse=True)
def transport(request):
    """Tells the comparisons which transport this test uses (see _compat.EMPTY_PAYLOAD_IS_NONE)."""
    callspec = getattr(request.node, "callspec", None)
    mode = callspec.params.get("client") if callspec else None
    _compat.EMPTY_PAYLOAD_IS_NONE = mode == "grpc"
    yield mode
    _compat.EMPTY_PAYLOAD_IS_NONE = False


@pytest.fixture(scope="session")
def local():
    c = QdrantClient(":memory:")
    yield c
    c.close()


@pytest.fixture
def pair(client, local):
    p = Pair(client, local)
    yield p
    p.cleanup()


@pytest.fixture
def server_pair(client):
    """Like `pair` but only the server side is used (error tests): unique names + cleanup."""
    p = Pair(client, None)
    yield p
    p.cleanup()


@pytest.fixture(scope="session")
def _dataset_cache():
    """(server client, local client, indexed) -> loaded dataset; deleted at session end."""
    cache: dict = {}
    yield cache
    for ds in cache.values():
        for c in (ds.server, ds.local):
            try:
                c.delete_collection(ds.name)
            except Exception:
                pass


def _get_dataset(cache: dict, server: QdrantClient, local: QdrantClient, indexed: bool):
    key = (id(server), id(local), indexed)
    if key not in cache:
        name = unique("ds_indexed" if indexed else "ds_plain")
        ds = cache[key] = SimpleNamespace(server=server, local=local, name=name,
                                          indexed=indexed, error=None)
        try:
            for c in (server, local):
                _dataset.load(c, name, indexed)
        except Exception as e:
            ds.error = f"{type(e).__name__}: {e}"
            raise
    elif cache[key].error:  # fail fast instead of reloading for every test
        pytest.fail(f"loading the shared dataset failed earlier: {cache[key].error}",
                    pytrace=False)
    return cache[key]


@pytest.fixture(params=[False, True], ids=["plain", "indexed"])
def dataset(request, client, local, _dataset_cache):
    """The shared dataset, without and with payload indexes. Do not modify it."""
    return _get_dataset(_dataset_cache, client, local, request.param)


@pytest.fixture
def indexed_dataset(client, local, _dataset_cache):
    """The shared dataset with payload indexes (needed by order_by). Do not modify it."""
    return _get_dataset(_dataset_cache, client, local, True)
