//! Snapshots on an S3-compatible object store (`snapshots_storage: s3`): archives are built in
//! the local snapshot folder as usual, then uploaded with their `.checksum` beside them and
//! removed locally; listing, download and deletion read the bucket. Keys are
//! `<prefix>/<collection>/<name>` for collection snapshots and `<prefix>/<name>` for full ones.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload};
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

    /// Uploads a local archive and its checksum, then removes both locally.
    pub async fn upload(
        &self,
        collection: Option<&str>,
        dir: &std::path::Path,
        d: &SnapshotDescription,
    ) -> ApiResult<()> {
        let local = dir.join(&d.name);
        let bytes = read(&local).await?;
        self.store
            .put(&self.key(collection, &d.name), PutPayload::from(bytes))
            .await
            .map_err(|e| remote_err(&d.name, e))?;
        if let Some(sum) = &d.checksum {
            let key = self.key(collection, &format!("{}.checksum", d.name));
            self.store
                .put(&key, PutPayload::from(sum.clone().into_bytes()))
                .await
                .map_err(|e| remote_err(&d.name, e))?;
        }
        let _ = std::fs::remove_file(&local);
        let _ = std::fs::remove_file(dir.join(format!("{}.checksum", d.name)));
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

    /// The archive's bytes.
    pub async fn fetch(&self, collection: Option<&str>, name: &str) -> ApiResult<Vec<u8>> {
        check_snapshot_name(name)?;
        let got = self
            .store
            .get(&self.key(collection, name))
            .await
            .map_err(|e| remote_err(&format!("snapshot {name}"), e))?;
        let bytes = got.bytes().await.map_err(|e| remote_err(name, e))?;
        Ok(bytes.to_vec())
    }

    /// The archive at `s3://<bucket>/<key>` (the bucket must be this store's).
    pub async fn fetch_location(&self, location: &str) -> ApiResult<Vec<u8>> {
        let rest = location.strip_prefix("s3://").unwrap_or(location);
        let key = rest.split_once('/').map(|(_, k)| k).unwrap_or("");
        let got = self
            .store
            .get(&Key::from(key))
            .await
            .map_err(|e| remote_err(&format!("snapshot {location}"), e))?;
        Ok(got.bytes().await.map_err(|e| remote_err(location, e))?.to_vec())
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

async fn read(path: &std::path::Path) -> ApiResult<Vec<u8>> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::read(&p).map_err(|e| ApiError::Internal(format!("cannot read {}: {e}", p.display())))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("snapshot read failed: {e}")))?
}
