//! One log file of the WAL: its name, its header, how it is created, and the validating scan `open`
//! runs over it.
//!
//! A log file is named `wal-<seqno of its first record, 20 digits, zero padded>.log`, so name order is
//! seqno order. Layout:
//!
//! ```text
//! offset  size  field
//!      0     8  magic b"QVRWAL01"
//!      8     4  format version, u32 little endian (1)
//!     12     …  records back to back (see the `record` module), no padding, no footer
//! ```
//!
//! Invariants: the first record's seqno equals the name; seqnos strictly increase within a file and
//! across files; every file but the last ends exactly on a record boundary (the WAL fsyncs a file before
//! it starts the next one), so only the last file can have a torn tail.
//!
//! Creation never leaves a half-made file under a final name: the header is written to
//! `wal-<seqno>.log.tmp`, fsynced, renamed into place, and the folder is fsynced. Leftover `.tmp` files
//! are removed by [`list`].

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use quiver_types::SeqNo;

use crate::error::{Result, WalError};
use crate::record::{RecordReader, Step};

/// The first 8 bytes of every log file.
pub(crate) const MAGIC: &[u8; 8] = b"QVRWAL01";
/// The format version this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes before the first record: magic and version.
pub(crate) const HEADER_LEN: u64 = 12;

const PREFIX: &str = "wal-";
const SUFFIX: &str = ".log";
const TMP_SUFFIX: &str = ".log.tmp";
const DIGITS: usize = 20;

/// The file name for a log file whose first record is `first`.
pub(crate) fn file_name(first: SeqNo) -> String {
    format!("{PREFIX}{:0width$}{SUFFIX}", first.0, width = DIGITS)
}

/// The first seqno encoded in a log file name, or `None` if the name is not one of ours.
pub(crate) fn parse_file_name(name: &str) -> Option<SeqNo> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(SeqNo)
}

/// The log files in `dir`, sorted by first seqno. Removes leftover `.tmp` files of interrupted
/// creations; ignores anything else that is not a log file.
pub(crate) fn list(dir: &Path) -> Result<Vec<(SeqNo, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| WalError::io(dir, e))? {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(first) = parse_file_name(&name) {
            files.push((first, path));
        } else if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
            tracing::warn!(path = %path.display(), "removing a wal file left over from an interrupted creation");
            fs::remove_file(&path).map_err(|e| WalError::io(&path, e))?;
        }
    }
    files.sort_by_key(|(first, _)| *first);
    Ok(files)
}

/// Creates the log file for `first` (header written and fsynced, renamed into place, folder fsynced)
/// and returns its path with a handle opened for appending.
pub(crate) fn create(dir: &Path, first: SeqNo) -> Result<(PathBuf, File)> {
    let name = file_name(first);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}.tmp"));
    if path.exists() {
        return Err(WalError::corrupt(
            &path,
            0,
            "a log file with this name already exists",
        ));
    }
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(WalError::io(&tmp, e)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| WalError::io(&tmp, e))?;
    let mut header = [0u8; HEADER_LEN as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.write_all(&header).map_err(|e| WalError::io(&tmp, e))?;
    file.sync_all().map_err(|e| WalError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| WalError::io(&path, e))?;
    sync_dir(dir)?;
    tracing::debug!(path = %path.display(), "created wal file");
    Ok((path, file))
}

/// Reads and checks the 12-byte header at the start of `reader`.
pub(crate) fn read_header(reader: &mut impl Read, path: &Path) -> Result<()> {
    let mut header = [0u8; HEADER_LEN as usize];
    reader.read_exact(&mut header).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => WalError::corrupt(path, 0, "file is shorter than its header"),
        _ => WalError::io(path, e),
    })?;
    let [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, v2, v3] = header;
    if [m0, m1, m2, m3, m4, m5, m6, m7] != *MAGIC {
        return Err(WalError::corrupt(path, 0, "bad magic: not a quiver wal file"));
    }
    let version = u32::from_le_bytes([v0, v1, v2, v3]);
    if version != FORMAT_VERSION {
        return Err(WalError::UnsupportedVersion {
            file: path.to_path_buf(),
            version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// Where a scan stopped before the end of the file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TornTail {
    /// Offset of the first byte that is not part of a valid record.
    pub(crate) offset: u64,
    /// What was wrong there.
    pub(crate) reason: String,
}

/// What [`scan`] found in one log file.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Seqno of the last valid record, `None` if the file holds none.
    pub(crate) last: Option<SeqNo>,
    /// Length of the header plus the valid records.
    pub(crate) valid_len: u64,
    /// Set when bytes follow the valid records (an incomplete or CRC-failing record).
    pub(crate) torn: Option<TornTail>,
}

/// Reads the whole file at `path`, checking its header, every record's CRC, and that seqnos start at
/// `first` (from the name) and strictly increase. A record that is intact but out of order is
/// corruption (an error); a record that is incomplete or fails its CRC ends the scan as a torn tail.
pub(crate) fn scan(path: &Path, first: SeqNo) -> Result<Scan> {
    let mut file = File::open(path).map_err(|e| WalError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| WalError::io(path, e))?.len();
    read_header(&mut file, path)?;
    let mut reader = RecordReader::new(file, HEADER_LEN, file_len);
    let mut last: Option<SeqNo> = None;
    loop {
        let offset = reader.offset();
        match reader.next(|_| true).map_err(|e| WalError::io(path, e))? {
            Step::End => {
                return Ok(Scan {
                    last,
                    valid_len: offset,
                    torn: None,
                })
            }
            Step::Torn { reason } => {
                return Ok(Scan {
                    last,
                    valid_len: offset,
                    torn: Some(TornTail { offset, reason }),
                })
            }
            Step::Record { seqno, .. } => {
                match last {
                    None if seqno != first => {
                        let reason = format!(
                            "first record has seqno {} but the file name says {}",
                            seqno.0, first.0
                        );
                        return Err(WalError::corrupt(path, offset, reason));
                    }
                    Some(prev) if seqno <= prev => {
                        let reason = format!("seqno {} follows seqno {}", seqno.0, prev.0);
                        return Err(WalError::corrupt(path, offset, reason));
                    }
                    _ => {}
                }
                last = Some(seqno);
            }
        }
    }
}

/// Fsyncs the folder `dir`, making file creations, renames and removals in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| WalError::io(dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_seqno() {
        assert_eq!(file_name(SeqNo(42)), "wal-00000000000000000042.log");
        assert_eq!(
            parse_file_name(&file_name(SeqNo(u64::MAX))),
            Some(SeqNo(u64::MAX))
        );
        assert!(file_name(SeqNo(9)) < file_name(SeqNo(10)));
        for bad in [
            "wal-42.log",
            "wal-0000000000000000004x.log",
            "wal-00000000000000000042.log.tmp",
            "x.log",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn create_writes_a_header_and_removes_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
        fs::write(dir.path().join("wal-00000000000000000001.log.tmp"), b"junk").unwrap();
        let (path, _file) = create(dir.path(), SeqNo(3)).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed, vec![(SeqNo(3), path.clone())]);
        assert!(dir.path().join("notes.txt").exists());
        assert!(!dir.path().join("wal-00000000000000000001.log.tmp").exists());
        let scanned = scan(&path, SeqNo(3)).unwrap();
        assert_eq!(
            (scanned.last, scanned.valid_len, scanned.torn),
            (None, HEADER_LEN, None)
        );
    }

    #[test]
    fn bad_magic_and_version_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(SeqNo(1)));
        fs::write(&path, b"NOTAWAL!\x01\0\0\0").unwrap();
        assert!(matches!(
            scan(&path, SeqNo(1)),
            Err(WalError::Corrupt { offset: 0, .. })
        ));
        fs::write(&path, b"QVRWAL01\x02\0\0\0").unwrap();
        assert!(matches!(
            scan(&path, SeqNo(1)),
            Err(WalError::UnsupportedVersion { version: 2, .. })
        ));
        fs::write(&path, b"QVRW").unwrap();
        assert!(matches!(
            scan(&path, SeqNo(1)),
            Err(WalError::Corrupt { offset: 0, .. })
        ));
    }
}
