//! Property: whatever records go in come back out, in order, across rollover and reopen.

use proptest::prelude::*;
use quiver_types::SeqNo;
use quiver_wal::{Wal, WalOptions};

fn records() -> impl Strategy<Value = Vec<(u64, Vec<u8>)>> {
    // (gap to the previous seqno, body)
    prop::collection::vec((1u64..5, prop::collection::vec(any::<u8>(), 0..600)), 0..40).prop_map(|items| {
        let mut seqno = 0;
        items
            .into_iter()
            .map(|(gap, body)| {
                seqno += gap;
                (seqno, body)
            })
            .collect()
    })
}

fn replay(wal: &Wal, from: u64) -> Vec<(u64, Vec<u8>)> {
    wal.replay(SeqNo(from))
        .expect("replay")
        .map(|r| r.map(|(s, b)| (s.0, b)).expect("record"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn records_round_trip(
        records in records(),
        segment_size_bytes in prop_oneof![Just(1u64), 64u64..4096, Just(1 << 20)],
        from_index in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let options = WalOptions { segment_size_bytes };
        let mut wal = Wal::open(dir.path(), options.clone()).unwrap();
        for (seqno, body) in &records {
            wal.append(SeqNo(*seqno), body).unwrap();
        }
        wal.sync().unwrap();
        prop_assert_eq!(replay(&wal, 0), records.clone());
        prop_assert_eq!(wal.last_seqno(), records.last().map(|r| SeqNo(r.0)));
        prop_assert_eq!(wal.first_seqno(), records.first().map(|r| SeqNo(r.0)));
        drop(wal);

        let wal = Wal::open(dir.path(), options).unwrap();
        prop_assert_eq!(replay(&wal, 0), records.clone());
        if !records.is_empty() {
            let from = records[from_index.index(records.len())].0;
            let suffix: Vec<_> = records.iter().filter(|r| r.0 >= from).cloned().collect();
            prop_assert_eq!(replay(&wal, from), suffix);
        }
    }
}
