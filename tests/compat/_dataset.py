"""Deterministic test data: ~300 points with two named vectors and rich payloads (strings, ints,
floats, bools, arrays, nested objects, arrays of objects, nulls, missing fields, geo points,
datetime strings in several formats, mixed-type values), plus the payload indexes used by the
"indexed" variant of the filter battery.

Everything derives from a fixed seed, so the server and local mode get byte-identical input.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
from qdrant_client import models

N_POINTS = 300
DIM_A, DIM_B = 8, 4  # "a": Cosine, always present; "b": Euclid, missing on ~20% of points
CITIES = ["Berlin", "London", "Moscow", "Paris", "Tokyo", "New York", "São Paulo"]
TAGS = ["a", "b", "c", "d", "e", "f"]
WORDS = ["quick", "brown", "fox", "lazy", "dog", "vector", "search", "engine", "red", "green"]
FRUITS = ["apple", "pear", "plum"]
MIXED = [1, "1", True, False, 2, "two", 1.5, 1.0, None, [1, "1"], 0]
DATE_FORMATS = [
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S+02:00",
    "%Y-%m-%dT%H:%M:%S-05:00",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
]

VECTORS_CONFIG = {
    "a": models.VectorParams(size=DIM_A, distance=models.Distance.COSINE),
    "b": models.VectorParams(size=DIM_B, distance=models.Distance.EUCLID),
}

INDEXES = {
    "city": models.PayloadSchemaType.KEYWORD,
    "count": models.PayloadSchemaType.INTEGER,
    "price": models.PayloadSchemaType.FLOAT,
    "flag": models.PayloadSchemaType.BOOL,
    "tags": models.PayloadSchemaType.KEYWORD,
    "nums": models.PayloadSchemaType.INTEGER,
    "rating": models.PayloadSchemaType.FLOAT,
    "created": models.PayloadSchemaType.DATETIME,
    "location": models.PayloadSchemaType.GEO,
    "description": models.PayloadSchemaType.TEXT,
    "nested.a": models.PayloadSchemaType.INTEGER,
    "nested.b.c": models.PayloadSchemaType.KEYWORD,
    "items[].name": models.PayloadSchemaType.KEYWORD,
    "items[].qty": models.PayloadSchemaType.INTEGER,
    "seq": models.PayloadSchemaType.INTEGER,
    "fseq": models.PayloadSchemaType.FLOAT,
}


def _date(rng: random.Random) -> str:
    base = datetime(2023, 1, 1, tzinfo=timezone.utc)
    dt = base + timedelta(seconds=rng.randrange(3 * 365 * 86400), microseconds=rng.randrange(10**6))
    return dt.strftime(rng.choice(DATE_FORMATS))


def _payload(i: int, rng: random.Random) -> dict:
    p: dict = {"seq": (i * 7919) % 1009, "fseq": round((i * 104729 % 997) / 7.0, 4)}
    if rng.random() < 0.93:
        p["city"] = rng.choice(CITIES)
    p["count"] = rng.randint(0, 100)
    p["price"] = round(rng.uniform(0, 1000), 2)
    p["flag"] = rng.random() < 0.5
    p["tags"] = rng.sample(TAGS, rng.randint(0, 3))
    p["nums"] = [rng.randint(0, 20) for _ in range(rng.randint(0, 4))]
    r = rng.random()
    if r < 0.15:
        p["rating"] = None
    elif r < 0.25:
        p["rating"] = []
    elif r < 0.30:
        p["rating"] = [None, round(rng.uniform(0, 5), 1)]
    elif r < 0.85:
        p["rating"] = round(rng.uniform(0, 5), 1)
    # else: missing
    nested: dict = {"a": rng.randint(0, 10)}
    if rng.random() < 0.7:
        nested["b"] = {"c": rng.choice(WORDS)}
    if rng.random() < 0.9:
        p["nested"] = nested
    p["items"] = [{"name": rng.choice(FRUITS), "qty": rng.randint(0, 10),
                   "tags": rng.sample(TAGS, rng.randint(0, 2))}
                  for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.85:
        p["location"] = {"lat": round(rng.uniform(40, 60), 5),
                         "lon": round(rng.uniform(-10, 30), 5)}
    r = rng.random()
    if r < 0.9:
        p["created"] = _date(rng)
    elif r < 0.95:
        p["created"] = "not a date"
    words = rng.sample(WORDS, 4)
    if rng.random() < 0.3:
        words[0] = words[0].upper()
    p["description"] = " ".join(words) + rng.choice([".", "!", "", ", ok"])
    p["mixed"] = rng.choice(MIXED)
    if rng.random() < 0.1:
        p["maybe"] = None
    elif rng.random() < 0.5:
        p["maybe"] = rng.choice(["x", "y"])
    return p


def make_points(n: int = N_POINTS, seed: int = 42) -> list[models.PointStruct]:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    a = nrng.uniform(-1, 1, size=(n, DIM_A)).round(4)
    b = nrng.uniform(-1, 1, size=(n, DIM_B)).round(4)
    points = []
    for i in range(n):
        vector = {"a": a[i].tolist()}
        if rng.random() < 0.8:
            vector["b"] = b[i].tolist()
        points.append(models.PointStruct(id=i + 1, vector=vector, payload=_payload(i, rng)))
    return points


def query_vector(name: str = "a", seed: int = 7) -> list[float]:
    dim = DIM_A if name == "a" else DIM_B
    return np.random.default_rng(seed).uniform(-1, 1, size=dim).round(4).tolist()


def load(client, name: str, indexed: bool) -> None:
    client.create_collection(name, vectors_config=VECTORS_CONFIG)
    if indexed:
        for field, schema in INDEXES.items():
            client.create_payload_index(name, field, field_schema=schema, wait=True)
    points = make_points()
    for start in range(0, len(points), 100):
        client.upsert(name, points=points[start:start + 100], wait=True)
