//! Where a request goes among a collection's shards and replicas: shard keys (custom sharding)
//! and read consistency.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Names a group of shards of a custom-sharded collection: a keyword or a number, as in Qdrant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShardKey {
    Number(u64),
    Keyword(String),
}

impl fmt::Display for ShardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardKey::Number(n) => write!(f, "{n}"),
            ShardKey::Keyword(k) => write!(f, "{k:?}"),
        }
    }
}

/// How many replicas of each shard a read must hear from, as Qdrant's `consistency` names it.
///
/// Anything above one replica also makes the read linearizable: it starts after a raft read
/// barrier, and a replica answers only once it has applied the metadata up to that barrier (so a
/// replica demoted for missing an acknowledged write can no longer answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ReadConsistency {
    /// One replica (the default): the fastest read; it may miss writes acknowledged while its
    /// node was cut off from the cluster.
    #[default]
    One,
    /// This many replicas (capped at the shard's Active ones).
    Factor(u32),
    /// More than half of the replicas.
    Majority,
    /// More than half of the replicas (Qdrant tells it from `majority` by how it resolves
    /// answers that differ; Active replicas here never differ in acknowledged writes).
    Quorum,
    /// Every Active replica.
    All,
}

impl ReadConsistency {
    /// The number of replicas to read from, of `active` Active ones (at least one).
    pub fn replicas(self, active: usize) -> usize {
        let n = match self {
            ReadConsistency::One => 1,
            ReadConsistency::Factor(k) => k as usize,
            ReadConsistency::Majority | ReadConsistency::Quorum => active / 2 + 1,
            ReadConsistency::All => active,
        };
        n.clamp(1, active.max(1))
    }

    /// Whether the read needs the raft read barrier (see the type's doc).
    pub fn linearizable(self) -> bool {
        !matches!(self, ReadConsistency::One | ReadConsistency::Factor(0 | 1))
    }
}

/// The shard keys a request names: `keys`, or, with a `fallback`, the one key in `keys` while it
/// exists and `fallback` until then (Qdrant's tiered multitenancy: a tenant lives in a shared
/// key until it is given shards of its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardKeySelector {
    pub keys: Vec<ShardKey>,
    pub fallback: Option<ShardKey>,
}

impl From<Vec<ShardKey>> for ShardKeySelector {
    fn from(keys: Vec<ShardKey>) -> Self {
        ShardKeySelector { keys, fallback: None }
    }
}

/// How a read is routed: which shard keys it covers (all shards when `None`) and how many
/// replicas of each shard must answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadOptions {
    pub consistency: ReadConsistency,
    pub shard_keys: Option<ShardKeySelector>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_counts_follow_the_level() {
        assert_eq!(ReadConsistency::One.replicas(3), 1);
        assert_eq!(ReadConsistency::Majority.replicas(3), 2);
        assert_eq!(ReadConsistency::Majority.replicas(4), 3);
        assert_eq!(ReadConsistency::All.replicas(3), 3);
        assert_eq!(ReadConsistency::Factor(5).replicas(2), 2, "capped");
        assert_eq!(ReadConsistency::Factor(0).replicas(2), 1);
        assert_eq!(ReadConsistency::All.replicas(0), 1);
        assert!(!ReadConsistency::Factor(1).linearizable());
        assert!(ReadConsistency::Factor(2).linearizable());
        assert!(ReadConsistency::All.linearizable());
    }

    #[test]
    fn shard_keys_read_as_keyword_or_number() {
        let k: Vec<ShardKey> = serde_json::from_str(r#"["acme", 7]"#).unwrap();
        assert_eq!(k, vec![ShardKey::Keyword("acme".into()), ShardKey::Number(7)]);
        assert_eq!(k[0].to_string(), "\"acme\"");
    }
}
