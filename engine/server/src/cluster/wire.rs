//! What one node asks another about the shard replicas it holds (the `quiver.cluster.Shards`
//! service), as MessagePack. Every request names the collection's generation (the raft index that
//! created it): the receiver first catches up to it, and a request about a deleted and recreated
//! collection is refused instead of touching the new one.

use quiver_collection::ScrollRequest;
use quiver_types::{
    Filter, PointId, QueryRequest, Record, ScoredPoint, ShardId, UpdateOperation, WithPayload, WithVector,
};
use serde::{Deserialize, Serialize};

use super::journal::{Delta, Position};

/// The collection a request is about, as of the metadata the sender acted on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub collection: String,
    pub generation: u64,
    /// A linearizable read's raft read barrier (0: none): the receiver answers only once it has
    /// applied the metadata up to it, so a replica demoted before the read began cannot answer.
    #[serde(default)]
    pub read_index: u64,
}

impl Target {
    /// Generation `generation` of `collection`, with no read barrier.
    pub fn of(collection: impl Into<String>, generation: u64) -> Target {
        Target {
            collection: collection.into(),
            generation,
            read_index: 0,
        }
    }

    /// The raft index the receiver must have applied before it acts on the request.
    pub fn needs_index(&self) -> u64 {
        self.generation.max(self.read_index)
    }
}

/// A request to a node about its shard replicas.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ShardRequest {
    /// To a shard's primary: apply, then replicate to the other Active replicas in this order.
    Write {
        target: Target,
        shard: ShardId,
        op: UpdateOperation,
        wait: bool,
    },
    /// From a primary to another replica of the shard.
    Replicate(Forwarded),
    Query {
        target: Target,
        shards: Vec<ShardId>,
        req: QueryRequest,
    },
    Count {
        target: Target,
        shards: Vec<ShardId>,
        filter: Option<Filter>,
    },
    Scroll {
        target: Target,
        shards: Vec<ShardId>,
        req: ScrollRequest,
    },
    /// Points by id, looked up in `shards` (every local shard when empty).
    Retrieve {
        target: Target,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
        #[serde(default)]
        shards: Vec<ShardId>,
    },
    /// To a shard's primary, from a Partial replica catching up: whole points from id `from` on.
    /// `as_of` is the raft index that made the asker Partial; the first page waits until every
    /// write that started before the primary knew of it has finished, so each later write is
    /// forwarded to the asker.
    Page {
        target: Target,
        shard: ShardId,
        as_of: u64,
        from: Option<PointId>,
        limit: usize,
    },
    /// A fingerprint of one local replica (to compare replicas).
    Digest { target: Target, shard: ShardId },
    /// To a shard's primary, from a Partial replica copied by snapshot: archive the shard once
    /// every write that began before the primary knew of the asker has finished (as for the
    /// first `Page`), so each write the archive may miss is forwarded to the asker.
    TransferArchive {
        target: Target,
        shard: ShardId,
        as_of: u64,
    },
    /// `len` bytes at `offset` of an archive made for a transfer.
    ArchiveChunk { name: String, offset: u64, len: usize },
    /// The asker is done with a transfer archive (or gave up on it).
    DropArchive { name: String },
    /// To a shard's primary, from a Partial replica that kept its data: the writes after its
    /// position `from`, taken once every write that began before the primary knew of the asker
    /// has finished (as for the first `Page`); the later ones are forwarded to it.
    Delta {
        target: Target,
        shard: ShardId,
        as_of: u64,
        from: Position,
    },
    /// From a new primary to a replica that differs from it: forget your position, so you
    /// catch up by a full copy (a delta from there would keep the difference).
    Forget { target: Target, shard: ShardId },
    /// Answers `Done` once the receiver's local collections reflect raft index `index` (the
    /// proposer of a metadata change waits for every member before it acknowledges the change).
    CaughtUp { index: u64 },
}

/// A write a primary forwards to another replica of its shard. `from` is the primary and
/// `as_of` the raft index of the metadata it acted on: the replica catches up to it, then refuses
/// the write unless `from` is still the shard's primary (a demoted primary's late writes never
/// land) and it is still the incarnation the primary meant (`incarnation`: a replica that has
/// been Dead and copied again since refuses writes meant for its earlier life).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarded {
    pub target: Target,
    pub shard: ShardId,
    pub op: UpdateOperation,
    pub wait: bool,
    pub from: u64,
    pub as_of: u64,
    pub incarnation: u64,
    /// The write's place in the shard's order, and the one before it (see [`super::journal`]).
    #[serde(default)]
    pub at: Option<Position>,
    #[serde(default)]
    pub prev: Option<Position>,
}

/// The answer to a [`ShardRequest`] (sent as `Result<ShardReply, ApiError>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ShardReply {
    /// `settled_at`: the raft index of the demotions this write caused (0: none); whoever
    /// acknowledges the write first catches up to it, so its own reads never use a demoted copy.
    Written {
        operation_id: u64,
        settled_at: u64,
    },
    Points(Vec<ScoredPoint>),
    Count(usize),
    Page(Vec<Record>, Option<PointId>),
    Records(Vec<Record>),
    /// Points in the replica, and an order-independent hash of their ids, payloads and vectors.
    Digest {
        points: usize,
        hash: u64,
    },
    /// A transfer archive: its file name on the primary, bytes and SHA-256.
    Archive {
        name: String,
        size: u64,
        checksum: String,
    },
    Chunk(#[serde(with = "serde_bytes")] Vec<u8>),
    Done,
    /// The writes asked for, or `None` when the primary's window does not hold them all.
    Delta(Option<Delta>),
}
