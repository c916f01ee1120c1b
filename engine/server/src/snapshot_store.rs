//! Snapshots on an S3-compatible object store (`snapshots_storage: s3`): archives are built in
//! the local snapshot folder as usual, then uploaded with their `.checksum` beside them and
//! removed locally; listing, download and deletion read the bucket. Keys are
//! `<prefix>/<collection>/<name>` for collection snapshots and `<prefix>/<name>` for full ones.

use std::sync::Arc;

use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use quiver_collection::snapshot::{check_snapshot_name, SnapshotDescription};

use crate::error::{ApiError, ApiResult};
use crate::settings::{S3Settings, SettingsError};

/// A bucket (and key prefix) holding snapshots.
#[derive(Debug, Clone)]
pub struct RemoteSnapshots {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

fn remote_err(what: &str, e: object_store::Error) -> ApiError {
    match e {
        object_store::Error::NotFound { .. } => {
            ApiError::NotFound(format!("Not found: {what} does not exist"))
        }
        e => ApiError::Internal(format!("Service internal error: snapshot storage: {what}: {e}")),
    }
}

impl RemoteSnapshots {
    /// The store `s3` settings describe; credentials and region fall back to `AWS_*` variables.
    pub fn from_settings(s: &S3Settings) -> Result<RemoteSnapshots, SettingsError> {
        if s.bucket.is_empty() {
            return Err(SettingsError::Invalid(
                "storage.snapshots_config.s3_config.bucket: required when snapshots_storage is s3".into(),
            ));
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&s.bucket);
        if let Some(r) = &s.region {
            b = b.with_region(r);
        }
        if let Some(k) = &s.access_key {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &s.secret_key {
            b = b.with_secret_access_key(k);
        }
        if let Some(e) = &s.endpoint_url {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = b
            .build()
            .map_err(|e| SettingsError::Invalid(format!("storage.snapshots_config.s3_config: {e}")))?;
        Ok(RemoteSnapshots {
            store: Arc::new(store),
            prefix: s.prefix.clone().unwrap_or_default().trim_matches('/').to_string(),
        })
    }

    fn folder(&self, collection: Option<&str>) -> String {
        [self.prefix.as_str(), collection.unwrap_or("")]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/")
    }

    fn key(&self, collection: Option<&str>, name: &str) -> Key {
        let folder = self.folder(collection);
        if folder.is_empty() {
            Key::from(name)
        } else {
            Key::from(format!("{folder}/{name}"))
        }
    }

    /// Uploads a local archive (in parts, read a part at a time) and its checksum. The local
    /// copy is removed either way: a failed upload leaves nothing behind to pile up (a failed
    /// multipart upload is aborted).
    pub async fn upload(
        &self,
        collection: Option<&str>,
        dir: &std::path::Path,
        d: &SnapshotDescription,
    ) -> ApiResult<()> {
        let local = dir.join(&d.name);
        let sent = self.send(collection, &local, d).await;
        let _ = std::fs::remove_file(&local);
        let _ = std::fs::remove_file(dir.join(format!("{}.checksum", d.name)));
        sent
    }

    async fn send(
        &self,
        collection: Option<&str>,
        local: &std::path::Path,
        d: &SnapshotDescription,
    ) -> ApiResult<()> {
        let parts = self
            .store
            .put_multipart(&self.key(collection, &d.name))
            .await
            .map_err(|e| remote_err(&d.name, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(parts, PART);
        let copied = async {
            let mut file = Some(open(local).await?);
            loop {
                let (f, chunk) = read_chunk(file.take(), PART).await?;
                file = f;
                if chunk.is_empty() {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(2)
                    .await
                    .map_err(|e| remote_err(&d.name, e))?;
                writer.write(&chunk);
            }
        }
        .await;
        if let Err(e) = copied {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await.map_err(|e| remote_err(&d.name, e))?;
        if let Some(sum) = &d.checksum {
            let key = self.key(collection, &format!("{}.checksum", d.name));
            self.store
                .put(&key, PutPayload::from(sum.clone().into_bytes()))
                .await
                .map_err(|e| remote_err(&d.name, e))?;
        }
        Ok(())
    }

    /// The snapshots directly under the folder, by name.
    pub async fn list(&self, collection: Option<&str>) -> ApiResult<Vec<SnapshotDescription>> {
        let folder = self.folder(collection);
        let at = (!folder.is_empty()).then(|| Key::from(folder.as_str()));
        let listing = self
            .store
            .list_with_delimiter(at.as_ref())
            .await
            .map_err(|e| remote_err("snapshot listing", e))?;
        let mut out = Vec::new();
        for meta in listing.objects {
            let Some(name) = meta.location.filename().map(str::to_string) else {
                continue;
            };
            if check_snapshot_name(&name).is_err() {
                continue;
            }
            let sum_key = self.key(collection, &format!("{name}.checksum"));
            let checksum = match self.store.get(&sum_key).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .ok()
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string()),
                Err(_) => None,
            };
            out.push(SnapshotDescription {
                name,
                creation_time: Some(meta.last_modified.format("%Y-%m-%dT%H:%M:%S").to_string()),
                size: meta.size,
                checksum,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The archive's bytes as they arrive.
    pub async fn stream(&self, collection: Option<&str>, name: &str) -> ApiResult<ByteStream> {
        check_snapshot_name(name)?;
        let got = self
            .store
            .get(&self.key(collection, name))
            .await
            .map_err(|e| remote_err(&format!("snapshot {name}"), e))?;
        Ok(got.into_stream().map_err(std::io::Error::other).boxed())
    }

    /// The archive at `s3://<bucket>/<key>` (the bucket must be this store's), as it arrives.
    pub async fn stream_location(&self, location: &str) -> ApiResult<ByteStream> {
        let rest = location.strip_prefix("s3://").unwrap_or(location);
        let key = rest.split_once('/').map(|(_, k)| k).unwrap_or("");
        let got = self
            .store
            .get(&Key::from(key))
            .await
            .map_err(|e| remote_err(&format!("snapshot {location}"), e))?;
        Ok(got.into_stream().map_err(std::io::Error::other).boxed())
    }

    pub async fn delete(&self, collection: Option<&str>, name: &str) -> ApiResult<()> {
        check_snapshot_name(name)?;
        let key = self.key(collection, name);
        self.store
            .head(&key)
            .await
            .map_err(|e| remote_err(&format!("snapshot {name}"), e))?;
        self.store.delete(&key).await.map_err(|e| remote_err(name, e))?;
        let _ = self
            .store
            .delete(&self.key(collection, &format!("{name}.checksum")))
            .await;
        Ok(())
    }
}

/// Bytes of an archive, chunk by chunk.
pub type ByteStream = BoxStream<'static, std::io::Result<axum::body::Bytes>>;

/// Size of an upload part and of a read from disk for it.
const PART: usize = 8 << 20;

async fn open(path: &std::path::Path) -> ApiResult<std::fs::File> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::File::open(&p).map_err(|e| ApiError::Internal(format!("cannot open {}: {e}", p.display())))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("snapshot read failed: {e}")))?
}

/// Up to `size` bytes from `file` on the blocking pool (empty at the end), and the file back.
async fn read_chunk(file: Option<std::fs::File>, size: usize) -> ApiResult<(Option<std::fs::File>, Vec<u8>)> {
    let Some(mut file) = file else {
        return Ok((None, Vec::new()));
    };
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut buf = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ApiError::Internal(format!("snapshot read failed: {e}"))),
            }
        }
        buf.truncate(filled);
        Ok((Some(file), buf))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("snapshot read failed: {e}")))?
}

/// A local archive as a stream of 1 MiB chunks read on the blocking pool.
pub async fn file_stream(path: &std::path::Path) -> ApiResult<ByteStream> {
    let file = open(path).await?;
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        file.as_ref()?;
        match read_chunk(file, 1 << 20).await {
            Ok((_, chunk)) if chunk.is_empty() => None,
            Ok((f, chunk)) => Some((Ok(axum::body::Bytes::from(chunk)), f)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    Ok(chunks.boxed())
}

/// Writes a stream into a new file at `to`, chunk by chunk, and syncs it.
/// A failed chunk of the stream becomes `bad(error)` (the caller knows whose fault it is).
pub async fn save_stream(
    mut stream: impl futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> + Unpin,
    to: &std::path::Path,
    bad: impl Fn(std::io::Error) -> ApiError,
) -> ApiResult<()> {
    let path = to.to_path_buf();
    let mut file = Some(
        std::fs::File::create(&path)
            .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", path.display())))?,
    );
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(&bad)?;
        let Some(mut f) = file.take() else { break };
        let p = path.clone();
        file = Some(
            tokio::task::spawn_blocking(move || {
                use std::io::Write;
                f.write_all(&chunk)
                    .map(|()| f)
                    .map_err(|e| ApiError::Internal(format!("cannot write {}: {e}", p.display())))
            })
            .await
            .map_err(|e| ApiError::Internal(format!("snapshot write failed: {e}")))??,
        );
    }
    if let Some(f) = file {
        f.sync_all()
            .map_err(|e| ApiError::Internal(format!("cannot sync {}: {e}", path.display())))?;
    }
    Ok(())
}
