//! Helpers shared by the WAL integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use quiver_types::SeqNo;
use quiver_wal::{Wal, WalOptions};

/// Opens a WAL with the given segment size.
pub fn open(dir: &Path, segment_size_bytes: u64) -> Wal {
    Wal::open(dir, WalOptions { segment_size_bytes }).expect("open wal")
}

/// A body that differs per seqno and has a seqno-dependent length.
pub fn body(seqno: u64) -> Vec<u8> {
    format!("record-{seqno}-{}", "x".repeat((seqno % 7) as usize)).into_bytes()
}

/// Appends `body(s)` for every seqno in `seqnos`.
pub fn append_all(wal: &mut Wal, seqnos: impl IntoIterator<Item = u64>) {
    for s in seqnos {
        wal.append(SeqNo(s), &body(s)).expect("append");
    }
}

/// Every record with seqno `>= from`, panicking on errors.
pub fn replay(wal: &Wal, from: u64) -> Vec<(u64, Vec<u8>)> {
    wal.replay(SeqNo(from))
        .expect("replay")
        .map(|r| r.map(|(s, b)| (s.0, b)).expect("replayed record"))
        .collect()
}

/// The seqnos of what `replay(wal, from)` returns, checking each body against `body(seqno)`.
pub fn replay_seqnos(wal: &Wal, from: u64) -> Vec<u64> {
    replay(wal, from)
        .into_iter()
        .map(|(s, b)| {
            assert_eq!(b, body(s), "body of seqno {s}");
            s
        })
        .collect()
}

/// The log files in `dir`, sorted by name.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}
