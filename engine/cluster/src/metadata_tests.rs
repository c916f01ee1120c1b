//! Unit tests of the metadata state machine (`metadata.rs`): commands applied, refused and
//! replayed, placement, shard keys and their selectors.

use super::*;

fn create(name: &str, placement: Vec<Vec<NodeId>>) -> Command {
    Command::CreateCollection {
        name: name.into(),
        config: serde_json::json!({"params": {"shard_number": placement.len()}}),
        placement,
        sharded_by_key: false,
    }
}

#[test]
fn create_and_delete_are_checked_against_the_state() {
    let mut m = Metadata::default();
    assert_eq!(m.apply(5, &create("a", vec![vec![1, 2]])), Outcome::Done);
    assert_eq!(m.collections["a"].generation, 5);
    assert_eq!(
        m.collections["a"].shards[&0].replicas[&2].state,
        ReplicaState::Active
    );
    let before = m.clone();
    assert!(matches!(
        m.apply(6, &create("a", vec![vec![3]])),
        Outcome::Rejected(_)
    ));
    assert!(matches!(
        m.apply(7, &create("b", vec![vec![]])),
        Outcome::Rejected(_)
    ));
    assert_eq!(m, before, "rejected commands change nothing");
    assert_eq!(
        m.apply(8, &Command::DeleteCollection { name: "a".into() }),
        Outcome::Done
    );
    assert_eq!(
        m.apply(9, &Command::DeleteCollection { name: "a".into() }),
        Outcome::Unchanged
    );
    assert!(m.collections.is_empty());
}

#[test]
fn replica_states_change_only_for_the_same_generation() {
    let mut m = Metadata::default();
    m.apply(3, &create("a", vec![vec![1, 2]]));
    let set = |generation, node, state| Command::SetReplicaState {
        collection: "a".into(),
        generation,
        shard: 0,
        node,
        state,
        if_primary: None,
        expect: None,
        unless_last_active: false,
    };
    assert_eq!(m.apply(4, &set(3, 2, ReplicaState::Dead)), Outcome::Done);
    assert_eq!(
        m.collections["a"].shards[&0].replicas[&2],
        ReplicaMeta {
            state: ReplicaState::Dead,
            epoch: 4,
            incarnation: 3,
            method: None,
        }
    );
    assert_eq!(m.apply(5, &set(3, 2, ReplicaState::Dead)), Outcome::Unchanged);
    assert!(
        matches!(m.apply(6, &set(1, 1, ReplicaState::Dead)), Outcome::Rejected(_)),
        "stale generation"
    );
    assert!(
        matches!(m.apply(7, &set(3, 9, ReplicaState::Dead)), Outcome::Rejected(_)),
        "no such replica"
    );
    assert_eq!(
        m.collections["a"].shards[&0].replicas[&1].state,
        ReplicaState::Active
    );
    // Node 1 is the primary now (2 is Dead): node 2 cannot demote it, node 1 can revive 2.
    let by = |primary, node, state| Command::SetReplicaState {
        collection: "a".into(),
        generation: 3,
        shard: 0,
        node,
        state,
        if_primary: Some(primary),
        expect: None,
        unless_last_active: false,
    };
    assert!(matches!(
        m.apply(8, &by(2, 1, ReplicaState::Dead)),
        Outcome::Rejected(_)
    ));
    let cas = |state, expect| Command::SetReplicaState {
        collection: "a".into(),
        generation: 3,
        shard: 0,
        node: 2,
        state,
        if_primary: None,
        expect: Some(expect),
        unless_last_active: false,
    };
    assert!(matches!(
        m.apply(9, &cas(ReplicaState::Active, ReplicaState::Partial)),
        Outcome::Rejected(_)
    ));
    assert_eq!(
        m.apply(10, &cas(ReplicaState::Partial, ReplicaState::Dead)),
        Outcome::Done
    );
    assert_eq!(m.apply(11, &by(1, 2, ReplicaState::Active)), Outcome::Done);
    assert_eq!(
        m.collections["a"].shards[&0].replicas[&1].state,
        ReplicaState::Active
    );
}

#[test]
fn the_primary_moves_only_when_it_stops_being_active() {
    let mut m = Metadata::default();
    m.apply(1, &create("a", vec![vec![1, 2, 3]]));
    let set = |index: u64, node, state, m: &mut Metadata| {
        let cmd = Command::SetReplicaState {
            collection: "a".into(),
            generation: 1,
            shard: 0,
            node,
            state,
            if_primary: None,
            expect: None,
            unless_last_active: false,
        };
        assert_eq!(m.apply(index, &cmd), Outcome::Done);
    };
    let shard = |m: &Metadata| m.collections["a"].shards[&0].clone();
    assert_eq!(shard(&m).primary, Some(1));
    set(2, 1, ReplicaState::Dead, &mut m);
    assert_eq!(shard(&m).primary, Some(2));
    set(3, 1, ReplicaState::Partial, &mut m);
    assert_eq!(
        shard(&m).replicas[&1].incarnation,
        3,
        "a new incarnation from Dead to Partial"
    );
    set(4, 1, ReplicaState::Active, &mut m);
    assert_eq!(
        shard(&m).primary,
        Some(2),
        "a recovered replica does not take over"
    );
    assert_eq!(shard(&m).active(), vec![2, 1, 3]);
    assert_eq!(shard(&m).replicas[&1].incarnation, 3);
    set(5, 2, ReplicaState::Dead, &mut m);
    set(6, 1, ReplicaState::Dead, &mut m);
    set(7, 3, ReplicaState::Dead, &mut m);
    assert_eq!(shard(&m).primary, None);
    set(8, 3, ReplicaState::Active, &mut m);
    assert_eq!(shard(&m).primary, Some(3));
}

#[test]
fn a_step_down_never_takes_a_shards_last_active_replica() {
    let mut m = Metadata::default();
    m.apply(1, &create("a", vec![vec![1, 2]]));
    let step_down = |node| Command::SetReplicaState {
        collection: "a".into(),
        generation: 1,
        shard: 0,
        node,
        state: ReplicaState::Dead,
        if_primary: None,
        expect: Some(ReplicaState::Active),
        unless_last_active: true,
    };
    // Two nodes stopping at once: the first steps out, the second has to stay.
    assert_eq!(m.apply(2, &step_down(1)), Outcome::Done);
    assert!(matches!(m.apply(3, &step_down(2)), Outcome::Rejected(why) if why.contains("last Active")));
    let shard = &m.collections["a"].shards[&0];
    assert_eq!(shard.active(), vec![2]);
    assert_eq!(shard.primary, Some(2));
}

#[test]
fn shard_keys_add_and_remove_their_own_shards() {
    let mut m = Metadata::default();
    let keyed = Command::CreateCollection {
        name: "t".into(),
        config: serde_json::json!({}),
        placement: vec![],
        sharded_by_key: true,
    };
    assert_eq!(m.apply(1, &keyed), Outcome::Done);
    let acme = ShardKey::Keyword("acme".into());
    let seven = ShardKey::Number(7);
    let add = |key: &ShardKey, placement| Command::CreateShardKey {
        collection: "t".into(),
        generation: 1,
        key: key.clone(),
        placement,
    };
    assert_eq!(
        m.apply(2, &add(&acme, vec![vec![1, 2], vec![2, 3]])),
        Outcome::Done
    );
    assert_eq!(m.apply(3, &add(&seven, vec![vec![3]])), Outcome::Done);
    let before = m.clone();
    assert!(
        matches!(m.apply(4, &add(&acme, vec![vec![1]])), Outcome::Rejected(_)),
        "exists"
    );
    assert!(matches!(
        m.apply(5, &add(&seven.clone(), vec![])),
        Outcome::Rejected(_)
    ));
    assert_eq!(m, before);
    let c = &m.collections["t"];
    assert_eq!(c.shards_of_key(&acme), vec![0, 1]);
    assert_eq!(c.shards_of_key(&seven), vec![2]);
    assert_eq!(c.shard_keys(), vec![seven.clone(), acme.clone()]);
    let only = |k: &ShardKey| ShardKeySelector::from(vec![k.clone()]);
    assert_eq!(c.shards_for(Some(&only(&seven))).unwrap(), vec![vec![2]]);
    assert_eq!(c.shards_for(None).unwrap(), vec![vec![0, 1, 2]]);
    let nope = ShardKey::Keyword("nope".into());
    assert!(c.shards_for(Some(&only(&nope))).unwrap_err().contains("nope"));
    // With a fallback: the key while it exists, the fallback until then.
    let with_fallback = |k: &ShardKey, f: &ShardKey| ShardKeySelector {
        keys: vec![k.clone()],
        fallback: Some(f.clone()),
    };
    assert_eq!(
        c.shards_for(Some(&with_fallback(&seven, &acme))).unwrap(),
        vec![vec![2]]
    );
    assert_eq!(
        c.shards_for(Some(&with_fallback(&nope, &acme))).unwrap(),
        vec![vec![0, 1]]
    );
    let neither = c
        .shards_for(Some(&with_fallback(&nope, &ShardKey::Number(99))))
        .unwrap_err();
    assert!(
        neither.contains("fallback") && neither.contains("99"),
        "{neither}"
    );
    let delete = |key: &ShardKey| Command::DeleteShardKey {
        collection: "t".into(),
        generation: 1,
        key: key.clone(),
    };
    assert_eq!(m.apply(6, &delete(&acme)), Outcome::Done);
    assert!(matches!(m.apply(7, &delete(&acme)), Outcome::Rejected(_)));
    assert_eq!(m.apply(8, &add(&acme, vec![vec![1]])), Outcome::Done);
    assert_eq!(
        m.collections["t"].shards_of_key(&acme),
        vec![3],
        "a deleted key's shard ids are not reused"
    );
    // Auto sharding takes no keys.
    m.apply(9, &create("a", vec![vec![1]]));
    let auto_key = Command::CreateShardKey {
        collection: "a".into(),
        generation: 9,
        key: acme.clone(),
        placement: vec![vec![1]],
    };
    assert!(matches!(m.apply(10, &auto_key), Outcome::Rejected(_)));
    assert!(m.collections["a"].shards_for(Some(&vec![acme].into())).is_err());
}

#[test]
fn a_shard_table_stored_as_a_list_still_reads() {
    let old = serde_json::json!({
        "config": {}, "generation": 4, "payload_schema": {},
        "shards": [{"replicas": {}, "primary": null}, {"replicas": {}, "primary": null}],
    });
    let bytes = rmp_serde::to_vec_named(&old).unwrap();
    let c: CollectionMeta = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(c.shards.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
    assert!(!c.sharded_by_key);
    let again: CollectionMeta = rmp_serde::from_slice(&crate::network::encode(&c).unwrap()).unwrap();
    assert_eq!(again, c);
}

#[test]
fn placement_spreads_replicas_over_distinct_nodes() {
    let p = place(6, 2, &[30, 10, 20]);
    assert_eq!(p.len(), 6);
    let mut per_node = BTreeMap::new();
    for replicas in &p {
        assert_eq!(replicas.len(), 2);
        assert_ne!(replicas[0], replicas[1]);
        for n in replicas {
            *per_node.entry(*n).or_insert(0) += 1;
        }
    }
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![4, 4, 4]);
    assert_eq!(
        place(2, 5, &[1, 2]),
        vec![vec![1, 2], vec![2, 1]],
        "capped at the node count"
    );
    assert!(place(3, 1, &[]).is_empty());
}
