//! On-disk format of a persisted segment: one file, written whole, never edited in place.
//!
//! ```text
//! magic  b"QVRSEG01"                      8 bytes
//! format u32 LE = 4 (3 is still read: no alignment; 2: no value graphs; 1: no holes, no graphs)
//! meta   u64 LE length + MessagePack of `Meta` (config, ids, versions, payloads, sparse vectors,
//!        holes, index settings and the names of the vectors that have a graph)
//! pad    zeros to a multiple of 8 bytes from the start of the file
//! dense  for each dense vector name in config order: `present` flags were in meta; then
//!        slots * dim f32 LE (zeros where absent)
//! graphs for each name in `Meta::graphs`: pad to 8, u64 LE length + a graph file
//!        (quiver_hnsw::file)
//! values for each entry of `Meta::value_graphs`: pad to 8, u64 LE length + a graph file
//! crc    u32 LE: CRC-32 of everything after the magic and format
//! ```
//! The padding puts every array at an offset aligned for its element (the dense columns and a
//! graph's u32 arrays at multiples of 4), so a mapped file can be read in place.
//! A segment without graphs writes only its live points in id order, so saving also compacts.
//! An indexed segment writes every offset in order, deleted ones as `holes`, because its graphs
//! address points by offset. A file whose CRC does not match is reported as corrupt; the caller
//! writes to a temporary name, fsyncs, then renames.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use quiver_types::{NamedVectors, Payload, PointId, SparseVector, VectorData};

use crate::error::Result;
use crate::index::{IndexSettings, SegmentIndex};
use crate::value_graph::{Group, ValueGraph};
use crate::vector_storage::VectorStorage;
use crate::{Segment, SegmentConfig, SegmentError, VectorSpec};

const MAGIC: &[u8; 8] = b"QVRSEG01";
const FORMAT: u32 = 4;

/// Arrays in a version 4 file start at multiples of this many bytes.
const ALIGN: usize = 8;

fn pad_to_align(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    config: SegmentConfig,
    ids: Vec<PointId>,
    versions: Vec<u64>,
    payloads: Vec<Payload>,
    dense_present: BTreeMap<String, Vec<bool>>,
    sparse: BTreeMap<String, Vec<Option<SparseVector>>>,
    /// Slots that are deleted points (their columns hold placeholders).
    #[serde(default)]
    holes: Vec<u32>,
    #[serde(default)]
    index: Option<IndexSettings>,
    /// Vector names whose graph follows the dense columns, in this order.
    #[serde(default)]
    graphs: Vec<String>,
    /// Declared payload fields of the index; their field indexes are rebuilt on load.
    #[serde(default)]
    fields: Vec<(quiver_types::JsonPath, crate::FieldKind)>,
    /// Value graphs (vector, field, groups, membership at build) whose graph files follow the
    /// vector graphs.
    #[serde(default)]
    value_graphs: Vec<(String, quiver_types::JsonPath, Vec<Group>, Vec<u32>)>,
}

impl Segment {
    /// Serialises the live points into the file format above.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        // Slots in file order: live points by id, or every offset when graphs address them.
        let live: Vec<(PointId, quiver_types::PointOffset)> = match &self.index {
            None => self.ids.iter_from(None).collect(),
            Some(_) => (0..self.ids.capacity() as u32)
                .map(|o| {
                    let off = quiver_types::PointOffset(o);
                    (self.ids.id(off).unwrap_or(PointId::Num(0)), off)
                })
                .collect(),
        };
        let holes: Vec<u32> = live
            .iter()
            .enumerate()
            .filter(|(_, (_, off))| !self.ids.is_live(*off))
            .map(|(i, _)| i as u32)
            .collect();
        let mut meta = Meta {
            config: self.config.clone(),
            ids: live.iter().map(|(id, _)| *id).collect(),
            versions: live.iter().map(|(_, off)| self.ids.version(*off)).collect(),
            payloads: live
                .iter()
                .map(|(_, off)| self.payload_at(*off).clone())
                .collect(),
            dense_present: BTreeMap::new(),
            sparse: BTreeMap::new(),
            holes,
            index: self.index.as_ref().map(|i| i.settings),
            graphs: self
                .index
                .as_ref()
                .map(|i| i.graphs.keys().cloned().collect())
                .unwrap_or_default(),
            fields: self
                .index
                .as_ref()
                .map(|i| i.declared.clone())
                .unwrap_or_default(),
            value_graphs: self
                .index
                .as_ref()
                .map(|i| {
                    i.value_graphs
                        .iter()
                        .map(|v| {
                            (
                                v.vector.clone(),
                                v.field.clone(),
                                v.groups.clone(),
                                v.built.clone(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        let mut dense_blobs: Vec<u8> = Vec::new();
        for (name, storage) in &self.vectors {
            match storage {
                VectorStorage::Dense(d) => {
                    let mut present = Vec::with_capacity(live.len());
                    dense_blobs.reserve(live.len() * d.dim * 4);
                    for (_, off) in &live {
                        match d.get(*off) {
                            Some(v) => {
                                present.push(true);
                                v.iter()
                                    .for_each(|x| dense_blobs.extend_from_slice(&x.to_le_bytes()));
                            }
                            None => {
                                present.push(false);
                                dense_blobs.extend(std::iter::repeat_n(0u8, d.dim * 4));
                            }
                        }
                    }
                    meta.dense_present.insert(name.clone(), present);
                }
                VectorStorage::Sparse(s) => {
                    let vs = live.iter().map(|(_, off)| s.get(*off).cloned()).collect();
                    meta.sparse.insert(name.clone(), vs);
                }
            }
        }
        let meta_bytes = rmp_serde::to_vec(&meta)
            .map_err(|e| SegmentError::InvalidInput(format!("cannot encode segment metadata: {e}")))?;
        let mut out = Vec::with_capacity(meta_bytes.len() + dense_blobs.len() + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(meta_bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&meta_bytes);
        pad_to_align(&mut out);
        out.extend_from_slice(&dense_blobs);
        if let Some(index) = &self.index {
            for name in &meta.graphs {
                let bytes = index.graphs.get(name).map(|g| g.to_bytes()).unwrap_or_default();
                pad_to_align(&mut out);
                out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                out.extend_from_slice(&bytes);
            }
            for v in &index.value_graphs {
                let bytes = v.graph.to_bytes();
                pad_to_align(&mut out);
                out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                out.extend_from_slice(&bytes);
            }
        }
        let crc = crc32fast::hash(&out[12..]);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Parses a segment file; any inconsistency is `Corrupt`, never a panic.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Segment> {
        let corrupt = |reason: &str| SegmentError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            return Err(corrupt("bad magic or truncated header"));
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| corrupt("header"))?);
        if !(1..=FORMAT).contains(&format) {
            return Err(corrupt(&format!("unsupported format version {format}")));
        }
        let (body, crc_bytes) = bytes.split_at(bytes.len() - 4);
        let crc = u32::from_le_bytes(crc_bytes.try_into().map_err(|_| corrupt("crc"))?);
        if crc32fast::hash(&body[12..]) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        let meta_len =
            u64::from_le_bytes(body[12..20].try_into().map_err(|_| corrupt("meta length"))?) as usize;
        let meta_end = 20usize
            .checked_add(meta_len)
            .filter(|e| *e <= body.len())
            .ok_or_else(|| corrupt("meta length"))?;
        let meta: Meta =
            rmp_serde::from_slice(&body[20..meta_end]).map_err(|e| corrupt(&format!("metadata: {e}")))?;
        let n = meta.ids.len();
        if meta.versions.len() != n || meta.payloads.len() != n {
            return Err(corrupt("column lengths differ"));
        }
        let mut seg = Segment::new(meta.config.clone());
        let mut per_point: Vec<NamedVectors> = vec![NamedVectors::new(); n];
        // Version 4 pads to the next aligned offset (zeros, checked).
        let skip_pad = |pos: &mut usize| -> Result<()> {
            if format < 4 {
                return Ok(());
            }
            let to = pos.div_ceil(ALIGN) * ALIGN;
            if to > body.len() || body[*pos..to].iter().any(|b| *b != 0) {
                return Err(corrupt("bad padding"));
            }
            *pos = to;
            Ok(())
        };
        let mut pos = meta_end;
        skip_pad(&mut pos)?;
        for (name, spec) in &meta.config.vectors {
            match spec {
                VectorSpec::Dense { size, .. } => {
                    let present = meta
                        .dense_present
                        .get(name)
                        .ok_or_else(|| corrupt("missing dense column"))?;
                    let need = n * size * 4;
                    if present.len() != n || pos + need > body.len() {
                        return Err(corrupt("dense column truncated"));
                    }
                    for (i, has) in present.iter().enumerate() {
                        if *has {
                            let start = pos + i * size * 4;
                            let v: Vec<f32> = body[start..start + size * 4]
                                .chunks_exact(4)
                                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                                .collect();
                            per_point[i].insert(name.clone(), VectorData::Dense(v));
                        }
                    }
                    pos += need;
                }
                VectorSpec::Sparse => {
                    let col = meta
                        .sparse
                        .get(name)
                        .ok_or_else(|| corrupt("missing sparse column"))?;
                    if col.len() != n {
                        return Err(corrupt("sparse column length"));
                    }
                    for (i, v) in col.iter().enumerate() {
                        if let Some(v) = v {
                            per_point[i].insert(name.clone(), VectorData::Sparse(v.clone()));
                        }
                    }
                }
            }
        }
        let mut graphs = BTreeMap::new();
        let next_graph = |pos: &mut usize| -> Result<quiver_hnsw::Graph> {
            skip_pad(pos)?;
            let len_end = pos
                .checked_add(8)
                .filter(|e| *e <= body.len())
                .ok_or_else(|| corrupt("graph length"))?;
            let len = u64::from_le_bytes(
                body[*pos..len_end]
                    .try_into()
                    .map_err(|_| corrupt("graph length"))?,
            );
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| len_end.checked_add(l))
                .filter(|e| *e <= body.len())
                .ok_or_else(|| corrupt("graph truncated"))?;
            let graph =
                quiver_hnsw::Graph::from_bytes(&body[len_end..end]).map_err(|e| corrupt(&e.to_string()))?;
            if graph.len() != n {
                return Err(corrupt("graph does not match the segment"));
            }
            *pos = end;
            Ok(graph)
        };
        for name in &meta.graphs {
            if !meta.config.vectors.contains_key(name) {
                return Err(corrupt("graph of an unknown vector"));
            }
            let graph = next_graph(&mut pos)?;
            graphs.insert(name.clone(), std::sync::Arc::new(graph));
        }
        let mut value_graphs = Vec::new();
        for (vector, field, groups, built) in meta.value_graphs {
            if !graphs.contains_key(&vector) {
                return Err(corrupt("value graph of a vector without a graph"));
            }
            let graph = std::sync::Arc::new(next_graph(&mut pos)?);
            value_graphs.push(ValueGraph {
                vector,
                field,
                groups,
                graph,
                member: Vec::new(),
                built,
            });
        }
        if pos != body.len() {
            return Err(corrupt("trailing bytes"));
        }
        let holes: std::collections::HashSet<u32> = meta.holes.iter().copied().collect();
        for (i, (id, payload)) in meta.ids.into_iter().zip(meta.payloads).enumerate() {
            if holes.contains(&(i as u32)) {
                seg.ids.push_hole();
            } else {
                if seg.contains(&id) {
                    return Err(corrupt("a point id appears twice"));
                }
                seg.upsert(id, meta.versions[i], &per_point[i], payload);
            }
        }
        match (meta.index, graphs.is_empty()) {
            (Some(settings), _) => {
                seg.index = Some(SegmentIndex {
                    settings,
                    graphs,
                    declared: Vec::new(),
                    fields: Default::default(),
                    // Codes are derived: the optimizer rebuilds them for the collection's settings.
                    quantization: Default::default(),
                    codes: Default::default(),
                    value_graphs,
                });
                seg.reindex_fields(&meta.fields);
            }
            (None, false) => return Err(corrupt("graphs without index settings")),
            (None, true) => {}
        }
        Ok(seg)
    }

    /// Writes the segment file into `dir` (temp name, fsync, rename, fsync dir).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SegmentError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let bytes = self.to_bytes()?;
        let tmp = dir.join("segment.qvs.tmp");
        let dst = dir.join("segment.qvs");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&bytes).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(())
    }

    /// Reads the segment file from `dir`.
    pub fn open(dir: &Path) -> Result<Segment> {
        let path = dir.join("segment.qvs");
        let bytes = std::fs::read(&path).map_err(|source| SegmentError::Io {
            path: path.clone(),
            source,
        })?;
        Segment::from_bytes(&bytes, &path)
    }
}
