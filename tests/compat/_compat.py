"""Helpers for congruence tests: run one operation on the server client and on local mode, and
compare the answers after normalising what Qdrant leaves unspecified.

Rules: ids and payloads compare exactly (payloads type-strict: 1, 1.0 and True differ); scores and
vectors with a tolerance (SCORE_TOL / VECTOR_TOL, relative for large magnitudes); lists whose order
is unspecified (retrieve, count-like sets) are sorted by id; scored lists keep their order, except
that points with equal scores may come in any order.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable

from qdrant_client import QdrantClient

SCORE_TOL = 1e-4
VECTOR_TOL = 1e-4


def unique(prefix: str = "c") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def id_key(point_id: Any) -> tuple:
    """Qdrant's id order: all integer ids first, then UUIDs."""
    return (0, point_id, "") if isinstance(point_id, int) else (1, 0, str(point_id))


def canon(value: Any) -> str:
    """Type-strict canonical JSON (key order ignored; 1, 1.0 and true stay distinct)."""
    return json.dumps(value, sort_keys=True, allow_nan=True)


def close(a: float, b: float, tol: float = SCORE_TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def norm_vectors(v: Any) -> dict | None:
    """None stays None; a plain vector becomes {"": vector}; named vectors stay a dict."""
    if v is None:
        return None
    if isinstance(v, dict):
        return {k: [float(x) for x in val] for k, val in v.items()}
    return {"": [float(x) for x in v]}


def assert_vectors_equal(a: Any, b: Any, where: str = "") -> None:
    na, nb = norm_vectors(a), norm_vectors(b)
    if na is None or nb is None:
        assert na == nb, f"{where}: vectors {a!r} != {b!r}"
        return
    assert sorted(na) == sorted(nb), f"{where}: vector names {sorted(na)} != {sorted(nb)}"
    for name in na:
        va, vb = na[name], nb[name]
        assert len(va) == len(vb), f"{where}: vector {name!r} length {len(va)} != {len(vb)}"
        bad = [i for i, (x, y) in enumerate(zip(va, vb)) if not close(x, y, VECTOR_TOL)]
        assert not bad, f"{where}: vector {name!r} differs at {bad[:5]}: {va} != {vb}"


# Over gRPC a payload is a protobuf map, which has no presence: "no payload" and "empty payload"
# are the same bytes on the wire, and qdrant-client turns them into None for scored points and {}
# for records whatever the server meant. The `transport` fixture in conftest sets this for gRPC
# tests so that difference (which Qdrant itself shows) is not reported as a server bug.
EMPTY_PAYLOAD_IS_NONE = False


def assert_payload_equal(a: Any, b: Any, where: str = "") -> None:
    if canon(a) == canon(b):
        return
    if EMPTY_PAYLOAD_IS_NONE and a in (None, {}) and b in (None, {}):
        return
    diff = ""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in set(a) | set(b) if canon(a.get(k, "<missing>")) != canon(
            b.get(k, "<missing>")))
        diff = "".join(f"\n  [{k!r}] server: {canon(a.get(k, '<missing>'))}  local: "
                       f"{canon(b.get(k, '<missing>'))}" for k in keys)
    raise AssertionError(f"{where}: payload differs{diff}\n  server: {canon(a)}\n"
                         f"  local:  {canon(b)}")


def assert_records_equal(server: list, local: list, ordered: bool = False,
                         what: str = "records") -> None:
    """Records (retrieve/scroll): same ids, payloads exactly, vectors within tolerance."""
    if not ordered:
        server = sorted(server, key=lambda r: id_key(r.id))
        local = sorted(local, key=lambda r: id_key(r.id))
    sid, lid = [r.id for r in server], [r.id for r in local]
    assert sid == lid, f"{what}: ids differ\n  server: {sid}\n  local:  {lid}"
    for rs, rl in zip(server, local):
        assert_payload_equal(rs.payload, rl.payload, f"{what} id={rs.id}")
        assert_vectors_equal(rs.vector, rl.vector, f"{what} id={rs.id}")


def assert_scored_equal(server: list, local: list, what: str = "scored",
                        check_payload: bool = True) -> None:
    """Scored points: same length and scores position by position; ids equal up to the order of
    points with equal scores. (A tie group cut by the limit could legitimately differ; the test
    data uses random float vectors, so exact ties do not occur.)"""
    ss, ls = [p.score for p in server], [p.score for p in local]
    desc = f"\n  server: {[(p.id, round(p.score, 6)) for p in server]}" \
           f"\n  local:  {[(p.id, round(p.score, 6)) for p in local]}"
    assert len(server) == len(local), f"{what}: {len(server)} != {len(local)} hits{desc}"
    assert all(close(a, b) for a, b in zip(ss, ls)), f"{what}: scores differ{desc}"
    i = 0
    while i < len(server):
        j = i + 1
        while j < len(server) and close(ss[j], ss[i]):
            j += 1
        group_s = sorted((p.id for p in server[i:j]), key=id_key)
        group_l = sorted((p.id for p in local[i:j]), key=id_key)
        assert group_s == group_l, f"{what}: ids differ at ranks {i}..{j - 1}{desc}"
        i = j
    by_id = {p.id: p for p in local}
    for p in server:
        if p.id in by_id:
            if check_payload:
                assert_payload_equal(p.payload, by_id[p.id].payload, f"{what} id={p.id}")
            assert_vectors_equal(p.vector, by_id[p.id].vector, f"{what} id={p.id}")


def scroll_all(c: QdrantClient, name: str, page: int = 37, **kwargs) -> list:
    """Every point via next_page_offset paging; checks the pages are in id order."""
    out, offset, pages = [], None, 0
    while True:
        records, offset = c.scroll(name, limit=page, offset=offset, **kwargs)
        out.extend(records)
        pages += 1
        assert pages < 10_000, "scroll does not terminate"
        if offset is None:
            break
        assert records, "empty page with a next_page_offset"
    keys = [id_key(r.id) for r in out]
    assert keys == sorted(keys), f"scroll pages not in id order: {[r.id for r in out]}"
    assert len(set(keys)) == len(keys), "scroll returned a point twice"
    return out


def assert_filter_congruent(ds, flt, query: list[float], using: str = "a") -> int:
    """count, full filtered scroll (ids) and an exact filtered query agree with local mode.
    `ds` has .server, .local, .name. Returns the number of matching points."""
    from qdrant_client import models
    cs, cl = (c.count(ds.name, count_filter=flt, exact=True).count for c in (ds.server, ds.local))
    assert cs == cl, f"count: server {cs} != local {cl}"
    ids_s, ids_l = ([r.id for r in scroll_all(c, ds.name, page=50, scroll_filter=flt,
                                               with_payload=False)]
                    for c in (ds.server, ds.local))
    missing, extra = sorted(set(ids_l) - set(ids_s)), sorted(set(ids_s) - set(ids_l))
    assert ids_s == ids_l, f"scroll ids: server lacks {missing}, has extra {extra}"
    assert len(ids_s) == cs, f"scroll returned {len(ids_s)} points but count says {cs}"
    qs, ql = (c.query_points(ds.name, query=query, using=using, query_filter=flt, limit=10,
                             search_params=models.SearchParams(exact=True)).points
              for c in (ds.server, ds.local))
    assert_scored_equal(qs, ql, what="filtered query")
    return cs


def wait_until(fn: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


class Pair:
    """The client under test and local mode, plus the collections/aliases to delete afterwards.
    `local` is None for server-only tests."""

    def __init__(self, server: QdrantClient, local: QdrantClient | None):
        self.server, self.local = server, local
        self.collections: list[str] = []
        self.aliases: list[str] = []

    @property
    def clients(self) -> list[QdrantClient]:
        return [c for c in (self.server, self.local) if c is not None]

    def name(self, prefix: str = "c") -> str:
        n = unique(prefix)
        self.collections.append(n)
        return n

    def alias(self, prefix: str = "a") -> str:
        n = unique(prefix)
        self.aliases.append(n)
        return n

    def both(self, fn: Callable[[QdrantClient], Any]) -> tuple[Any, Any]:
        """(fn(server), fn(local))."""
        return fn(self.server), fn(self.local)

    def do(self, method: str, *args, **kwargs) -> tuple[Any, Any]:
        return self.both(lambda c: getattr(c, method)(*args, **kwargs))

    def create(self, prefix: str = "c", **kwargs) -> str:
        """A new uniquely named collection on every client; returns its name."""
        n = self.name(prefix)
        for c in self.clients:
            assert c.create_collection(n, **kwargs) is True
        return n

    def cleanup(self) -> None:
        from qdrant_client import models
        for c in self.clients:
            for a in self.aliases:
                try:
                    c.update_collection_aliases(change_aliases_operations=[
                        models.DeleteAliasOperation(
                            delete_alias=models.DeleteAlias(alias_name=a))])
                except Exception:
                    pass
            for n in self.collections:
                try:
                    c.delete_collection(n)
                except Exception:
                    pass
