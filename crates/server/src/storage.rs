//! Object storage for what outlives an operation's run: its full log (and,
//! for test and release runs, their output). Local files by default; any
//! S3-compatible store in production.

use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::config::{Config, StorageConfig};

/// Where logs and artifacts are kept.
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Where, for people: the configured URL.
    pub location: String,
}

impl Storage {
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let storage: &StorageConfig = &config.storage;
        let url = storage
            .url
            .clone()
            .unwrap_or_else(|| format!("file://{}", config.data_dir.join("objects").display()));
        if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .with_context(|| format!("cannot use {dir} for object storage"))?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::default(),
                location: url,
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_region(&storage.s3_region)
                .with_allow_http(storage.s3_allow_http);
            if let Some(endpoint) = &storage.s3_endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
            }
            let store = builder
                .build()
                .with_context(|| format!("cannot use {url} for object storage"))?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::from(prefix),
                location: url,
            });
        }
        anyhow::bail!("storage.url must be file:///DIR or s3://BUCKET[/PREFIX] (got {url:?})")
    }

    fn path(&self, key: &str) -> Path {
        key.split('/')
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    pub async fn put(&self, key: &str, content: Bytes) -> object_store::Result<()> {
        self.store
            .put(&self.path(key), content.into())
            .await
            .map(|_| ())
    }

    /// The object, or `None` if there is none.
    pub async fn get(&self, key: &str) -> object_store::Result<Option<Bytes>> {
        match self.store.get(&self.path(key)).await {
            Ok(object) => Ok(Some(object.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Where an operation's log is kept.
pub fn log_key(cluster: &str, operation: &str) -> String {
    format!("logs/{cluster}/{operation}.jsonl")
}
