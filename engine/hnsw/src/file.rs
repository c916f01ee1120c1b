//! On-disk format of a graph: flat little-endian arrays, so a later version can map the file
//! instead of reading it.
//!
//! ```text
//! magic   b"QVRHNSW1"                                  8 bytes
//! format  u32 = 1
//! header  m, m0, nodes, entry (u32::MAX = none), top level, indexed      6 x u32
//! levels  nodes x u8, then zero padding to a multiple of 4
//! links0  nodes x (m0 + 1) u32: count, then ids (unused slots zero)
//! upper   u32 length, then that many u32 (for each node with level L > 0, in node order:
//!         L blocks of m + 1 u32)
//! crc     u32: CRC-32 of everything after magic and format
//! ```

use crate::error::HnswError;
use crate::graph::Graph;

const MAGIC: &[u8; 8] = b"QVRHNSW1";
const FORMAT: u32 = 1;

impl Graph {
    /// The graph in the format above.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.levels.len();
        let mut out = Vec::with_capacity(64 + n + 4 * (self.links0.len() + self.upper.len()));
        out.extend_from_slice(MAGIC);
        put(&mut out, FORMAT);
        let (entry, top) = self.entry.map_or((u32::MAX, 0), |(e, t)| (e, t as u32));
        for v in [
            self.m as u32,
            self.m0 as u32,
            n as u32,
            entry,
            top,
            self.indexed as u32,
        ] {
            put(&mut out, v);
        }
        out.extend_from_slice(&self.levels);
        out.extend(std::iter::repeat_n(0u8, (4 - n % 4) % 4));
        self.links0.iter().for_each(|&v| put(&mut out, v));
        put(&mut out, self.upper.len() as u32);
        self.upper.iter().for_each(|&v| put(&mut out, v));
        let crc = crc32fast::hash(&out[12..]);
        put(&mut out, crc);
        out
    }

    /// Reads a graph written by [`Graph::to_bytes`], checking every bound and link.
    pub fn from_bytes(bytes: &[u8]) -> Result<Graph, HnswError> {
        let bad = |why: &str| HnswError::Corrupt(why.to_string());
        if bytes.len() < 12 + 24 + 8 || &bytes[..8] != MAGIC {
            return Err(bad("not an HNSW graph file"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(&body[12..]).to_le_bytes() != crc {
            return Err(bad("checksum mismatch"));
        }
        let mut r = Reader { bytes: body, at: 8 };
        if r.u32()? != FORMAT {
            return Err(bad("unknown format version"));
        }
        let [m, m0, n, entry, top, indexed] = [r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?];
        let (m, m0, n) = (m as usize, m0 as usize, n as usize);
        if m == 0 || m0 < m || m0 > 4096 {
            return Err(bad("bad link counts"));
        }
        let levels = r.take(n)?.to_vec();
        r.take((4 - n % 4) % 4)?;
        let links0 = r.u32s(n.checked_mul(m0 + 1).ok_or_else(|| bad("size overflow"))?)?;
        let upper_len = r.u32()? as usize;
        let upper = r.u32s(upper_len)?;
        if r.at != body.len() {
            return Err(bad("trailing bytes"));
        }
        let mut upper_start = vec![u32::MAX; n];
        let mut at = 0usize;
        for (i, &lv) in levels.iter().enumerate() {
            if lv > 0 {
                upper_start[i] = at as u32;
                at += lv as usize * (m + 1);
            }
        }
        if at != upper.len() {
            return Err(bad("upper levels do not match node levels"));
        }
        let ok_list = |list: &[u32], cap: usize| {
            list.chunks_exact(cap + 1)
                .all(|c| c[0] as usize <= cap && c[1..=c[0] as usize].iter().all(|&x| (x as usize) < n))
        };
        if !ok_list(&links0, m0) || !ok_list(&upper, m) {
            return Err(bad("a link points outside the graph"));
        }
        let entry = match entry {
            u32::MAX => None,
            e if (e as usize) < n && levels[e as usize] as u32 == top => Some((e, top as usize)),
            _ => return Err(bad("bad entry point")),
        };
        Ok(Graph {
            m,
            m0,
            levels,
            links0,
            upper_start,
            upper,
            entry,
            indexed: indexed as usize,
        })
    }
}

fn put(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], HnswError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| HnswError::Corrupt("truncated".into()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, HnswError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32s(&mut self, count: usize) -> Result<Vec<u32>, HnswError> {
        let len = count
            .checked_mul(4)
            .ok_or_else(|| HnswError::Corrupt("size overflow".into()))?;
        Ok(self
            .take(len)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}
