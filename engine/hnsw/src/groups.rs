//! One graph over several groups of nodes whose links never leave their group: the filterable
//! HNSW of a payload field, where a group is the points sharing one value. A filter that selects
//! whole groups is then answered by a traversal that only ever meets matching points, started
//! from the entries of the selected groups ([`Graph::search_from`]).

use crate::build::build;
use crate::graph::Graph;
use crate::params::HnswParams;
use crate::search::PairScorer;

/// The graph of all groups, and each group's entry (its top node and level; `None` when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Grouped {
    pub graph: Graph,
    pub entries: Vec<Option<(u32, usize)>>,
}

/// Builds one HNSW per group (each in parallel, groups one after another so memory stays at two
/// graphs) and joins them. A node in several groups gets a share of each group's level-0 links
/// (its upper levels are the first group's).
pub fn build_groups<P>(params: &HnswParams, capacity: usize, groups: &[Vec<u32>], pair: &P) -> Grouped
where
    P: PairScorer + ?Sized,
{
    let mut joined = Graph::empty(params.m, capacity);
    let mut taken = vec![false; capacity];
    let mut entries = Vec::with_capacity(groups.len());
    for nodes in groups {
        let part = build(params, capacity, nodes, pair);
        entries.push(part.entry);
        for &n in nodes {
            let i = n as usize;
            if i >= capacity {
                continue;
            }
            if taken[i] {
                // In several groups: its links lead into each of them.
                joined.merge_links0_from(&part, n);
                continue;
            }
            taken[i] = true;
            joined.indexed += 1;
            joined.copy_node_from(&part, n);
        }
    }
    joined.repack_upper();
    joined.entry = entries.iter().flatten().next().copied();
    Grouped {
        graph: joined,
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphSearch;

    #[test]
    fn links_stay_inside_groups_and_entries_reach_them() {
        // Points on a line; even and odd ids form two groups.
        let n = 400u32;
        let pair = |a: u32, b: u32| -((a as f32) - (b as f32)).abs();
        let even: Vec<u32> = (0..n).filter(|i| i % 2 == 0).collect();
        let odd: Vec<u32> = (0..n).filter(|i| i % 2 == 1).collect();
        let params = HnswParams {
            m: 4,
            ef_construct: 32,
            threads: 1,
            ..HnswParams::default()
        };
        let g = build_groups(&params, n as usize, &[even, odd], &pair);
        assert_eq!(g.graph.indexed(), n as usize);
        let mut buf = Vec::new();
        for node in 0..n {
            buf.clear();
            g.graph.neighbours(node, 0, &mut buf);
            assert!(!buf.is_empty(), "node {node} is linked");
            assert!(buf.iter().all(|b| b % 2 == node % 2), "node {node} links {buf:?}");
        }
        // From the odd group's entry, the best odd nodes near 301 are found without any filter.
        let entry = g.entries[1].expect("odd entry");
        let req = GraphSearch {
            k: 3,
            ef: 16,
            filtered: false,
        };
        let got = g
            .graph
            .search_from(&req, &[entry], |x: u32| -((x as f32) - 301.0).abs(), |_| true);
        assert_eq!(got.iter().map(|s| s.id).collect::<Vec<_>>(), vec![301, 299, 303]);
        // The joined graph goes through the file format unchanged.
        let back = Graph::from_bytes(&g.graph.to_bytes()).expect("reads back");
        assert_eq!(back, g.graph);
    }
}
