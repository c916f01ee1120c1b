//! The graph against brute force on clustered data: recall floors for plain and filtered search,
//! points left out of the build never returned, a file round trip, and corruption detected.

use quiver_hnsw::{build, Graph, GraphSearch, HnswParams};
use rand::{Rng, SeedableRng};

const DIM: usize = 32;

/// Unit vectors shaped like text embeddings: 20 clusters in an 8-dimensional latent space mapped
/// into `DIM` dimensions, plus a little noise (uniform noise in every dimension is unlike any real
/// embedding and the worst case for every ANN index).
fn data(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut gauss = move || (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>() * 0.87;
    let basis: Vec<Vec<f32>> = (0..8).map(|_| (0..DIM).map(|_| gauss()).collect()).collect();
    let centres: Vec<Vec<f32>> = (0..20).map(|_| (0..8).map(|_| 2.0 * gauss()).collect()).collect();
    (0..n)
        .map(|i| {
            let c = &centres[(i * 7 + seed as usize) % centres.len()];
            let z: Vec<f32> = c.iter().map(|x| x + gauss()).collect();
            let mut v: Vec<f32> = (0..DIM)
                .map(|d| z.iter().zip(&basis).map(|(zi, b)| zi * b[d]).sum::<f32>() + 0.05 * gauss())
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn exact(base: &[Vec<f32>], q: &[f32], k: usize, keep: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut all: Vec<(f32, u32)> = (0..base.len() as u32)
        .filter(|&i| keep(i))
        .map(|i| (dot(q, &base[i as usize]), i))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    all.into_iter().take(k).map(|x| x.1).collect()
}

fn recall(
    graph: &Graph,
    base: &[Vec<f32>],
    queries: &[Vec<f32>],
    ef: usize,
    keep: &dyn Fn(u32) -> bool,
) -> f64 {
    let mut hit = 0;
    for q in queries {
        let truth = exact(base, q, 10, keep);
        let req = GraphSearch {
            k: 10,
            ef,
            filtered: true,
        };
        let got = graph.search(&req, |i| dot(q, &base[i as usize]), keep);
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score), "best first");
        assert!(got.iter().all(|s| keep(s.id)), "only accepted nodes");
        hit += got.iter().filter(|s| truth.contains(&s.id)).count();
    }
    hit as f64 / (10 * queries.len()) as f64
}

#[test]
fn recall_plain_filtered_and_round_trip() {
    let base = data(6000, 1);
    let queries = data(100, 2);
    let all: Vec<u32> = (0..base.len() as u32).collect();
    let params = HnswParams {
        m: 12,
        ef_construct: 80,
        threads: 2,
        ..HnswParams::default()
    };
    let graph = build(&params, base.len(), &all, &|a, b| {
        dot(&base[a as usize], &base[b as usize])
    });
    assert_eq!(graph.indexed(), base.len());
    let r_low = recall(&graph, &base, &queries, 10, &|_| true);
    let r_high = recall(&graph, &base, &queries, 128, &|_| true);
    assert!(r_high >= 0.97, "recall at ef=128: {r_high}");
    assert!(
        r_high >= r_low,
        "raising ef does not lower recall: {r_low} -> {r_high}"
    );
    // A filter passing half the points.
    let half = recall(&graph, &base, &queries, 64, &|i| i % 2 == 0);
    assert!(half >= 0.9, "filtered recall: {half}");

    let bytes = graph.to_bytes();
    let back = Graph::from_bytes(&bytes).expect("round trip");
    assert_eq!(back, graph);
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    assert!(Graph::from_bytes(&flipped).is_err(), "a flipped bit is caught");
    assert!(
        Graph::from_bytes(&bytes[..bytes.len() - 9]).is_err(),
        "truncation is caught"
    );
}

#[test]
fn nodes_left_out_are_never_linked_or_returned() {
    let base = data(2000, 3);
    let nodes: Vec<u32> = (0..base.len() as u32).filter(|i| i % 3 != 0).collect();
    let params = HnswParams {
        m: 8,
        ef_construct: 40,
        threads: 1,
        ..HnswParams::default()
    };
    let graph = build(&params, base.len(), &nodes, &|a, b| {
        dot(&base[a as usize], &base[b as usize])
    });
    assert_eq!(graph.indexed(), nodes.len());
    let mut buf = Vec::new();
    for n in 0..base.len() as u32 {
        buf.clear();
        graph.neighbours(n, 0, &mut buf);
        assert!(
            buf.iter().all(|x| x % 3 != 0),
            "node {n} links to an unindexed node"
        );
        if n % 3 == 0 {
            assert!(buf.is_empty());
        }
    }
    let q = &base[0];
    let got = graph.search(
        &GraphSearch {
            k: 20,
            ef: 64,
            filtered: false,
        },
        |i| dot(q, &base[i as usize]),
        |_| true,
    );
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|s| s.id % 3 != 0));
}

#[test]
fn empty_and_single_node_graphs() {
    let params = HnswParams::default();
    let g = build(&params, 0, &[], &|_, _| 0.0);
    assert!(g
        .search(
            &GraphSearch {
                k: 5,
                ef: 10,
                filtered: false
            },
            |_| 0.0,
            |_| true
        )
        .is_empty());
    let g = build(&params, 3, &[1], &|_, _| 0.0);
    let got = g.search(
        &GraphSearch {
            k: 5,
            ef: 10,
            filtered: false,
        },
        |_| 1.0,
        |_| true,
    );
    assert_eq!(got.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1]);
    assert_eq!(Graph::from_bytes(&g.to_bytes()).unwrap(), g);
}
