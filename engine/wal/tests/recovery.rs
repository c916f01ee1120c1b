//! Opening a WAL after a crash or after damage: torn tails are cut off, anything else is an error.

mod common;

use std::fs;
use std::path::Path;

use common::{append_all, log_files, open, replay_seqnos};
use quiver_types::SeqNo;
use quiver_wal::{Wal, WalError, WalOptions};

/// Writes records 1..=3 into one file; returns its bytes and the offset where record 3 starts.
fn three_record_file() -> (Vec<u8>, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut wal = open(dir.path(), 1 << 20);
    append_all(&mut wal, 1..=2);
    let path = log_files(dir.path()).remove(0);
    let prefix_len = fs::read(&path).expect("read log").len();
    append_all(&mut wal, 3..=3);
    (fs::read(&path).expect("read log"), prefix_len)
}

/// Puts `bytes` as the single log file of a fresh folder and returns the folder.
fn folder_with(bytes: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("wal-00000000000000000001.log"), bytes).expect("write log");
    dir
}

/// Opens the damaged folder and checks it recovered records 1..=2, cut at `prefix_len`, and accepts more.
fn assert_recovers_prefix(dir: &Path, prefix_len: usize, what: &str) {
    let mut wal = open(dir, 1 << 20);
    assert_eq!(wal.last_seqno(), Some(SeqNo(2)), "{what}");
    let file = &log_files(dir)[0];
    assert_eq!(
        fs::metadata(file).expect("stat log").len(),
        prefix_len as u64,
        "{what}: torn tail truncated"
    );
    assert_eq!(replay_seqnos(&wal, 0), vec![1, 2], "{what}");
    append_all(&mut wal, 3..=4);
    drop(wal);
    let wal = open(dir, 1 << 20);
    assert_eq!(
        replay_seqnos(&wal, 0),
        vec![1, 2, 3, 4],
        "{what}: appends after recovery survive reopen"
    );
}

#[test]
fn a_tail_cut_at_any_byte_of_the_last_record_recovers_the_prefix() {
    let (full, prefix_len) = three_record_file();
    for cut in prefix_len..full.len() {
        let dir = folder_with(&full[..cut]);
        assert_recovers_prefix(dir.path(), prefix_len, &format!("cut at {cut}"));
    }
}

#[test]
fn a_flipped_byte_in_the_last_record_recovers_the_prefix() {
    let (full, prefix_len) = three_record_file();
    for at in prefix_len..full.len() {
        let mut bytes = full.clone();
        bytes[at] ^= 0x01;
        let dir = folder_with(&bytes);
        assert_recovers_prefix(dir.path(), prefix_len, &format!("flip at {at}"));
    }
}

#[test]
fn zeroes_after_the_last_record_are_a_torn_tail() {
    let (full, _) = three_record_file();
    let mut bytes = full.clone();
    bytes.extend_from_slice(&[0u8; 4096]);
    let dir = folder_with(&bytes);
    let wal = open(dir.path(), 1 << 20);
    assert_eq!(replay_seqnos(&wal, 0), vec![1, 2, 3]);
    assert_eq!(
        fs::metadata(&log_files(dir.path())[0]).unwrap().len(),
        full.len() as u64
    );
}

/// A log of several files (segment size 100) holding records 1..=30; returns the folder and its files.
fn several_files() -> (tempfile::TempDir, Vec<std::path::PathBuf>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut wal = open(dir.path(), 100);
    append_all(&mut wal, 1..=30);
    drop(wal);
    let files = log_files(dir.path());
    assert!(files.len() >= 3);
    (dir, files)
}

fn open_err(dir: &Path) -> WalError {
    Wal::open(
        dir,
        WalOptions {
            segment_size_bytes: 100,
        },
    )
    .expect_err("open must fail")
}

#[test]
fn a_flipped_byte_in_a_middle_file_is_corruption() {
    let (dir, files) = several_files();
    let mut bytes = fs::read(&files[1]).unwrap();
    let at = bytes.len() - 2;
    bytes[at] ^= 0xff;
    fs::write(&files[1], &bytes).unwrap();
    match open_err(dir.path()) {
        WalError::Corrupt { file, offset, reason } => {
            assert_eq!(file, files[1]);
            assert!(offset >= 12 && offset < bytes.len() as u64, "offset {offset}");
            assert!(reason.contains("crc"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        fs::read(&files[1]).unwrap(),
        bytes,
        "a middle file is never truncated"
    );
}

#[test]
fn a_truncated_middle_file_is_corruption() {
    let (dir, files) = several_files();
    let bytes = fs::read(&files[0]).unwrap();
    fs::write(&files[0], &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(open_err(dir.path()), WalError::Corrupt { file, .. } if file == files[0]));
}

#[test]
fn files_out_of_order_are_corruption() {
    let (dir, files) = several_files();
    // Rename the second file so its name says it starts before the first file ends.
    let first_bytes = fs::read(&files[0]).unwrap();
    fs::remove_file(&files[1]).unwrap();
    fs::write(dir.path().join("wal-00000000000000000002.log"), &first_bytes).unwrap();
    assert!(matches!(open_err(dir.path()), WalError::Corrupt { .. }));
}

#[test]
fn a_file_whose_name_disagrees_with_its_first_record_is_corruption() {
    let (dir, files) = several_files();
    let last = files.last().unwrap();
    fs::rename(last, dir.path().join("wal-00000000000000000099.log")).unwrap();
    assert!(matches!(open_err(dir.path()), WalError::Corrupt { .. }));
}

#[test]
fn bad_magic_or_version_is_an_error_not_a_torn_tail() {
    let (full, _) = three_record_file();
    let mut bytes = full.clone();
    bytes[0] = b'X';
    assert!(matches!(
        open_err(folder_with(&bytes).path()),
        WalError::Corrupt { offset: 0, .. }
    ));
    let mut bytes = full;
    bytes[8] = 9;
    assert!(matches!(
        open_err(folder_with(&bytes).path()),
        WalError::UnsupportedVersion { version: 9, .. }
    ));
}

#[test]
fn a_crash_right_after_creating_a_file_leaves_a_usable_log() {
    let (dir, files) = several_files();
    let header = fs::read(&files[0]).unwrap()[..12].to_vec();
    // The next file was created (header only) but the process died before writing its first record.
    let empty = dir.path().join("wal-00000000000000000031.log");
    fs::write(&empty, &header).unwrap();
    fs::write(dir.path().join("wal-00000000000000000032.log.tmp"), b"QVRW").unwrap();
    let mut wal = open(dir.path(), 100);
    assert_eq!(wal.last_seqno(), Some(SeqNo(30)));
    // Everything but the newest non-empty file may go; that one carries last_seqno.
    wal.truncate_before(SeqNo(1000)).unwrap();
    assert_eq!(wal.last_seqno(), Some(SeqNo(30)));
    // The caller's next seqno differs from the empty file's name: it is replaced.
    wal.append(SeqNo(33), b"thirty-three").unwrap();
    assert!(!empty.exists());
    assert!(!dir.path().join("wal-00000000000000000032.log.tmp").exists());
    drop(wal);
    let wal = open(dir.path(), 100);
    let seqnos: Vec<u64> = wal.replay(SeqNo(0)).unwrap().map(|r| r.unwrap().0 .0).collect();
    assert_eq!(seqnos.last(), Some(&33));
    assert_eq!(seqnos[seqnos.len() - 2], 30);
}

#[test]
fn an_empty_last_file_named_for_the_next_seqno_is_reused() {
    let (dir, files) = several_files();
    let header = fs::read(&files[0]).unwrap()[..12].to_vec();
    fs::write(dir.path().join("wal-00000000000000000031.log"), &header).unwrap();
    let mut wal = open(dir.path(), 100);
    append_all(&mut wal, 31..=31);
    assert_eq!(log_files(dir.path()).len(), files.len() + 1);
    assert_eq!(replay_seqnos(&wal, 30), vec![30, 31]);
}

#[test]
fn a_damaged_file_is_reported_by_replay_not_hidden() {
    let (dir, files) = several_files();
    let wal = open(dir.path(), 100);
    let mut bytes = fs::read(&files[1]).unwrap();
    let at = bytes.len() - 1;
    bytes[at] ^= 0xff;
    fs::write(&files[1], &bytes).unwrap();
    let results: Vec<_> = wal.replay(SeqNo(0)).unwrap().collect();
    assert!(matches!(results.last(), Some(Err(WalError::Corrupt { .. }))));
    assert!(results[..results.len() - 1].iter().all(|r| r.is_ok()));
}

#[test]
fn other_files_in_the_folder_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("README"), b"not a log").unwrap();
    fs::write(dir.path().join("wal-1.log"), b"not ours either").unwrap();
    let mut wal = open(dir.path(), 100);
    append_all(&mut wal, 1..=3);
    drop(wal);
    let wal = open(dir.path(), 100);
    assert_eq!(replay_seqnos(&wal, 0), vec![1, 2, 3]);
}
