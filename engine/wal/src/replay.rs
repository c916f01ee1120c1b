//! Reading the log back: an iterator over the records with seqno `>= from`, straight from the files.
//!
//! [`Wal::replay`](crate::Wal::replay) snapshots which files to read and how many bytes of each are
//! valid, so records appended afterwards are not seen and a torn write can never be read. Records below
//! `from` are skipped by seeking over their bodies (their CRC is not checked); every returned record is
//! CRC-checked. Damage found here is a `Corrupt` error, after which the iterator ends; a file that
//! `truncate_before` removed after the call gives an `Io` error.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;

use quiver_types::SeqNo;

use crate::error::{Result, WalError};
use crate::log_file::{self, HEADER_LEN};
use crate::record::{RecordReader, Step};

/// The part of one log file a replay reads: from the header to `end`.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub(crate) path: PathBuf,
    pub(crate) end: u64,
}

/// Iterator over `(seqno, body)` of the records a [`Wal::replay`](crate::Wal::replay) call selected,
/// oldest first; it owns its file handles, so it does not borrow the `Wal`.
#[derive(Debug)]
pub struct Replay {
    spans: VecDeque<Span>,
    from: SeqNo,
    reader: Option<(PathBuf, RecordReader<File>)>,
    last: Option<SeqNo>,
    failed: bool,
}

impl Replay {
    /// A replay of `spans` (oldest first) yielding records with seqno `>= from`.
    pub(crate) fn new(spans: Vec<Span>, from: SeqNo) -> Replay {
        Replay {
            spans: spans.into(),
            from,
            reader: None,
            last: None,
            failed: false,
        }
    }

    /// The next selected record, or `None` at the end of the last span.
    fn advance(&mut self) -> Result<Option<(SeqNo, Vec<u8>)>> {
        loop {
            let Some((path, reader)) = &mut self.reader else {
                let Some(span) = self.spans.pop_front() else {
                    return Ok(None);
                };
                self.reader = Some(open_span(span)?);
                continue;
            };
            let from = self.from;
            match reader
                .next(|seqno| seqno >= from)
                .map_err(|e| WalError::io(path, e))?
            {
                Step::End => self.reader = None,
                Step::Torn { reason } => return Err(WalError::corrupt(path, reader.offset(), reason)),
                Step::Record { seqno, body } => {
                    if let Some(last) = self.last.filter(|last| seqno <= *last) {
                        let reason = format!("seqno {} follows seqno {}", seqno.0, last.0);
                        return Err(WalError::corrupt(path, reader.offset(), reason));
                    }
                    self.last = Some(seqno);
                    if let Some(body) = body {
                        return Ok(Some((seqno, body)));
                    }
                }
            }
        }
    }
}

impl Iterator for Replay {
    type Item = Result<(SeqNo, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.advance() {
            Ok(item) => item.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Opens a span's file, checks its header and positions a reader at the first record.
fn open_span(span: Span) -> Result<(PathBuf, RecordReader<File>)> {
    let mut file = File::open(&span.path).map_err(|e| WalError::io(&span.path, e))?;
    log_file::read_header(&mut file, &span.path)?;
    file.seek(SeekFrom::Start(HEADER_LEN))
        .map_err(|e| WalError::io(&span.path, e))?;
    let reader = RecordReader::new(file, HEADER_LEN, span.end);
    Ok((span.path, reader))
}
