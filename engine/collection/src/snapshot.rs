//! Collection snapshots: one tar archive of a collection's files (its config, payload schema and
//! every shard as of one checkpoint), with its SHA-256 beside it in `<archive>.checksum`.
//!
//! Archives are written to `<name>.tmp`, fsynced and renamed, so a listed snapshot is always
//! complete. Recovery checks the checksum (the one given, else the one beside the archive) before
//! it unpacks, and unpacks into a fresh folder that replaces the collection only once it opened.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::collection::Collection;
use crate::error::{CollectionError, Result};
use crate::fsio::{io_err, sync_dir};

/// What Qdrant reports of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotDescription {
    pub name: String,
    /// UTC, `YYYY-MM-DDTHH:MM:SS` as Qdrant prints it.
    pub creation_time: Option<String>,
    pub size: u64,
    pub checksum: Option<String>,
}

const SUFFIX: &str = ".snapshot";
const CHECKSUM_SUFFIX: &str = ".checksum";

/// A snapshot name from a request: a plain file name ending in `.snapshot`.
pub fn check_snapshot_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name.ends_with(SUFFIX)
        && !name.contains(['/', '\\', '\0']);
    if plain {
        Ok(())
    } else {
        Err(CollectionError::InvalidInput(format!(
            "Wrong input: snapshot_name `{name}` is not a snapshot file name (`<name>.snapshot`)"
        )))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes into a file and a hash at once.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn add(builder: &mut tar::Builder<impl Write>, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, path, bytes)
}

/// Receives one file of an archive: path inside it, bytes.
pub(crate) type AddFile<'a> = dyn FnMut(&Path, &[u8]) -> Result<()> + 'a;

/// Writes archive `<dir>/<name>` from the files `fill` adds, with its checksum file beside it.
pub(crate) fn write_archive(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut AddFile<'_>) -> Result<()>,
) -> Result<SnapshotDescription> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let now = chrono::Utc::now();
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    let mut builder = tar::Builder::new(Hashing {
        inner: std::io::BufWriter::new(file),
        hash: Sha256::new(),
        written: 0,
    });
    let filled = fill(&mut |rel: &Path, bytes: &[u8]| add(&mut builder, rel, bytes).map_err(io_err(&tmp)));
    let finished = filled.and_then(|()| {
        let hashing = builder.into_inner().map_err(io_err(&tmp))?;
        let file = hashing
            .inner
            .into_inner()
            .map_err(|e| io_err(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(&tmp))?;
        Ok((hex(&hashing.hash.finalize()), hashing.written))
    });
    let (checksum, size) = match finished {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    let sum = dir.join(format!("{name}{CHECKSUM_SUFFIX}"));
    std::fs::write(&sum, &checksum).map_err(io_err(&sum))?;
    sync_dir(dir)?;
    Ok(SnapshotDescription {
        name: name.to_string(),
        creation_time: Some(now.format("%Y-%m-%dT%H:%M:%S").to_string()),
        size,
        checksum: Some(checksum),
    })
}

/// A fresh archive name: `<what>-<UTC time>-<8 random hex>.snapshot`.
pub(crate) fn archive_name(what: &str) -> String {
    let now = chrono::Utc::now();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{what}-{}-{}{SUFFIX}", now.format("%Y-%m-%d-%H-%M-%S"), &tag[..8])
}

impl Collection {
    /// Writes a snapshot of this collection into `dir` and returns its description.
    pub fn create_snapshot(&self, dir: &Path) -> Result<SnapshotDescription> {
        write_archive(dir, &archive_name(self.name()), |add| {
            self.snapshot_into(Path::new(""), add)
        })
    }

    /// Adds this collection's files under `prefix`: config and schema, then each shard as of
    /// one checkpoint.
    pub(crate) fn snapshot_into(&self, prefix: &Path, add: &mut AddFile<'_>) -> Result<()> {
        for (rel, bytes) in self.metadata_files()? {
            add(&prefix.join(rel), &bytes)?;
        }
        for (id, shard) in self.shards() {
            let shard_prefix = prefix.join("shards").join(id.to_string());
            let mut failed = None;
            shard
                .snapshot_files(|rel, bytes| {
                    if let Err(e) = add(&shard_prefix.join(rel), bytes) {
                        failed = Some(e);
                        return Err(quiver_shard::error::ShardError::InvalidInput(
                            "snapshot write failed".into(),
                        ));
                    }
                    Ok(())
                })
                .map_err(|e| failed.take().unwrap_or_else(|| e.into()))?;
        }
        Ok(())
    }
}

/// Removes what a crash can leave in the snapshot folder `root`: unfinished archives (`*.tmp`, in
/// it and in each collection's folder) and the temporary files of uploads and downloads
/// (`.uploads/`).
pub fn remove_leftovers(root: &Path) -> Result<()> {
    let uploads = root.join(".uploads");
    if uploads.exists() {
        std::fs::remove_dir_all(&uploads).map_err(io_err(&uploads))?;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(());
    };
    let mut dirs = vec![root.to_path_buf()];
    dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))?.flatten() {
            let path = entry.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "tmp") {
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
    }
    Ok(())
}

/// The snapshots in `dir`, by name.
pub fn list_snapshots(dir: &Path) -> Result<Vec<SnapshotDescription>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if check_snapshot_name(&name).is_err() {
            continue;
        }
        let meta = entry.metadata().map_err(io_err(&entry.path()))?;
        let creation_time = meta.modified().ok().map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string()
        });
        let checksum = std::fs::read_to_string(dir.join(format!("{name}{CHECKSUM_SUFFIX}"))).ok();
        out.push(SnapshotDescription {
            name,
            creation_time,
            size: meta.len(),
            checksum: checksum.map(|c| c.trim().to_string()),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The path of snapshot `name` in `dir`, which must exist.
pub fn snapshot_path(dir: &Path, name: &str) -> Result<PathBuf> {
    check_snapshot_name(name)?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(CollectionError::NotFound(format!(
            "Not found: snapshot {name} does not exist"
        )))
    }
}

/// Deletes snapshot `name` and its checksum file.
pub fn delete_snapshot(dir: &Path, name: &str) -> Result<()> {
    let path = snapshot_path(dir, name)?;
    std::fs::remove_file(&path).map_err(io_err(&path))?;
    let _ = std::fs::remove_file(dir.join(format!("{name}{CHECKSUM_SUFFIX}")));
    sync_dir(dir)
}

/// The SHA-256 of a file, hex.
pub fn file_checksum(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex(&hash.finalize()))
}

/// Checks `archive` against `expected` (else the checksum file beside it, if any) and unpacks it
/// into `into` (which must not exist). Entries that would land outside `into` are refused.
pub fn unpack_snapshot(archive: &Path, into: &Path, expected: Option<&str>) -> Result<()> {
    let beside =
        std::fs::read_to_string(PathBuf::from(format!("{}{CHECKSUM_SUFFIX}", archive.display()))).ok();
    if let Some(want) = expected.map(str::to_string).or(beside) {
        let got = file_checksum(archive)?;
        if !got.eq_ignore_ascii_case(want.trim()) {
            return Err(CollectionError::InvalidInput(format!(
                "Wrong input: checksum mismatch: the snapshot's SHA-256 is {got}, expected {}",
                want.trim()
            )));
        }
    }
    std::fs::create_dir_all(into).map_err(io_err(into))?;
    let file = std::fs::File::open(archive).map_err(io_err(archive))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let entries = tar.entries().map_err(|e| bad_archive(archive, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad_archive(archive, e))?;
        // `unpack_in` refuses absolute paths and `..`; it returns false for a skipped entry.
        if !entry.unpack_in(into).map_err(|e| bad_archive(archive, e))? {
            return Err(CollectionError::InvalidInput(format!(
                "Wrong input: snapshot entry {} points outside the collection",
                entry.path().map(|p| p.display().to_string()).unwrap_or_default()
            )));
        }
    }
    sync_dir(into)
}

fn bad_archive(path: &Path, e: std::io::Error) -> CollectionError {
    // The tar reader quotes raw header bytes: keep the printable start of its message.
    let why: String = e
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(120)
        .collect();
    CollectionError::InvalidInput(format!(
        "Wrong input: snapshot: {} is not a snapshot archive ({why})",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ))
}
