"""Collections and aliases: create (single vector, named vectors, every distance),
collection_exists, get_collection (points_count, vector params; hnsw/optimizer/quantization
configs given at create are reported back), list, update_collection, delete; aliases (create,
rename, delete, list, atomic switch) and reading/writing through an alias. Compared with local
mode where local mode models the feature; config round-trips are checked against the request
(local mode does not keep them).
"""
from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models

from _compat import assert_records_equal, assert_scored_equal, scroll_all, unique

DISTANCES = [models.Distance.COSINE, models.Distance.DOT, models.Distance.EUCLID,
             models.Distance.MANHATTAN]


def _points(n: int, dim: int, seed: int = 0, named: tuple = ()) -> list[models.PointStruct]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if named:
            vector = {name: rng.uniform(-1, 1, dim).round(4).tolist() for name in named}
        else:
            vector = rng.uniform(-1, 1, dim).round(4).tolist()
        out.append(models.PointStruct(id=i, vector=vector, payload={"i": i, "even": i % 2 == 0}))
    return out


def _vector_params(info) -> dict:
    v = info.config.params.vectors
    if isinstance(v, dict):
        return {k: (p.size, p.distance) for k, p in v.items()}
    return {"": (v.size, v.distance)}


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_create_single_vector(pair, distance):
    name = pair.create(vectors_config=models.VectorParams(size=5, distance=distance))
    assert pair.do("collection_exists", name) == (True, True)
    s, l = pair.do("get_collection", name)
    assert _vector_params(s) == _vector_params(l) == {"": (5, distance)}
    assert s.points_count == l.points_count == 0
    pts = _points(20, 5)
    pair.do("upsert", name, points=pts, wait=True)
    s, l = pair.do("get_collection", name)
    assert s.points_count == l.points_count == 20
    s, l = pair.do("retrieve", name, ids=list(range(20)), with_vectors=True)
    assert_records_equal(s, l, what=f"{distance.value} retrieve")  # cosine: stored normalised
    q = _points(1, 5, seed=99)[0].vector
    s, l = pair.both(lambda c: c.query_points(name, query=q, limit=7, with_vectors=True).points)
    assert_scored_equal(s, l, what=f"{distance.value} query")


def test_create_named_vectors(pair):
    config = {
        "text": models.VectorParams(size=4, distance=models.Distance.COSINE),
        "image": models.VectorParams(size=3, distance=models.Distance.EUCLID),
        "dot": models.VectorParams(size=2, distance=models.Distance.DOT),
        "l1": models.VectorParams(size=6, distance=models.Distance.MANHATTAN),
    }
    name = pair.create(vectors_config=config)
    s, l = pair.do("get_collection", name)
    assert _vector_params(s) == _vector_params(l) == {k: (v.size, v.distance)
                                                      for k, v in config.items()}
    rng = np.random.default_rng(3)
    pts = [models.PointStruct(id=i, vector={k: rng.uniform(-1, 1, v.size).round(4).tolist()
                                            for k, v in config.items()}) for i in range(15)]
    pair.do("upsert", name, points=pts, wait=True)
    s, l = pair.do("retrieve", name, ids=list(range(15)), with_vectors=True)
    assert_records_equal(s, l, what="named retrieve")
    for vname, params in config.items():
        q = rng.uniform(-1, 1, params.size).round(4).tolist()
        s, l = pair.both(lambda c: c.query_points(name, query=q, using=vname, limit=5).points)
        assert_scored_equal(s, l, what=f"query using={vname}")


def test_collection_exists_and_missing(pair):
    name = pair.create(vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    assert pair.do("collection_exists", name) == (True, True)
    assert pair.do("collection_exists", unique("missing")) == (False, False)


def test_list_collections(pair):
    names = {pair.create(vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
             for _ in range(3)}
    s, l = pair.do("get_collections")
    listed_s = {c.name for c in s.collections} & names
    listed_l = {c.name for c in l.collections} & names
    assert listed_s == listed_l == names


def test_delete_collection(pair):
    name = pair.create(vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    pair.do("upsert", name, points=_points(5, 2), wait=True)
    assert pair.do("delete_collection", name) == (True, True)
    assert pair.do("collection_exists", name) == (False, False)
    assert name not in {c.name for c in pair.server.get_collections().collections}
    # the name can be reused, and the new collection starts empty
    for c in pair.clients:
        c.create_collection(name, vectors_config=models.VectorParams(
            size=3, distance=models.Distance.EUCLID))
    s, l = pair.do("get_collection", name)
    assert s.points_count == l.points_count == 0
    assert _vector_params(s) == _vector_params(l) == {"": (3, models.Distance.EUCLID)}


QUANTIZATIONS = {
    "scalar": models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
        type=models.ScalarType.INT8, quantile=0.95, always_ram=True)),
    "product": models.ProductQuantization(product=models.ProductQuantizationConfig(
        compression=models.CompressionRatio.X16, always_ram=False)),
    "binary": models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True)),
}


@pytest.mark.server_only
@pytest.mark.parametrize("kind", list(QUANTIZATIONS))
def test_get_collection_reports_create_configs(server_pair, kind):
    c, name = server_pair.server, server_pair.name()
    c.create_collection(
        name, vectors_config=models.VectorParams(size=16, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=24, ef_construct=123, full_scan_threshold=5000),
        optimizers_config=models.OptimizersConfigDiff(
            indexing_threshold=12345, memmap_threshold=20000, default_segment_number=2),
        quantization_config=QUANTIZATIONS[kind], on_disk_payload=True)
    info = c.get_collection(name)
    cfg = info.config
    assert (cfg.params.vectors.size, cfg.params.vectors.distance) == (16, models.Distance.COSINE)
    assert cfg.params.on_disk_payload is True
    assert (cfg.hnsw_config.m, cfg.hnsw_config.ef_construct,
            cfg.hnsw_config.full_scan_threshold) == (24, 123, 5000)
    assert cfg.optimizer_config.indexing_threshold == 12345
    assert cfg.optimizer_config.memmap_threshold == 20000
    assert cfg.optimizer_config.default_segment_number == 2
    q = cfg.quantization_config
    if kind == "scalar":
        assert q.scalar.type == models.ScalarType.INT8
        assert abs(q.scalar.quantile - 0.95) < 1e-6 and q.scalar.always_ram is True
    elif kind == "product":
        assert q.product.compression == models.CompressionRatio.X16
    else:
        assert q.binary.always_ram is True
    assert info.points_count == 0
    assert info.status in (models.CollectionStatus.GREEN, models.CollectionStatus.YELLOW)


@pytest.mark.server_only
def test_per_vector_configs_reported(server_pair):
    c, name = server_pair.server, server_pair.name()
    c.create_collection(name, vectors_config={
        "x": models.VectorParams(size=8, distance=models.Distance.DOT, on_disk=True,
                                 hnsw_config=models.HnswConfigDiff(m=8)),
        "y": models.VectorParams(size=4, distance=models.Distance.EUCLID)})
    v = c.get_collection(name).config.params.vectors
    assert (v["x"].size, v["x"].distance, v["x"].on_disk) == (8, models.Distance.DOT, True)
    assert v["x"].hnsw_config.m == 8
    assert (v["y"].size, v["y"].distance) == (4, models.Distance.EUCLID)


@pytest.mark.server_only
def test_update_collection(server_pair):
    c, name = server_pair.server, server_pair.name()
    c.create_collection(name, vectors_config=models.VectorParams(
        size=4, distance=models.Distance.COSINE))
    c.upsert(name, points=_points(10, 4), wait=True)
    assert c.update_collection(
        name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=777),
        hnsw_config=models.HnswConfigDiff(m=12, ef_construct=64)) is True
    cfg = c.get_collection(name).config
    assert cfg.optimizer_config.indexing_threshold == 777
    assert (cfg.hnsw_config.m, cfg.hnsw_config.ef_construct) == (12, 64)
    assert c.update_collection(name, quantization_config=models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.9))) is True
    assert abs(c.get_collection(name).config.quantization_config.scalar.quantile - 0.9) < 1e-6
    assert c.count(name).count == 10  # data survives config changes


def test_update_collection_keeps_data(pair):
    name = pair.create(vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    pair.do("upsert", name, points=_points(10, 4), wait=True)
    for c in pair.clients:
        c.update_collection(name, optimizers_config=models.OptimizersConfigDiff(
            indexing_threshold=1000))
    s, l = pair.both(lambda c: scroll_all(c, name, with_vectors=True))
    assert_records_equal(s, l, ordered=True, what="after update_collection")


def _aliases(c, names: set) -> set:
    return {(a.alias_name, a.collection_name) for a in c.get_aliases().aliases
            if a.alias_name in names}


def test_aliases(pair):
    vp = models.VectorParams(size=4, distance=models.Distance.EUCLID)
    c1, c2 = pair.create(vectors_config=vp), pair.create(vectors_config=vp)
    pair.do("upsert", c1, points=_points(12, 4, seed=1), wait=True)
    pair.do("upsert", c2, points=_points(5, 4, seed=2), wait=True)
    a1, a2 = pair.alias(), pair.alias()
    ours = {a1, a2}
    assert pair.do("update_collection_aliases", change_aliases_operations=[
        models.CreateAliasOperation(create_alias=models.CreateAlias(
            collection_name=c1, alias_name=a1))]) == (True, True)
    s, l = pair.both(lambda c: _aliases(c, ours))
    assert s == l == {(a1, c1)}
    s, l = pair.both(lambda c: {(a.alias_name, a.collection_name)
                                for a in c.get_collection_aliases(c1).aliases})
    assert s == l == {(a1, c1)}

    # reads and writes through the alias
    q = [0.1, -0.2, 0.3, 0.4]
    s, l = pair.both(lambda c: c.query_points(a1, query=q, limit=5).points)
    assert_scored_equal(s, l, what="query via alias")
    assert pair.do("count", a1) == pair.do("count", c1)
    pair.do("upsert", a1, points=[models.PointStruct(id=100, vector=[1, 2, 3, 4],
                                                     payload={"via": "alias"})], wait=True)
    s, l = pair.do("retrieve", c1, ids=[100], with_vectors=True)
    assert_records_equal(s, l, what="written via alias")
    assert len(s) == 1
    s, l = pair.both(lambda c: scroll_all(c, a1))
    assert_records_equal(s, l, ordered=True, what="scroll via alias")

    # rename
    pair.do("update_collection_aliases", change_aliases_operations=[
        models.RenameAliasOperation(rename_alias=models.RenameAlias(
            old_alias_name=a1, new_alias_name=a2))])
    s, l = pair.both(lambda c: _aliases(c, ours))
    assert s == l == {(a2, c1)}
    assert pair.do("count", a2) == pair.do("count", c1)

    # atomic switch to the other collection: delete + create in one request
    pair.do("update_collection_aliases", change_aliases_operations=[
        models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=a2)),
        models.CreateAliasOperation(create_alias=models.CreateAlias(
            collection_name=c2, alias_name=a2))])
    s, l = pair.both(lambda c: _aliases(c, ours))
    assert s == l == {(a2, c2)}
    s, l = pair.do("count", a2)
    assert s.count == l.count == 5

    # delete
    pair.do("update_collection_aliases", change_aliases_operations=[
        models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=a2))])
    s, l = pair.both(lambda c: _aliases(c, ours))
    assert s == l == set()
    assert pair.do("collection_exists", c2) == (True, True)


def test_delete_collection_drops_its_aliases(pair):
    name = pair.create(vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    alias = pair.alias()
    pair.do("update_collection_aliases", change_aliases_operations=[
        models.CreateAliasOperation(create_alias=models.CreateAlias(
            collection_name=name, alias_name=alias))])
    pair.do("delete_collection", name)
    s, l = pair.both(lambda c: _aliases(c, {alias}))
    assert s == l == set()
