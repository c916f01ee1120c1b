//! The WAL's normal life: append, reopen, roll over, replay, truncate.

mod common;

use common::{append_all, body, log_files, open, replay, replay_seqnos};
use quiver_types::SeqNo;
use quiver_wal::{Wal, WalError, WalOptions};

#[test]
fn empty_wal_has_no_seqnos_and_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(&dir.path().join("nested/wal"), WalOptions::default()).unwrap();
    assert_eq!(wal.first_seqno(), None);
    assert_eq!(wal.last_seqno(), None);
    assert!(replay(&wal, 0).is_empty());
    assert!(log_files(wal.dir()).is_empty(), "no file before the first append");
}

#[test]
fn round_trip_including_empty_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 1 << 20);
    wal.append(SeqNo(1), b"").unwrap();
    wal.append(SeqNo(2), b"two").unwrap();
    wal.append(SeqNo(10), &[0u8; 5000]).unwrap();
    wal.sync().unwrap();
    let expected = vec![(1, vec![]), (2, b"two".to_vec()), (10, vec![0u8; 5000])];
    assert_eq!(replay(&wal, 0), expected);
    assert_eq!(
        (wal.first_seqno(), wal.last_seqno()),
        (Some(SeqNo(1)), Some(SeqNo(10)))
    );
    drop(wal);
    let wal = open(dir.path(), 1 << 20);
    assert_eq!(replay(&wal, 0), expected);
}

#[test]
fn file_layout_matches_the_documented_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 1 << 20);
    wal.append(SeqNo(5), b"hi").unwrap();
    let files = log_files(dir.path());
    assert_eq!(files, vec![dir.path().join("wal-00000000000000000005.log")]);
    let bytes = std::fs::read(&files[0]).unwrap();
    assert_eq!(&bytes[..8], b"QVRWAL01");
    assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
    assert_eq!(&bytes[12..16], &2u32.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&5u64.to_le_bytes());
    crc.update(b"hi");
    assert_eq!(&bytes[16..20], &crc.finalize().to_le_bytes());
    assert_eq!(&bytes[20..28], &5u64.to_le_bytes());
    assert_eq!(&bytes[28..], b"hi");
}

#[test]
fn appended_bytes_reach_the_file_without_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 1 << 20);
    wal.append(SeqNo(1), b"visible").unwrap();
    let bytes = std::fs::read(&log_files(dir.path())[0]).unwrap();
    assert!(bytes.ends_with(b"visible"));
}

#[test]
fn reopen_continues_the_seqnos() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 1 << 20);
    append_all(&mut wal, 1..=5);
    drop(wal);
    let mut wal = open(dir.path(), 1 << 20);
    assert_eq!(wal.last_seqno(), Some(SeqNo(5)));
    assert!(matches!(
        wal.append(SeqNo(5), b"dup"),
        Err(WalError::OutOfOrder { .. })
    ));
    append_all(&mut wal, 6..=8);
    drop(wal);
    let wal = open(dir.path(), 1 << 20);
    assert_eq!(replay_seqnos(&wal, 0), (1..=8).collect::<Vec<_>>());
}

#[test]
fn out_of_order_appends_are_rejected_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 1 << 20);
    wal.append(SeqNo(10), b"ten").unwrap();
    for bad in [10, 9, 0] {
        match wal.append(SeqNo(bad), b"bad") {
            Err(WalError::OutOfOrder { seqno, last }) => assert_eq!((seqno, last), (SeqNo(bad), SeqNo(10))),
            other => panic!("expected OutOfOrder for {bad}, got {other:?}"),
        }
    }
    wal.append(SeqNo(11), b"eleven").unwrap();
    assert_eq!(
        replay(&wal, 0),
        vec![(10, b"ten".to_vec()), (11, b"eleven".to_vec())]
    );
}

#[test]
fn rollover_spreads_records_over_files_and_replay_starts_mid_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 100);
    append_all(&mut wal, 1..=40);
    wal.sync().unwrap();
    let files = log_files(dir.path());
    assert!(files.len() >= 5, "expected several files, got {}", files.len());
    for from in [0, 1, 7, 20, 33, 40] {
        assert_eq!(
            replay_seqnos(&wal, from),
            (from.max(1)..=40).collect::<Vec<_>>(),
            "from {from}"
        );
    }
    assert!(replay(&wal, 41).is_empty());
    drop(wal);
    let wal = open(dir.path(), 100);
    assert_eq!(replay_seqnos(&wal, 17), (17..=40).collect::<Vec<_>>());
    assert_eq!(log_files(dir.path()), files, "reopen creates or removes no file");
}

#[test]
fn replay_from_a_gap_starts_at_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 64);
    append_all(&mut wal, (10..=100).step_by(10));
    assert_eq!(replay_seqnos(&wal, 35), vec![40, 50, 60, 70, 80, 90, 100]);
}

#[test]
fn replay_is_a_snapshot_of_the_log_when_called() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 1 << 20);
    append_all(&mut wal, 1..=3);
    let replay = wal.replay(SeqNo(0)).unwrap();
    append_all(&mut wal, 4..=6);
    let seen: Vec<u64> = replay.map(|r| r.unwrap().0 .0).collect();
    assert_eq!(seen, vec![1, 2, 3]);
}

#[test]
fn truncate_before_removes_only_files_wholly_below_the_seqno() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), 100);
    append_all(&mut wal, 1..=40);
    let before = log_files(dir.path());
    let all = replay_seqnos(&wal, 0);
    assert_eq!(all, (1..=40).collect::<Vec<_>>());

    wal.truncate_before(SeqNo(1)).unwrap();
    assert_eq!(log_files(dir.path()), before, "nothing is wholly below 1");

    wal.truncate_before(SeqNo(15)).unwrap();
    let first = wal.first_seqno().unwrap().0;
    assert!(first <= 15 && first > 1, "first seqno {first}");
    assert_eq!(replay_seqnos(&wal, 0), (first..=40).collect::<Vec<_>>());
    assert!(log_files(dir.path()).len() < before.len());
    assert_eq!(wal.last_seqno(), Some(SeqNo(40)));

    wal.truncate_before(SeqNo(1000)).unwrap();
    let remaining = log_files(dir.path());
    assert_eq!(
        remaining,
        vec![before.last().unwrap().clone()],
        "the current file is kept"
    );
    assert_eq!(wal.last_seqno(), Some(SeqNo(40)));
    wal.sync().unwrap();
    append_all(&mut wal, 41..=45);
    drop(wal);

    let wal = open(dir.path(), 100);
    let kept = replay_seqnos(&wal, 0);
    assert_eq!(*kept.last().unwrap(), 45);
    assert_eq!(wal.first_seqno(), Some(SeqNo(kept[0])));
}

#[test]
fn oversized_segment_setting_keeps_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    append_all(&mut wal, 1..=200);
    assert_eq!(log_files(dir.path()).len(), 1);
    assert_eq!(replay(&wal, 200), vec![(200, body(200))]);
}
