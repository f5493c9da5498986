//! Object storage for what outlives an operation's run: its full log (and,
//! for test and release runs, their output). Local files by default; any
//! S3-compatible store in production.

use std::sync::Arc;

use crate::LogStore;
use anyhow::Context as _;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use slipway_core::Operation;

/// Object storage for logs and artifacts (`[storage]` in the
/// configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `file:///DIR` (default: `<data_dir>/objects`) or
    /// `s3://BUCKET[/PREFIX]`. S3 credentials come from the usual `AWS_*`
    /// environment variables.
    pub url: Option<String>,
    /// An S3-compatible endpoint other than AWS's (e.g. `http://minio:9000`).
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    /// Allow `http://` endpoints.
    pub s3_allow_http: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_allow_http: false,
        }
    }
}

/// Where logs and artifacts are kept.
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Where, for people: the configured URL.
    pub location: String,
}

impl Storage {
    /// Opens the configured storage; local files default to
    /// `<data_dir>/objects`.
    pub fn open(storage: &StorageConfig, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let url = storage
            .url
            .clone()
            .unwrap_or_else(|| format!("file://{}", data_dir.join("objects").display()));
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

    async fn put(&self, key: &str, content: Bytes) -> object_store::Result<()> {
        self.store
            .put(&self.path(key), content.into())
            .await
            .map(|_| ())
    }

    /// The object, or `None` if there is none.
    async fn get(&self, key: &str) -> object_store::Result<Option<Bytes>> {
        match self.store.get(&self.path(key)).await {
            Ok(object) => Ok(Some(object.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Where an operation's log is kept.
pub fn log_key(op: &Operation) -> String {
    format!("logs/{}/{}.jsonl", op.cluster, op.id)
}

impl Storage {
    /// Keeps a finished operation's whole log (JSON lines) in object
    /// storage, and returns it. The events stay in the database too.
    pub async fn archive_log(&self, logs: &dyn LogStore, op: &Operation) -> anyhow::Result<Bytes> {
        let mut log = Vec::new();
        let mut after = 0;
        loop {
            let events = logs.events(&op.id, after, 5000).await?;
            let Some(last) = events.last() else { break };
            after = last.seq;
            for event in events {
                serde_json::to_writer(&mut log, &event)?;
                log.push(b'\n');
            }
        }
        let log = Bytes::from(log);
        self.put(&log_key(op), log.clone()).await?;
        Ok(log)
    }

    /// The archived log of an operation, if it was archived.
    pub async fn log(&self, op: &Operation) -> object_store::Result<Option<Bytes>> {
        self.get(&log_key(op)).await
    }
}
