//! Object storage: one API for local files and S3-compatible buckets.
//!
//! [`locate`] turns a location — a local path, a `file://` URL or an `s3://bucket/key` URL — into
//! an [`ObjectStore`] and the path inside it. Local files go through `object_store`'s local
//! filesystem store, so local tables and tables in buckets are read by the same code.
//!
//! S3 configuration comes from the usual environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
//! `AWS_ENDPOINT_URL`/`AWS_ENDPOINT_URL_S3`, `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`)
//! through `AmazonS3Builder::from_env`, overridden by the process-wide [`S3Settings`] the app sets
//! from its settings dialog ([`set_s3_settings`]). The secret is a [`Secret`]: its `Debug` is
//! redacted and it is never serialized.
//!
//! Delta: [`register_delta_s3`] registers an object store and log store factory for `s3://` with
//! delta-rs, so its table builder opens bucket URLs with the same configuration.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex, Once, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientConfigKey, GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig,
};
use url::Url;

use crate::engine::lake::LakeError;

/// URL schemes served by the S3 store.
const S3_SCHEMES: &[&str] = &["s3", "s3a"];

/// A secret string: shown as `<redacted>` by `Debug`, never serialized.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (then the environment decides).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("<empty>")
        } else {
            f.write_str("<redacted>")
        }
    }
}

/// S3 settings from the app; empty fields leave the environment variables in charge.
///
/// Serializing keeps the endpoint, region, key id and allow-http flag; the secret is skipped (it
/// lives in memory for the session only).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct S3Settings {
    /// Endpoint URL of an S3-compatible service (`http://127.0.0.1:9000`); empty = AWS / env.
    pub endpoint: String,
    /// Region (`eu-west-1`); empty = env, else `us-east-1`.
    pub region: String,
    /// Access key id; empty = env.
    pub access_key_id: String,
    /// Secret access key; empty = env. Never persisted.
    #[serde(skip)]
    pub secret_access_key: Secret,
    /// Allow plain-http endpoints (local MinIO, moto, …); `false` leaves `AWS_ALLOW_HTTP` in charge.
    pub allow_http: bool,
}

static S3_SETTINGS: LazyLock<RwLock<S3Settings>> =
    LazyLock::new(|| RwLock::new(S3Settings::default()));

/// Stores built per bucket for the current settings (cleared when the settings change).
static S3_STORES: LazyLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Set the process-wide S3 settings (the app does, from its settings dialog).
pub fn set_s3_settings(settings: S3Settings) {
    let mut current = S3_SETTINGS.write().unwrap_or_else(|e| e.into_inner());
    if *current != settings {
        *current = settings;
        S3_STORES.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The current process-wide S3 settings.
pub fn s3_settings() -> S3Settings {
    S3_SETTINGS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Whether `location` is an object-storage URL served here (`s3://…`).
pub fn is_object_store_url(location: &str) -> bool {
    location
        .split_once("://")
        .is_some_and(|(scheme, _)| S3_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// A location resolved to a store and a path in it.
#[derive(Clone, Debug)]
pub struct Located {
    /// The store (the local filesystem rooted at `/`, or one bucket).
    pub store: Arc<dyn ObjectStore>,
    /// The path inside the store.
    pub path: ObjectPath,
    /// `s3://bucket` for buckets, `None` for the local filesystem.
    pub bucket_url: Option<String>,
}

impl Located {
    /// How a path of this store is shown: `/abs/path` locally, `s3://bucket/key` in a bucket.
    pub fn show(&self, path: &ObjectPath) -> String {
        match &self.bucket_url {
            Some(bucket) => format!("{bucket}/{path}"),
            None => format!("/{path}"),
        }
    }

    /// `self.path` joined with a relative path (`a/b.parquet`), taken as the raw key (Delta log
    /// paths are already URL-decoded by delta-rs; Iceberg paths are not encoded).
    pub fn child(&self, relative: &str) -> ObjectPath {
        raw_path(&format!(
            "{}/{}",
            self.path,
            relative.trim_start_matches('/')
        ))
    }

    /// A location in the same store (`s3://same-bucket/…`, or a local path / `file://` URL).
    pub fn same_store_path(&self, location: &str) -> Option<ObjectPath> {
        match &self.bucket_url {
            Some(bucket) => {
                let rest = location.strip_prefix(bucket.as_str())?;
                let rest = rest.strip_prefix('/')?;
                Some(
                    Located {
                        path: ObjectPath::default(),
                        ..self.clone()
                    }
                    .child(rest),
                )
            }
            None => {
                let local = local_path(location)?;
                ObjectPath::from_absolute_path(local).ok()
            }
        }
    }
}

/// A raw object key as a path (kept as it is; keys with segments object_store refuses, such as
/// `..`, are encoded instead).
fn raw_path(key: &str) -> ObjectPath {
    ObjectPath::parse(key).unwrap_or_else(|_| {
        key.split('/')
            .filter(|part| !part.is_empty())
            .fold(ObjectPath::default(), |path, part| path.join(part))
    })
}

/// A plain path or `file://` URL as a local path (`None` for other schemes).
fn local_path(location: &str) -> Option<std::path::PathBuf> {
    if location.starts_with("file:") {
        Url::parse(location).ok()?.to_file_path().ok()
    } else if location.contains("://") {
        None
    } else {
        std::path::absolute(location).ok()
    }
}

static LOCAL_STORE: LazyLock<Arc<dyn ObjectStore>> =
    LazyLock::new(|| Arc::new(LocalFileSystem::new()));

/// Resolve a location (local path, `file://` URL or `s3://bucket/key`) to its store and path.
pub fn locate(location: &str) -> Result<Located, LakeError> {
    let bad = |reason: String| LakeError::BadReference {
        reference: location.to_string(),
        reason,
    };
    if is_object_store_url(location) {
        let url = Url::parse(location).map_err(|e| bad(format!("not a valid URL: {e}")))?;
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad("the URL names no bucket: s3://BUCKET/PATH".to_string()))?
            .to_string();
        let store =
            s3_store(&bucket, &HashMap::new()).map_err(|source| LakeError::ObjectStore {
                action: "configure S3 for",
                url: location.to_string(),
                hint: hint_for(&source),
                source,
            })?;
        // The key is everything after `s3://bucket/`, raw (not URL-decoded).
        let key = location
            .split_once("://")
            .map(|(_, rest)| rest)
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, key)| key)
            .unwrap_or("");
        let path = raw_path(key);
        return Ok(Located {
            store,
            path,
            bucket_url: Some(format!("s3://{bucket}")),
        });
    }
    if location.contains("://") && !location.starts_with("file:") {
        return Err(bad(
            "only local paths, file:// and s3:// URLs are supported".to_string(),
        ));
    }
    let local = local_path(location)
        .ok_or_else(|| bad("not a local file URL (file:///ABSOLUTE/PATH)".to_string()))?;
    let path = ObjectPath::from_absolute_path(&local)
        .map_err(|e| bad(format!("not a usable path: {e}")))?;
    Ok(Located {
        store: LOCAL_STORE.clone(),
        path,
        bucket_url: None,
    })
}

/// The S3 store for `bucket` with the environment, the app's settings and `options` (delta-rs
/// storage options) applied; cached per bucket when there are no options.
fn s3_store(
    bucket: &str,
    options: &HashMap<String, String>,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    if options.is_empty()
        && let Some(store) = S3_STORES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
    {
        return Ok(store.clone());
    }
    let settings = s3_settings();
    // Fail in seconds, not minutes, when the endpoint is unreachable or wrong (merged into the
    // client options from the environment, which `with_client_options` would replace).
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5s",
        )
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "60s");
    if let Ok(value) = std::env::var("AWS_ALLOW_HTTP") {
        builder = builder.with_allow_http(value.eq_ignore_ascii_case("true") || value == "1");
    }
    if std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        && settings.region.is_empty()
    {
        builder = builder.with_region("us-east-1");
    }
    if !settings.endpoint.is_empty() {
        builder = builder.with_endpoint(settings.endpoint.trim_end_matches('/'));
    }
    if !settings.region.is_empty() {
        builder = builder.with_region(&settings.region);
    }
    if !settings.access_key_id.is_empty() {
        builder = builder.with_access_key_id(&settings.access_key_id);
    }
    if !settings.secret_access_key.is_empty() {
        builder = builder.with_secret_access_key(settings.secret_access_key.expose());
    }
    if settings.allow_http {
        builder = builder.with_allow_http(true);
    }
    for (key, value) in options {
        if let Ok(key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
        ..RetryConfig::default()
    };
    let store: Arc<dyn ObjectStore> = Arc::new(builder.with_retry(retry).build()?);
    if options.is_empty() {
        S3_STORES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(bucket.to_string(), store.clone());
    }
    Ok(store)
}

/// What to check when an object store operation fails, in words.
pub fn hint_for(error: &object_store::Error) -> String {
    let text = format!("{error:?} {error}");
    let has = |needle: &str| text.contains(needle);
    let hint = if has("NoSuchBucket") {
        "the bucket does not exist: check the bucket name in the URL and the endpoint (AWS_ENDPOINT_URL or Settings ▸ Object storage)"
    } else if matches!(error, object_store::Error::NotFound { .. }) || has("NoSuchKey") {
        "nothing is stored there: check the bucket and the path"
    } else if matches!(
        error,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || has("InvalidAccessKeyId")
        || has("SignatureDoesNotMatch")
        || has("AccessDenied")
        || has("403 Forbidden")
    {
        "access was refused: check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or Settings ▸ Object storage) and the bucket's permissions"
    } else if has("builder error") && has("http") && !has("https") {
        "the endpoint is plain http: set AWS_ALLOW_HTTP=true or tick \"allow http\" in Settings ▸ Object storage"
    } else if has("error sending request")
        || has("connect")
        || has("timed out")
        || has("dns error")
        || has("Connection refused")
    {
        "the endpoint cannot be reached: check the endpoint URL (AWS_ENDPOINT_URL or Settings ▸ Object storage), the network, and AWS_ALLOW_HTTP for http endpoints"
    } else if has("MissingRegion") || has("region") {
        "check the region (AWS_REGION or Settings ▸ Object storage)"
    } else {
        "check the endpoint, region, bucket and credentials (AWS_* variables or Settings ▸ Object storage)"
    };
    hint.to_string()
}

/// Wrap an object store error with the action and the location shown to the user.
pub fn store_error(
    action: &'static str,
    url: impl Into<String>,
) -> impl FnOnce(object_store::Error) -> LakeError {
    let url = url.into();
    move |source| LakeError::ObjectStore {
        action,
        hint: hint_for(&source),
        url,
        source,
    }
}

impl Located {
    /// Read a whole object.
    pub async fn read(&self, path: &ObjectPath) -> Result<Bytes, LakeError> {
        let shown = self.show(path);
        let result = self
            .store
            .get(path)
            .await
            .map_err(store_error("read", &shown))?;
        result.bytes().await.map_err(store_error("read", shown))
    }

    /// The files and folders directly under `path` (one level).
    pub async fn list_dir(
        &self,
        path: &ObjectPath,
    ) -> Result<(Vec<ObjectMeta>, Vec<ObjectPath>), LakeError> {
        let listing = self
            .store
            .list_with_delimiter(Some(path))
            .await
            .map_err(store_error("list", self.show(path)))?;
        Ok((listing.objects, listing.common_prefixes))
    }

    /// Every object under `path`, recursively.
    pub async fn list_all(&self, path: &ObjectPath) -> Result<Vec<ObjectMeta>, LakeError> {
        use futures::TryStreamExt;
        self.store
            .list(Some(path))
            .try_collect()
            .await
            .map_err(store_error("list", self.show(path)))
    }
}

/// Bytes read from the end of a file of known size in the first metadata request: the footer and,
/// in files of tens of row groups, the page index written just before it (one request instead of
/// three; more are made when the metadata is larger).
const METADATA_PREFETCH_BYTES: usize = 64 * 1024;

/// A Parquet reader over an object: ranged reads; the footer fetched by a suffix request, or, when
/// the file's size is known (from the table's log or manifests), by one ranged read of its tail.
#[derive(Clone)]
pub struct ParquetObjectReader {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    /// The object's size in bytes, when known.
    size: Option<u64>,
}

impl ParquetObjectReader {
    /// A reader of `path` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, path: ObjectPath) -> Self {
        Self { store, path, size: None }
    }

    /// The object's size as the table's metadata records it: the footer and page index are then
    /// read with one request of the file's tail (a size of 0, i.e. unknown, is ignored).
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = (size > 0).then_some(size);
        self
    }
}

fn to_parquet_error(error: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(error))
}

impl parquet::arrow::async_reader::AsyncFileReader for ParquetObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        // One ranged read through `get_ranges`: the local store serves it in one blocking-pool task,
        // where `get_range` takes two (open + stat, then the read); S3 makes one request either way.
        async move {
            let mut read = self.store.get_ranges(&self.path, std::slice::from_ref(&range)).await.map_err(to_parquet_error)?;
            read.pop().ok_or_else(|| parquet::errors::ParquetError::General(format!("no bytes read of {range:?}")))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(to_parquet_error)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>> {
        async move {
            if let Some(size) = self.size {
                let read = parquet::file::metadata::ParquetMetaDataReader::new()
                    .with_arrow_reader_options(options)
                    .with_prefetch_hint(Some(METADATA_PREFETCH_BYTES))
                    .load_and_finish(&mut *self, size)
                    .await;
                match read {
                    Ok(metadata) => return Ok(Arc::new(metadata)),
                    // A size the metadata got wrong: read the footer from the object's actual end.
                    Err(_) => self.size = None,
                }
            }
            let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_via_suffix_and_finish(self)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

impl parquet::arrow::async_reader::MetadataSuffixFetch for &mut ParquetObjectReader {
    fn fetch_suffix(&mut self, suffix: usize) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let options = GetOptions {
            range: Some(GetRange::Suffix(suffix as u64)),
            ..Default::default()
        };
        async move {
            let result = self
                .store
                .get_opts(&self.path, options)
                .await
                .map_err(to_parquet_error)?;
            result.bytes().await.map_err(to_parquet_error)
        }
        .boxed()
    }
}

/// delta-rs object store factory for `s3://`: our S3 store for the URL's bucket.
struct DeltaS3StoreFactory;

impl deltalake::logstore::ObjectStoreFactory for DeltaS3StoreFactory {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<(deltalake::logstore::ObjectStoreRef, ObjectPath)> {
        let bucket = url
            .host_str()
            .ok_or_else(|| deltalake::DeltaTableError::InvalidTableLocation(url.to_string()))?;
        let mut store = s3_store(bucket, &config.raw)?;
        if let Some(runtime) = &config.runtime {
            store = Arc::new(deltalake::logstore::DeltaIOStorageBackend::new(
                store,
                runtime.clone(),
            ));
        }
        let path = ObjectPath::from_url_path(url.path())?;
        Ok((store, path))
    }
}

/// delta-rs log store factory for `s3://`: the default log store (we only read).
struct DeltaS3LogStoreFactory;

impl deltalake::logstore::LogStoreFactory for DeltaS3LogStoreFactory {
    fn with_options(
        &self,
        prefixed_store: deltalake::logstore::ObjectStoreRef,
        root_store: deltalake::logstore::ObjectStoreRef,
        location: &Url,
        options: &deltalake::logstore::StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn deltalake::logstore::LogStore>> {
        Ok(deltalake::logstore::default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// Register the `s3://` (and `s3a://`) factories with delta-rs (once per process).
pub fn register_delta_s3() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in S3_SCHEMES {
            if let Ok(url) = Url::parse(&format!("{scheme}://")) {
                deltalake::logstore::object_store_factories()
                    .insert(url.clone(), Arc::new(DeltaS3StoreFactory));
                deltalake::logstore::logstore_factories()
                    .insert(url, Arc::new(DeltaS3LogStoreFactory));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_and_not_serialized() {
        let settings = S3Settings {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "eu-west-1".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI-very-secret"),
            allow_http: true,
        };
        let debug = format!("{settings:?} {settings:#?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let json = serde_json::to_string(&settings).unwrap();
        assert!(!json.contains("very-secret"), "{json}");
        assert!(
            json.contains("AKIDEXAMPLE") && json.contains("eu-west-1"),
            "{json}"
        );
        let back: S3Settings = serde_json::from_str(&json).unwrap();
        assert!(back.secret_access_key.is_empty());
        assert_eq!(back.endpoint, settings.endpoint);
    }

    #[test]
    fn locations_resolve_to_stores() {
        let dir = tempfile::tempdir().unwrap();
        let local = locate(&dir.path().display().to_string()).unwrap();
        assert!(local.bucket_url.is_none());
        assert_eq!(local.show(&local.path), dir.path().display().to_string());
        let from_url = locate(&format!("file://{}", dir.path().display())).unwrap();
        assert_eq!(from_url.path, local.path);
        let s3 = locate("s3://bucket/some/table").unwrap();
        assert_eq!(s3.bucket_url.as_deref(), Some("s3://bucket"));
        assert_eq!(s3.path.as_ref(), "some/table");
        assert_eq!(
            s3.show(&s3.child("a=b c/x.parquet")),
            "s3://bucket/some/table/a=b c/x.parquet"
        );
        assert_eq!(
            s3.child("a=x%20y/f").as_ref(),
            "some/table/a=x%20y/f",
            "keys are taken raw"
        );
        let spaced = locate("s3://bucket/t/kind=north%20field/f.parquet").unwrap();
        assert_eq!(spaced.path.as_ref(), "t/kind=north%20field/f.parquet");
        assert_eq!(
            s3.same_store_path("s3://bucket/other/f.parquet")
                .map(|p| p.to_string()),
            Some("other/f.parquet".to_string())
        );
        assert!(s3.same_store_path("s3://elsewhere/f.parquet").is_none());
        assert!(locate("gs://bucket/x").is_err());
        assert!(is_object_store_url("S3://b/x") && !is_object_store_url("/tmp/x"));
    }

    /// The footer and page index read with one request of the tail when the size is known, and
    /// from the object's real end when the recorded size is wrong: the same metadata either way.
    #[tokio::test]
    async fn metadata_with_known_wrong_or_unknown_size() {
        use parquet::arrow::ArrowWriter;
        use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
        use parquet::file::metadata::PageIndexPolicy;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("values.parquet");
        let values = arrow::array::Int64Array::from_iter_values(0..100_000);
        let batch = arrow::record_batch::RecordBatch::try_from_iter([("v", Arc::new(values) as arrow::array::ArrayRef)]).unwrap();
        let props = parquet::file::properties::WriterProperties::builder().set_data_page_row_count_limit(1000).set_write_batch_size(1000).build();
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&file).unwrap(), batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let size = std::fs::metadata(&file).unwrap().len();
        let located = locate(&file.display().to_string()).unwrap();
        let options = || ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let mut readings = Vec::new();
        for known in [None, Some(size), Some(size + 100), Some(size - 100), Some(3)] {
            let mut reader = ParquetObjectReader::new(located.store.clone(), located.path.clone());
            if let Some(known) = known {
                reader = reader.with_size(known);
            }
            let metadata = ArrowReaderMetadata::load_async(&mut reader, options()).await.unwrap();
            let pages = metadata.metadata().offset_index().unwrap()[0][0].page_locations().len();
            readings.push((metadata.metadata().file_metadata().num_rows(), pages));
        }
        assert!(readings[0].1 > 10, "a page index with many pages: {readings:?}");
        assert!(readings.iter().all(|r| *r == readings[0]), "{readings:?}");
    }
}
