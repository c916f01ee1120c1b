//! The catalog: every collection of this node, its aliases, and the background flusher that fsyncs
//! logs and checkpoints shards so logs stay short and restarts stay fast.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::collection::Collection;
use crate::config::CollectionConfig;
use crate::error::{CollectionError, Result};
use crate::fsio::{io_err, read_json, sync_dir, write_json_atomic};

/// One change of the alias table; a list of them is applied all or nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum AliasOperation {
    Create { collection: String, alias: String },
    Delete { alias: String },
    Rename { old: String, new: String },
}

/// The alias table after `ops` (all or none): `exists(c)` says whether collection `c` exists
/// (an alias must point at one), `is_collection(a)` whether name `a` is taken by a collection.
pub fn aliases_after(
    table: &BTreeMap<String, String>,
    ops: &[AliasOperation],
    exists: impl Fn(&str) -> bool,
    is_collection: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, String>> {
    let mut next = table.clone();
    for op in ops {
        match op {
            AliasOperation::Create { collection, alias } => {
                check_name("alias_name", alias)?;
                if !exists(collection) {
                    return Err(Catalog::not_found(collection));
                }
                if is_collection(alias) {
                    return Err(CollectionError::AlreadyExists(format!(
                        "Wrong input: Collection `{alias}` already exists! (cannot create an alias with its name)"
                    )));
                }
                next.insert(alias.clone(), collection.clone());
            }
            AliasOperation::Delete { alias } => {
                if next.remove(alias).is_none() {
                    return Err(CollectionError::NotFound(format!(
                        "Not found: Alias {alias} does not exists!"
                    )));
                }
            }
            AliasOperation::Rename { old, new } => {
                check_name("new_alias_name", new)?;
                let target = next.remove(old).ok_or_else(|| {
                    CollectionError::NotFound(format!("Not found: Alias {old} does not exists!"))
                })?;
                next.insert(new.clone(), target);
            }
        }
    }
    Ok(next)
}

/// Settings of the catalog.
#[derive(Debug, Clone)]
pub struct CatalogOptions {
    /// How often logs of writes that did not ask for durability are fsynced.
    pub wal_sync_interval: Duration,
    /// Run the optimizer (seal and index segments) in the background.
    pub optimize: bool,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        CatalogOptions {
            wal_sync_interval: Duration::from_millis(200),
            optimize: true,
        }
    }
}

type Collections = RwLock<BTreeMap<String, Arc<Collection>>>;

/// All collections of this node.
pub struct Catalog {
    dir: PathBuf,
    collections: Arc<Collections>,
    aliases: RwLock<BTreeMap<String, String>>,
    /// Serialises create/delete so two creates of one name cannot race.
    ddl: Mutex<()>,
    stop: Arc<AtomicBool>,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("dir", &self.dir).finish()
    }
}

/// Qdrant's rules for collection and alias names, checked before anything touches the disk.
pub fn check_name(field: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('.')
        || name.chars().any(|c| {
            matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*' | '\0') || c.is_control()
        });
    if bad {
        return Err(CollectionError::InvalidInput(format!(
            "Validation error in path parameters: [{field}: collection name `{name}` is invalid: it must be 1 to 255 characters, not start with `.`, and contain none of < > : \" / \\ | ? * or control characters]"
        )));
    }
    Ok(())
}

impl Catalog {
    /// Opens (or initialises) the storage folder and recovers every collection in it.
    pub fn open(dir: &Path, options: CatalogOptions) -> Result<Catalog> {
        let cdir = dir.join("collections");
        std::fs::create_dir_all(&cdir).map_err(io_err(&cdir))?;
        finish_recoveries(&cdir)?;
        crate::snapshot::remove_leftovers(&dir.join("snapshots"))?;
        let mut collections = BTreeMap::new();
        for entry in std::fs::read_dir(&cdir).map_err(io_err(&cdir))? {
            let entry = entry.map_err(io_err(&cdir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') {
                // A create or delete interrupted by a crash.
                tracing::info!(path = %path.display(), "removing leftover of an interrupted create/delete");
                std::fs::remove_dir_all(&path).map_err(io_err(&path))?;
                continue;
            }
            let started = Instant::now();
            let collection = Collection::open(&path, &name)?;
            tracing::info!(collection = %name, elapsed_ms = started.elapsed().as_millis() as u64, "loaded collection");
            collections.insert(name, Arc::new(collection));
        }
        let aliases: BTreeMap<String, String> = read_json(&dir.join("aliases.json"))?.unwrap_or_default();
        let catalog = Catalog {
            dir: dir.to_path_buf(),
            collections: Arc::new(RwLock::new(collections)),
            aliases: RwLock::new(aliases),
            ddl: Mutex::new(()),
            stop: Arc::new(AtomicBool::new(false)),
            flusher: Mutex::new(None),
        };
        if options.optimize {
            catalog.start_optimizer();
        }
        catalog.start_flusher(options);
        Ok(catalog)
    }

    /// One background thread runs due optimizations, one at a time across the node (each build
    /// already uses every core it is allowed). It is not joined at shutdown: a build in flight has
    /// written nothing, so dropping it loses nothing and a restart redoes it.
    fn start_optimizer(&self) {
        let collections = Arc::clone(&self.collections);
        let stop = Arc::clone(&self.stop);
        let spawned = std::thread::Builder::new()
            .name("quiver-optimizer".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let all: Vec<Arc<Collection>> = collections.read().values().cloned().collect();
                    let (mut worked, mut failed) = (false, false);
                    for c in all {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        match c.optimize_once() {
                            Ok(did) => worked |= did,
                            Err(e) => {
                                failed = true;
                                tracing::error!(collection = c.name(), error = %e, "optimization failed")
                            }
                        }
                    }
                    // A failing job is retried, but not in a loop that floods the log.
                    if failed {
                        std::thread::sleep(Duration::from_secs(2));
                    } else if !worked {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the optimizer thread");
        }
    }

    fn start_flusher(&self, options: CatalogOptions) {
        let collections = Arc::clone(&self.collections);
        let stop = Arc::clone(&self.stop);
        let handle = std::thread::Builder::new()
            .name("quiver-flusher".into())
            .spawn(move || {
                let mut last_checkpoint: BTreeMap<String, Instant> = BTreeMap::new();
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(options.wal_sync_interval);
                    let all: Vec<Arc<Collection>> = collections.read().values().cloned().collect();
                    for c in all {
                        if let Err(e) = c.sync_wal() {
                            tracing::error!(collection = c.name(), error = %e, "log fsync failed");
                        }
                        let due = Duration::from_secs(c.flush_interval_sec().max(1));
                        let last = last_checkpoint
                            .entry(c.name().to_string())
                            .or_insert_with(Instant::now);
                        if last.elapsed() >= due {
                            *last = Instant::now();
                            if let Err(e) = c.checkpoint() {
                                tracing::error!(collection = c.name(), error = %e, "checkpoint failed");
                            }
                        }
                    }
                }
            })
            .ok();
        *self.flusher.lock() = handle;
    }

    /// Stops the flusher and checkpoints every collection (a clean shutdown).
    pub fn close(&self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.flusher.lock().take() {
            let _ = h.join();
        }
        for c in self.collections.read().values() {
            c.sync_wal()?;
            c.checkpoint()?;
        }
        Ok(())
    }

    fn not_found(name: &str) -> CollectionError {
        CollectionError::NotFound(format!("Not found: Collection `{name}` doesn't exist!"))
    }

    /// The collection with this name, or the one this alias points to.
    pub fn get(&self, name_or_alias: &str) -> Result<Arc<Collection>> {
        let collections = self.collections.read();
        if let Some(c) = collections.get(name_or_alias) {
            return Ok(Arc::clone(c));
        }
        let aliases = self.aliases.read();
        aliases
            .get(name_or_alias)
            .and_then(|target| collections.get(target))
            .cloned()
            .ok_or_else(|| Self::not_found(name_or_alias))
    }

    /// The storage folder this catalog lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn exists(&self, name_or_alias: &str) -> bool {
        self.get(name_or_alias).is_ok()
    }

    pub fn list(&self) -> Vec<String> {
        self.collections.read().keys().cloned().collect()
    }

    /// Creates a collection; fails with "already exists" if the name is taken.
    pub fn create(&self, name: &str, config: CollectionConfig) -> Result<Arc<Collection>> {
        self.create_with_shards(name, config, None)
    }

    /// [`Catalog::create`] storing only the shards `ids` here (`None`: all of them), as a cluster
    /// node stores its share.
    pub fn create_with_shards(
        &self,
        name: &str,
        config: CollectionConfig,
        ids: Option<&[quiver_types::ShardId]>,
    ) -> Result<Arc<Collection>> {
        check_name("collection_name", name)?;
        config.validate()?;
        let _ddl = self.ddl.lock();
        if self.collections.read().contains_key(name) {
            return Err(CollectionError::AlreadyExists(format!(
                "Wrong input: Collection `{name}` already exists!"
            )));
        }
        if self.aliases.read().contains_key(name) {
            return Err(CollectionError::AlreadyExists(format!(
                "Wrong input: Collection `{name}` already exists! (an alias has this name)"
            )));
        }
        let cdir = self.dir.join("collections");
        let tmp = cdir.join(format!(".creating-{}", uuid::Uuid::new_v4()));
        let created = match ids {
            Some(ids) => Collection::create_with_shards(&tmp, name, config, ids),
            None => Collection::create(&tmp, name, config),
        };
        let collection = created.inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&tmp);
        })?;
        drop(collection);
        let dst = cdir.join(name);
        std::fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
        sync_dir(&cdir)?;
        let collection = Arc::new(Collection::open(&dst, name)?);
        self.collections
            .write()
            .insert(name.to_string(), Arc::clone(&collection));
        Ok(collection)
    }

    /// Deletes a collection and its aliases; false when there was none.
    pub fn delete(&self, name: &str) -> Result<bool> {
        let _ddl = self.ddl.lock();
        let Some(collection) = self.collections.write().remove(name) else {
            return Ok(false);
        };
        let stale: Vec<String> = self
            .aliases
            .read()
            .iter()
            .filter(|(_, c)| c.as_str() == name)
            .map(|(a, _)| a.clone())
            .collect();
        if !stale.is_empty() {
            let ops: Vec<AliasOperation> = stale
                .into_iter()
                .map(|alias| AliasOperation::Delete { alias })
                .collect();
            self.apply_aliases(&ops, false)?;
        }
        drop(collection);
        let cdir = self.dir.join("collections");
        let src = cdir.join(name);
        let doomed = cdir.join(format!(".deleting-{}", uuid::Uuid::new_v4()));
        std::fs::rename(&src, &doomed).map_err(io_err(&src))?;
        sync_dir(&cdir)?;
        std::fs::remove_dir_all(&doomed).map_err(io_err(&doomed))?;
        Ok(true)
    }

    /// Where collection `name`'s snapshots are kept: `<storage>/snapshots/<name>/`.
    pub fn snapshots_dir(&self, name: &str) -> PathBuf {
        self.dir.join("snapshots").join(name)
    }

    /// Where full-storage snapshots are kept: `<storage>/snapshots/`.
    pub fn full_snapshots_dir(&self) -> PathBuf {
        self.dir.join("snapshots")
    }

    /// A snapshot of every collection and the alias table: `collections/<name>/...` and
    /// `aliases.json`, as the storage folder holds them.
    pub fn create_full_snapshot(&self) -> Result<crate::snapshot::SnapshotDescription> {
        // No collection is created, deleted or recovered meanwhile.
        let _ddl = self.ddl.lock();
        let collections: Vec<(String, Arc<Collection>)> = self
            .collections
            .read()
            .iter()
            .map(|(n, c)| (n.clone(), Arc::clone(c)))
            .collect();
        let aliases = serde_json::to_vec_pretty(&*self.aliases.read())
            .map_err(|e| CollectionError::Corrupt(format!("cannot encode aliases: {e}")))?;
        let name = crate::snapshot::archive_name("full-snapshot");
        crate::snapshot::write_archive(&self.full_snapshots_dir(), &name, |add| {
            for (n, c) in &collections {
                c.snapshot_into(&Path::new("collections").join(n), add)?;
            }
            add(Path::new("aliases.json"), &aliases)
        })
    }

    /// Makes collection `name` the one in snapshot `archive` (replacing it if it exists): the
    /// archive is checked and unpacked into a fresh folder and opened there; only then is the old
    /// collection moved aside and the new one renamed into its place.
    pub fn recover_snapshot(&self, name: &str, archive: &Path, checksum: Option<&str>) -> Result<()> {
        check_name("collection_name", name)?;
        let _ddl = self.ddl.lock();
        let cdir = self.dir.join("collections");
        let tmp = cdir.join(format!(".recovering-{}", uuid::Uuid::new_v4()));
        let checked = crate::snapshot::unpack_snapshot(archive, &tmp, checksum)
            .and_then(|()| Collection::open(&tmp, name).map(drop));
        if let Err(e) = checked {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        // From here the recovery is decided: a crash before the swap below is finished at the
        // next start (see `finish_recoveries`).
        let ready = cdir.join(format!("{READY}{name}"));
        std::fs::rename(&tmp, &ready).map_err(io_err(&ready))?;
        sync_dir(&cdir)?;
        drop(self.collections.write().remove(name));
        finish_recoveries(&cdir)?;
        let dst = cdir.join(name);
        let collection = Arc::new(Collection::open(&dst, name)?);
        self.collections.write().insert(name.to_string(), collection);
        Ok(())
    }

    /// Applies alias changes atomically (all or none) and persists the table.
    pub fn update_aliases(&self, ops: &[AliasOperation]) -> Result<()> {
        let _ddl = self.ddl.lock();
        self.apply_aliases(ops, true)
    }

    fn apply_aliases(&self, ops: &[AliasOperation], check_collections: bool) -> Result<()> {
        let mut table = self.aliases.write();
        let collections = self.collections.read();
        let next = aliases_after(
            &table,
            ops,
            |c| !check_collections || collections.contains_key(c),
            |a| collections.contains_key(a),
        )?;
        write_json_atomic(&self.dir.join("aliases.json"), &next)?;
        *table = next;
        Ok(())
    }

    /// Replaces the whole alias table (a cluster node taking on the committed one).
    pub fn set_aliases(&self, next: BTreeMap<String, String>) -> Result<()> {
        let _ddl = self.ddl.lock();
        let mut table = self.aliases.write();
        if *table != next {
            write_json_atomic(&self.dir.join("aliases.json"), &next)?;
            *table = next;
        }
        Ok(())
    }

    /// (alias, collection) pairs, by alias.
    pub fn aliases(&self) -> Vec<(String, String)> {
        self.aliases
            .read()
            .iter()
            .map(|(a, c)| (a.clone(), c.clone()))
            .collect()
    }

    pub fn collection_aliases(&self, collection: &str) -> Result<Vec<(String, String)>> {
        if !self.collections.read().contains_key(collection) {
            return Err(Self::not_found(collection));
        }
        Ok(self
            .aliases()
            .into_iter()
            .filter(|(_, c)| c == collection)
            .collect())
    }
}

impl Drop for Catalog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.flusher.lock().take() {
            let _ = h.join();
        }
    }
}

/// Folder prefix of a recovered collection waiting to replace `<name>`.
const READY: &str = ".ready-";

/// Puts every recovered collection (`.ready-<name>`) in place of `<name>`, old one removed.
fn finish_recoveries(cdir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(cdir).map_err(io_err(cdir))? {
        let entry = entry.map_err(io_err(cdir))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file_name.strip_prefix(READY) else {
            continue;
        };
        let dst = cdir.join(name);
        if dst.exists() {
            let doomed = cdir.join(format!(".deleting-{}", uuid::Uuid::new_v4()));
            std::fs::rename(&dst, &doomed).map_err(io_err(&dst))?;
            sync_dir(cdir)?;
            std::fs::remove_dir_all(&doomed).map_err(io_err(&doomed))?;
        }
        std::fs::rename(entry.path(), &dst).map_err(io_err(&dst))?;
        sync_dir(cdir)?;
    }
    Ok(())
}
