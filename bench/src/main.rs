//! `quiver-bench`: in-process numbers on a shared dataset (default ../shared/datasets/minilm-100k):
//! upsert throughput (batches of 256, `wait=true`, i.e. fsynced) and exact-search latency / QPS /
//! recall@10 against the dataset's ground truth, unfiltered and with its two payload filters.
//!
//!     cargo run --release -p quiver-bench -- [--dataset DIR] [--queries N] [--shards N]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use quiver_collection::{Catalog, CatalogOptions, CollectionConfig};
use quiver_types::{
    PointId, PointRecord, Query, QueryRequest, UpdateOperation, VectorData, VectorInput, WithPayload,
    WithVector,
};

mod dataset;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("../shared/datasets/minilm-100k");
    let mut nq = 500usize;
    let mut shards = 1u32;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dataset" => dir = PathBuf::from(args.next().context("--dataset DIR")?),
            "--queries" => nq = args.next().context("--queries N")?.parse()?,
            "--shards" => shards = args.next().context("--shards N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let ds = dataset::Dataset::load(&dir)?;
    println!(
        "dataset {} : {} points x {} dims, {} queries",
        dir.display(),
        ds.n,
        ds.dim,
        ds.queries.len() / ds.dim
    );

    let storage = tempfile::tempdir()?;
    // Exact-search numbers: the optimizer stays off so no segment gets a graph.
    let options = CatalogOptions {
        optimize: false,
        ..CatalogOptions::default()
    };
    let catalog = Catalog::open(storage.path(), options)?;
    let config: CollectionConfig = serde_json::from_value(serde_json::json!({
        "params": {"vectors": {"size": ds.dim, "distance": "Cosine"}, "shard_number": shards,
                   "replication_factor": 1, "write_consistency_factor": 1, "on_disk_payload": true},
        "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0, "on_disk": false},
        "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
                             "indexing_threshold": 10000, "flush_interval_sec": 5},
        "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
        "quantization_config": null
    }))?;
    let collection = catalog.create("bench", config)?;

    // Ingest: batches of 256 with wait=true (fsync before acknowledging), payloads included.
    let started = Instant::now();
    for start in (0..ds.n).step_by(256) {
        let end = (start + 256).min(ds.n);
        let points = (start..end)
            .map(|i| PointRecord {
                id: PointId::Num(i as u64),
                vectors: [(
                    String::new(),
                    VectorData::Dense(ds.base[i * ds.dim..(i + 1) * ds.dim].to_vec()),
                )]
                .into(),
                payload: ds.payloads[i].clone(),
            })
            .collect();
        collection.update(&UpdateOperation::Upsert(points), true)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "upsert: {} points in {:.2} s = {:.0} points/s (batches of 256, wait=true)",
        ds.n,
        secs,
        ds.n as f64 / secs
    );

    let queries = ds.queries.len() / ds.dim;
    let nq = nq.min(queries);
    for (label, filter, gt) in ds.filters() {
        let mut lat = Vec::with_capacity(nq);
        let mut hits = 0usize;
        let t0 = Instant::now();
        for q in 0..nq {
            let req = QueryRequest {
                prefetch: vec![],
                query: Some(Query::Nearest(VectorInput::Dense(
                    ds.queries[q * ds.dim..(q + 1) * ds.dim].to_vec(),
                ))),
                using: String::new(),
                filter: filter.clone(),
                limit: 10,
                offset: 0,
                score_threshold: None,
                with_payload: WithPayload::None,
                with_vector: WithVector::None,
                params: Default::default(),
            };
            let t = Instant::now();
            let res = collection.query(&req)?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            let truth = &gt[q * 100..q * 100 + 10];
            hits += res
                .iter()
                .filter(|p| matches!(p.id, PointId::Num(n) if truth.contains(&(n as i32))))
                .count();
        }
        let wall = t0.elapsed().as_secs_f64();
        lat.sort_by(f64::total_cmp);
        println!(
            "exact search [{label:>10}]: {nq} queries, recall@10 {:.4}, {:.1} QPS (one query at a time, segments in parallel), p50 {:.2} ms, p99 {:.2} ms",
            hits as f64 / (10 * nq) as f64,
            nq as f64 / wall,
            lat[lat.len() / 2],
            lat[(lat.len() * 99 / 100).min(lat.len() - 1)]
        );
    }
    catalog.close()?;
    Ok(())
}
