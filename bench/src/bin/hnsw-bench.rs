//! `hnsw-bench`: Quiver's HNSW graph in process on a shared dataset, printing the same columns as
//! ../shared/bench/anchors.py (build time; single-thread recall@10 and QPS per ef) so the two can be
//! compared in one run, plus the dataset's tenant (~0.5 %) and range (~29 %) filters applied during
//! graph traversal (no planner: this is the graph alone).
//!
//!     cargo run --release -p quiver-bench --bin hnsw-bench -- [--dataset DIR] [--threads 2]
//!         [--m 16] [--ef-construct 100] [--efs 16,32,64,128,256] [--queries 2000]
//!         [--filter none|tenant|range] [--subset]
//!
//! `--subset` builds a second graph over the filter's matching points alone and searches it
//! unfiltered: the best a filtered search could do, as a yardstick for the value graphs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use quiver_hnsw::{build, GraphSearch, HnswParams};
use quiver_segment::dense_scorer::{PairRanker, QueryScorer};
use quiver_segment::quantized::{Int8Codes, Int8Pairs};
use quiver_segment::vector_storage::DenseStorage;
use quiver_segment::{filter, kernels, Int8Params};
use quiver_types::{Distance, PointOffset};

#[path = "../dataset.rs"]
mod dataset;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("../shared/datasets/minilm-100k");
    let mut params = HnswParams {
        threads: 2,
        ..HnswParams::default()
    };
    let mut efs = vec![16usize, 32, 64, 128, 256];
    let mut nq = 2000usize;
    let mut only: Option<String> = None;
    let mut subset = false;
    let mut build_on = String::from("int8");
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--dataset" => dir = PathBuf::from(val()?),
            "--threads" => params.threads = val()?.parse()?,
            "--m" => params.m = val()?.parse()?,
            "--ef-construct" => params.ef_construct = val()?.parse()?,
            "--efs" => efs = val()?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--queries" => nq = val()?.parse()?,
            "--filter" => only = Some(val()?),
            "--subset" => subset = true,
            "--build-on" => build_on = val()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let mut ds = dataset::Dataset::load(&dir)?;
    let dim = ds.dim;
    ds.queries.chunks_exact_mut(dim).for_each(kernels::normalize);
    let mut storage = DenseStorage::new(dim, Distance::Cosine);
    for (i, v) in ds.base.chunks_exact(dim).enumerate() {
        storage.set(PointOffset(i as u32), v);
    }
    let nq = nq.min(ds.queries.len() / dim);
    println!(
        "quiver-hnsw on {}: {} x {}, M={} ef_construct={} threads={}",
        dir.display(),
        ds.n,
        dim,
        params.m,
        params.ef_construct,
        params.threads
    );

    let nodes: Vec<u32> = (0..ds.n as u32).collect();

    // The product builds on int8 codes (they take part in the timing, as in the optimizer);
    // `--build-on f32` compares against the original vectors.
    let started = Instant::now();
    let codes = match build_on.as_str() {
        "int8" => Int8Codes::build(&storage, Int8Params::default()),
        "f32" => None,
        other => bail!("--build-on int8|f32, not {other}"),
    };
    let pairs = codes.as_ref().map(|c| Int8Pairs::new(c, dim));
    let run_build = |nodes: &[u32]| match &pairs {
        Some(p) => build(&params, ds.n, nodes, p),
        None => build(&params, ds.n, nodes, &PairRanker::new(&storage)),
    };
    let graph = run_build(&nodes);
    println!(
        "build: {:.1} s ({} threads, on {build_on}), links {:.1} MB",
        started.elapsed().as_secs_f64(),
        params.threads,
        graph.memory_bytes() as f64 / 1e6
    );

    for (label, f, gt) in ds.filters() {
        if only.as_deref().is_some_and(|o| o != label) {
            continue;
        }
        let mask: Vec<bool> = match &f {
            None => vec![true; ds.n],
            Some(f) => ds
                .payloads
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    filter::check(
                        f,
                        &Point {
                            id: i as u64,
                            payload: p,
                        },
                    )
                })
                .collect(),
        };
        let selected = mask.iter().filter(|&&m| m).count();
        // --subset: a graph built over the matching points alone,
        // searched without a filter.
        let sub = (subset && f.is_some()).then(|| {
            let nodes: Vec<u32> = (0..ds.n as u32).filter(|&i| mask[i as usize]).collect();
            run_build(&nodes)
        });
        let graph = sub.as_ref().unwrap_or(&graph);
        for &ef in &efs {
            let mut hits = 0usize;
            let mut lat = Vec::with_capacity(nq);
            let t0 = Instant::now();
            for q in 0..nq {
                let query = &ds.queries[q * dim..(q + 1) * dim];
                let t = Instant::now();
                let got = graph.search(
                    &GraphSearch {
                        k: 10,
                        ef,
                        filtered: f.is_some(),
                    },
                    QueryScorer::new(&storage, query),
                    |i| mask[i as usize],
                );
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                let truth = &gt[q * 100..q * 100 + 10];
                hits += got.iter().filter(|s| truth.contains(&(s.id as i32))).count();
            }
            let wall = t0.elapsed().as_secs_f64();
            lat.sort_by(f64::total_cmp);
            println!(
                "filter={label:<6} selected={selected:>6} ef={ef:<4} recall@10={:.4} qps={:.0} p50={:.3}ms p99={:.3}ms",
                hits as f64 / (10 * nq) as f64,
                nq as f64 / wall,
                lat[lat.len() / 2],
                lat[lat.len() * 99 / 100],
            );
        }
    }
    Ok(())
}

/// A dataset row seen by the filter evaluator.
struct Point<'a> {
    id: u64,
    payload: &'a quiver_types::Payload,
}

impl filter::PointView for Point<'_> {
    fn id(&self) -> quiver_types::PointId {
        quiver_types::PointId::Num(self.id)
    }
    fn payload(&self) -> &quiver_types::Payload {
        self.payload
    }
    fn has_vector(&self, _: &str) -> bool {
        true
    }
}
