//! One log record: its byte layout, its checksum, and a reader that walks the records of a file.
//!
//! A record is a 16-byte header followed by the body, all integers little endian:
//!
//! ```text
//! offset  size  field
//!      0     4  body length in bytes (u32)
//!      4     4  crc32 (crc32fast) of the 8 seqno bytes followed by the body (u32)
//!      8     8  seqno (u64)
//!     16     n  body (opaque bytes)
//! ```
//!
//! The reader checks the length against the bytes left in the file before allocating, so a garbage
//! length shows up as an incomplete record, never as a huge allocation. It reports an incomplete record
//! or a CRC mismatch as [`Step::Torn`] and leaves the decision (truncate a torn tail, or fail as
//! corruption) to the caller, who knows whether the file is the last one.

use std::io::{self, BufReader, Read, Seek};

use quiver_types::SeqNo;

use crate::error::{Result, WalError};

/// Bytes in a record header (length, crc, seqno).
pub(crate) const RECORD_HEADER_LEN: u64 = 16;

/// The longest body a record can hold: its length field is a u32.
pub const MAX_BODY_LEN: usize = u32::MAX as usize;

/// The CRC stored in a record: crc32 of the seqno's 8 little-endian bytes followed by the body.
pub(crate) fn checksum(seqno: SeqNo, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seqno.0.to_le_bytes());
    hasher.update(body);
    hasher.finalize()
}

/// Replaces the contents of `buf` with the encoded record, so one `write` puts it in the file.
pub(crate) fn encode_into(buf: &mut Vec<u8>, seqno: SeqNo, body: &[u8]) -> Result<()> {
    let len = u32::try_from(body.len()).map_err(|_| WalError::RecordTooLarge {
        len: body.len(),
        max: MAX_BODY_LEN,
    })?;
    buf.clear();
    buf.reserve(RECORD_HEADER_LEN as usize + body.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&checksum(seqno, body).to_le_bytes());
    buf.extend_from_slice(&seqno.0.to_le_bytes());
    buf.extend_from_slice(body);
    Ok(())
}

/// What the reader found at its current offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A whole record. `body` is `None` when the caller chose to skip it (its CRC is then unchecked).
    Record { seqno: SeqNo, body: Option<Vec<u8>> },
    /// The offset is exactly at the limit: the file ends on a record boundary.
    End,
    /// The bytes at the offset are not a whole, intact record; `reason` says why.
    Torn { reason: String },
}

/// Reads records one after another from `offset` up to `limit` (exclusive) of an underlying file.
#[derive(Debug)]
pub(crate) struct RecordReader<R> {
    inner: BufReader<R>,
    offset: u64,
    limit: u64,
}

impl<R: Read + Seek> RecordReader<R> {
    /// Starts reading at `offset`; `inner` must already be positioned there.
    pub(crate) fn new(inner: R, offset: u64, limit: u64) -> RecordReader<R> {
        RecordReader {
            inner: BufReader::new(inner),
            offset,
            limit: limit.max(offset),
        }
    }

    /// Offset of the next unread record: after a `Torn` step, where the valid prefix ends.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next record. `keep(seqno)` decides whether its body is read and CRC-checked or skipped.
    /// After `Torn` the reader is left mid-record and must not be used again.
    pub(crate) fn next(&mut self, keep: impl FnOnce(SeqNo) -> bool) -> io::Result<Step> {
        let left = self.limit - self.offset;
        if left == 0 {
            return Ok(Step::End);
        }
        if left < RECORD_HEADER_LEN {
            let reason = format!("incomplete record header: {left} of {RECORD_HEADER_LEN} bytes");
            return Ok(Step::Torn { reason });
        }
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        self.inner.read_exact(&mut header)?;
        let (body_len, stored_crc, seqno) = parse_header(&header);
        let body_left = left - RECORD_HEADER_LEN;
        if u64::from(body_len) > body_left {
            let reason = format!(
                "incomplete record: header of seqno {} announces {body_len} body bytes, {body_left} remain",
                seqno.0
            );
            return Ok(Step::Torn { reason });
        }
        let record_len = RECORD_HEADER_LEN + u64::from(body_len);
        if !keep(seqno) {
            self.inner.seek_relative(i64::from(body_len))?;
            self.offset += record_len;
            return Ok(Step::Record { seqno, body: None });
        }
        let mut body = vec![0u8; body_len as usize];
        self.inner.read_exact(&mut body)?;
        let computed = checksum(seqno, &body);
        if computed != stored_crc {
            let reason = format!(
                "crc mismatch in record of {body_len} body bytes (stored {stored_crc:#010x}, computed \
                 {computed:#010x})"
            );
            return Ok(Step::Torn { reason });
        }
        self.offset += record_len;
        Ok(Step::Record {
            seqno,
            body: Some(body),
        })
    }
}

/// Splits a record header into (body length, stored crc, seqno).
fn parse_header(header: &[u8; RECORD_HEADER_LEN as usize]) -> (u32, u32, SeqNo) {
    let [l0, l1, l2, l3, c0, c1, c2, c3, s0, s1, s2, s3, s4, s5, s6, s7] = *header;
    (
        u32::from_le_bytes([l0, l1, l2, l3]),
        u32::from_le_bytes([c0, c1, c2, c3]),
        SeqNo(u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7])),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn encoded(records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for (seqno, body) in records {
            encode_into(&mut buf, SeqNo(*seqno), body).unwrap();
            out.extend_from_slice(&buf);
        }
        out
    }

    fn reader(bytes: Vec<u8>) -> RecordReader<Cursor<Vec<u8>>> {
        let len = bytes.len() as u64;
        RecordReader::new(Cursor::new(bytes), 0, len)
    }

    #[test]
    fn layout_is_length_crc_seqno_body() {
        let bytes = encoded(&[(7, b"abc")]);
        assert_eq!(bytes.len(), 16 + 3);
        assert_eq!(&bytes[0..4], &3u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &checksum(SeqNo(7), b"abc").to_le_bytes());
        assert_eq!(&bytes[8..16], &7u64.to_le_bytes());
        assert_eq!(&bytes[16..], b"abc");
    }

    #[test]
    fn reads_records_then_end() {
        let mut r = reader(encoded(&[(1, b"one"), (2, b""), (5, b"five")]));
        for (seqno, body) in [(1, &b"one"[..]), (2, b""), (5, b"five")] {
            let step = r.next(|_| true).unwrap();
            assert_eq!(
                step,
                Step::Record {
                    seqno: SeqNo(seqno),
                    body: Some(body.to_vec())
                }
            );
        }
        assert_eq!(r.next(|_| true).unwrap(), Step::End);
    }

    #[test]
    fn skipped_records_advance_without_a_body() {
        let bytes = encoded(&[(1, b"one"), (2, b"two")]);
        let mut r = reader(bytes);
        assert_eq!(
            r.next(|s| s >= SeqNo(2)).unwrap(),
            Step::Record {
                seqno: SeqNo(1),
                body: None
            }
        );
        assert_eq!(r.offset(), 19);
        let step = r.next(|s| s >= SeqNo(2)).unwrap();
        assert_eq!(
            step,
            Step::Record {
                seqno: SeqNo(2),
                body: Some(b"two".to_vec())
            }
        );
    }

    #[test]
    fn short_header_and_short_body_are_torn() {
        let full = encoded(&[(1, b"hello")]);
        for cut in 1..full.len() {
            let mut r = reader(full[..cut].to_vec());
            assert!(
                matches!(r.next(|_| true).unwrap(), Step::Torn { .. }),
                "cut at {cut}"
            );
            assert_eq!(r.offset(), 0);
        }
    }

    #[test]
    fn any_flipped_byte_is_torn() {
        let full = encoded(&[(1, b"hello")]);
        for at in 0..full.len() {
            let mut bytes = full.clone();
            bytes[at] ^= 0x40;
            let mut r = reader(bytes);
            assert!(
                matches!(r.next(|_| true).unwrap(), Step::Torn { .. }),
                "flip at {at}"
            );
        }
    }

    #[test]
    fn garbage_length_does_not_allocate() {
        let mut bytes = encoded(&[(1, b"x")]);
        bytes[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = reader(bytes);
        let Step::Torn { reason } = r.next(|_| true).unwrap() else {
            panic!("expected torn")
        };
        assert!(reason.contains("incomplete"), "{reason}");
    }
}
