//! `quiver-bench`: in-process numbers through the collection API on a shared dataset (default
//! ../shared/datasets/minilm-100k): upsert throughput (batches of 256, `wait=true`, i.e. fsynced),
//! exact-search latency / QPS / recall@10 against the dataset's ground truth, then the optimizer's
//! index build time and graph search per `hnsw_ef`, unfiltered and with the dataset's two payload
//! filters (with the planner's choice per segment).
//!
//!     cargo run --release -p quiver-bench -- [--dataset DIR] [--queries N] [--shards N] [--efs 16,32]
//!         [--principal FIELD] [--no-exact]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use quiver_collection::{Catalog, CatalogOptions, CollectionConfig};
use quiver_types::{
    Filter, PointId, PointRecord, Query, QueryRequest, SearchParams, UpdateOperation, VectorData,
    VectorInput, WithPayload, WithVector,
};

mod dataset;

/// Recall and speed of one batch of queries, one at a time.
struct Measured {
    recall: f64,
    qps: f64,
    p50: f64,
    p99: f64,
}

fn request(ds: &dataset::Dataset, q: usize, filter: Option<Filter>, params: SearchParams) -> QueryRequest {
    QueryRequest {
        prefetch: vec![],
        query: Some(Query::Nearest(VectorInput::Dense(
            ds.queries[q * ds.dim..(q + 1) * ds.dim].to_vec(),
        ))),
        using: String::new(),
        filter,
        limit: 10,
        offset: 0,
        score_threshold: None,
        with_payload: WithPayload::None,
        with_vector: WithVector::None,
        params,
    }
}

fn measure(
    collection: &quiver_collection::Collection,
    ds: &dataset::Dataset,
    filter: Option<Filter>,
    gt: &[i32],
    params: SearchParams,
    nq: usize,
) -> anyhow::Result<Measured> {
    let mut lat = Vec::with_capacity(nq);
    let mut hits = 0usize;
    let t0 = Instant::now();
    for q in 0..nq {
        let req = request(ds, q, filter.clone(), params);
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
    Ok(Measured {
        recall: hits as f64 / (10 * nq) as f64,
        qps: nq as f64 / wall,
        p50: lat[lat.len() / 2],
        p99: lat[(lat.len() * 99 / 100).min(lat.len() - 1)],
    })
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("../shared/datasets/minilm-100k");
    let mut nq = 500usize;
    let mut shards = 1u32;
    let mut efs: Vec<usize> = vec![16, 32, 64, 128];
    let mut principal: Vec<String> = Vec::new();
    let mut exact_searches = true;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dataset" => dir = PathBuf::from(args.next().context("--dataset DIR")?),
            "--queries" => nq = args.next().context("--queries N")?.parse()?,
            "--shards" => shards = args.next().context("--shards N")?.parse()?,
            "--principal" => principal.push(args.next().context("--principal FIELD")?),
            "--no-exact" => exact_searches = false,
            "--efs" => {
                efs = args
                    .next()
                    .context("--efs 16,32,...")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
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
    // The dataset's declared payload indexes (meta.json `indexes`), as a user would create them.
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json"))?)?;
    if let Some(indexes) = meta["indexes"].as_object() {
        for (field, kind) in indexes {
            let data_type = kind.as_str().unwrap_or("keyword").to_string();
            // `--principal year`: the field orders the stored points (Qdrant's `is_principal`,
            // for the field most filters select ranges of).
            let params = principal
                .contains(field)
                .then(|| serde_json::json!({"type": data_type, "is_principal": true}));
            collection.create_payload_index(
                field,
                quiver_collection::collection::PayloadFieldSchema { data_type, params },
            )?;
        }
    }

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
    for (label, filter, gt) in ds.filters().into_iter().filter(|_| exact_searches) {
        let m = measure(&collection, &ds, filter, gt, SearchParams::default(), nq)?;
        println!(
            "exact search [{label:>10}]: {nq} queries, recall@10 {:.4}, {:.1} QPS (one query at a time, segments in parallel), p50 {:.2} ms, p99 {:.2} ms",
            m.recall, m.qps, m.p50, m.p99
        );
    }

    // Indexed: the optimizer builds the graph now (as after a bulk load with indexing off).
    let started = Instant::now();
    let mut jobs = 0;
    while collection.optimize_once()? {
        jobs += 1;
    }
    let info = collection.info();
    println!(
        "index build: {:.1} s ({jobs} optimizer jobs, {} segments, {} vectors indexed, m=16 ef_construct=100, all cores)",
        started.elapsed().as_secs_f64(),
        info.segments_count,
        info.indexed_vectors_count
    );
    indexed_searches(&collection, &ds, &efs, nq, "f32")?;

    // The same graph traversed on int8 codes (scalar quantization), candidates rescored with the
    // original vectors: a PATCH of quantization_config, which rebuilds only the codes.
    let started = Instant::now();
    let scalar: quiver_collection::config::QuantizationConfig = serde_json::from_value(
        serde_json::json!({"scalar": {"type": "int8", "quantile": 0.99, "always_ram": true}}),
    )?;
    collection.update_config(&quiver_collection::ConfigDiff {
        quantization_config: Some(Some(scalar)),
        ..Default::default()
    })?;
    while collection.optimize_once()? {}
    println!("int8 codes: built in {:.2} s", started.elapsed().as_secs_f64());
    indexed_searches(&collection, &ds, &efs, nq, "int8")?;
    catalog.close()?;
    Ok(())
}

/// Graph search per `hnsw_ef`, unfiltered and with the dataset's filters, with the planner's
/// choice per segment.
fn indexed_searches(
    collection: &quiver_collection::Collection,
    ds: &dataset::Dataset,
    efs: &[usize],
    nq: usize,
    vectors: &str,
) -> anyhow::Result<()> {
    for (label, filter, gt) in ds.filters() {
        let probe = request(ds, 0, filter.clone(), SearchParams::default());
        let strategies: Vec<String> = collection
            .explain(&probe)?
            .iter()
            .flat_map(|st| st.shards.iter().flat_map(|(_, segments)| segments.iter()))
            .map(|p| {
                format!(
                    "{:?} (est. {} of {})",
                    p.plan, p.estimate.cardinality.exp, p.points
                )
            })
            .collect();
        println!("plan [{label:>6}]: {}", strategies.join(", "));
        for &ef in efs {
            let params = SearchParams {
                hnsw_ef: Some(ef),
                ..SearchParams::default()
            };
            let m = measure(collection, ds, filter.clone(), gt, params, nq)?;
            println!(
                "hnsw search [{label:>6}] {vectors} ef={ef:<4}: {nq} queries, recall@10 {:.4}, {:.0} QPS, p50 {:.3} ms, p99 {:.3} ms",
                m.recall, m.qps, m.p50, m.p99
            );
        }
    }
    Ok(())
}
