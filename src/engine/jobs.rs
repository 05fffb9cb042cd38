//! The job runtime: one tokio multi-thread runtime for I/O plus a bounded worker pool for CPU work.
//!
//! `JobSpec` in, `JobEvent`s out. Every job gets a [`JobContext`] with a cancel token (checked between
//! chunks) and a throttled progress reporter. Events travel over a bounded channel; after each event the
//! `notify` callback runs (the GUI points it at `request_repaint`, the CLI at nothing). The CLI and the GUI
//! run jobs through this same runtime.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::engine::demo::{DemoError, DemoSummary};
use crate::engine::lake::inspect::{
    PageRequest, SmallFilePolicy, TableFiles, TableHistory, TableInfo, TablePage, VersionSelector,
};
use crate::engine::lake::page_shapes::PageShapes;
use crate::engine::lake::schema_diff::SchemaDiff;
use crate::engine::lake::{LakeError, TableOverview, TableRef};
use crate::engine::stac::{CatalogTree, StacError};
use crate::engine::workspace::{Workspace, WorkspaceError};

/// How many events may wait in the channel before progress events are dropped (terminal events wait).
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;
/// How many tables a [`JobSpec::TableOverviews`] job reads at once.
pub const OVERVIEW_CONCURRENCY: usize = crate::engine::lake::iceberg_rest::LOAD_CONCURRENCY;
/// Minimum interval between two progress events of one job (~10 Hz).
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Identifies one submitted job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a job should do. The GUI and the CLI build these; [`run_job`] executes them.
#[derive(Clone, Debug)]
pub enum JobSpec {
    /// Generate the demo workspace into a folder; with `reuse_existing`, a complete earlier demo there is
    /// returned as it is.
    WriteDemo { dir: PathBuf, reuse_existing: bool },
    /// Find what an opened folder or file holds (catalogs, tables, SQL catalogs).
    ScanWorkspace { path: PathBuf },
    /// Load a static STAC catalog (catalog.json / collection.json / item.json) with all its children.
    LoadStaticCatalog { path: PathBuf },
    /// Read a table's overview (format, rows, files, versions, schema, geometry columns, history).
    TableOverview { table: TableRef },
    /// Read the overviews of many tables (e.g. all tables of a catalog), [`OVERVIEW_CONCURRENCY`] at a
    /// time; each one is sent as a [`JobEvent::Partial`] ([`JobResult::TableOverviewOf`]) as it arrives.
    TableOverviews { tables: Vec<TableRef> },
    /// A table's info at a version (`meshlake table info`).
    TableInfo { table: TableRef, at: VersionSelector, policy: SmallFilePolicy },
    /// A table's commits / snapshots, oldest first.
    TableHistory { table: TableRef },
    /// A table's live files at a version.
    TableFiles { table: TableRef, at: VersionSelector },
    /// A page of a table's rows at a version.
    TableHead { table: TableRef, at: VersionSelector, page: PageRequest },
    /// Each file's bbox (in the table's `crs`) as a lon/lat outline for the map.
    FileFootprints { files: TableFiles, crs: Option<String> },
    /// The schema differences between two versions of a table.
    TableSchemaDiff { table: TableRef, from: VersionSelector, to: VersionSelector },
    /// The geometries of a page of rows in lon/lat (`crs`: the column's CRS as the table names it).
    TablePageShapes { table: TableRef, at: VersionSelector, offset: u64, limit: u64, column: String, crs: Option<String> },
    /// Validate a table version's geometry column (`against`: also diff the schema with that version;
    /// `geometry_types`, `crs`: what to assume when the files do not declare them).
    /// `contract`: a JSON/TOML schema contract file every data file is checked against.
    TableValidate {
        table: TableRef,
        at: VersionSelector,
        geometry: Option<String>,
        geometry_types: Vec<String>,
        crs: Option<String>,
        against: Option<VersionSelector>,
        contract: Option<PathBuf>,
    },
    /// The schema contract of a table version (Arrow schema of its data + `geo` metadata).
    TableContract { table: TableRef, at: VersionSelector },
    /// A spatial query over a table version with file and row-group pruning.
    TableQuery { table: TableRef, at: VersionSelector, request: crate::engine::lake::spatial::QueryRequest },
    /// Compact a table (bin-packing, Z-order or spatial order), or plan it (`request.dry_run`).
    TableCompact { table: TableRef, request: crate::engine::lake::maintain::CompactionRequest },
    /// Expire old snapshots (Iceberg) / log entries (Delta).
    TableExpire { table: TableRef, request: crate::engine::lake::maintain::ExpireRequest },
    /// Delete files the table no longer references (Delta vacuum, Iceberg orphan files).
    TableVacuum { table: TableRef, request: crate::engine::lake::maintain::VacuumRequest },
    /// Write a Delta checkpoint at the latest version.
    TableCheckpoint { table: TableRef },
    /// Record a table's current health (files, small files, versions) in its monitor log under
    /// `log_dir` and return the series with the alerts the policy raises.
    TableMonitor { table: TableRef, policy: SmallFilePolicy, log_dir: PathBuf },
    /// A STAC API's landing page, conformance classes and collections.
    StacConnect { url: String },
    /// An item search over a STAC API URL or a local static catalog / item collection; each page is
    /// sent as a [`JobEvent::Partial`] ([`JobResult::StacSearchPage`]) as it arrives.
    StacSearch { source: String, params: crate::engine::stac::search::SearchParams },
    /// Validate a STAC item / collection / catalog JSON (path or URL) against the core schema of its
    /// version and its extension schemas.
    StacValidate { href: String },
    /// The queryables of a STAC source (of one collection when given): read from an API that declares
    /// them, else derived from the items' properties.
    StacQueryables { source: String, collection: Option<String> },
    /// Load an item thumbnail (PNG/JPEG) over HTTP or from a local file (only for a local source:
    /// `remote_source` refuses local paths), cached under `cache_dir` when given.
    StacThumbnail { href: String, remote_source: bool, cache_dir: Option<PathBuf> },
    /// Wait, checking the cancel token every 100 ms (used to prove the UI stays responsive).
    Wait { secs: f64 },
    /// Compute an NDVI product from STAC items into a Zarr store (optionally published as a STAC item).
    Ndvi(Box<crate::engine::ndvi::NdviRequest>),
    /// The values of every time slice of a Zarr array (`variable`) at a lon/lat point (map pixel inspect).
    NdviInspect { zarr: PathBuf, variable: String, lon: f64, lat: f64 },
    /// Describe a Zarr store already on disk for the map preview (`engine::ndvi::describe_product`): its
    /// `ndvi` array, or its only data array.
    NdviOpen { zarr: PathBuf },
    /// Histogram, valid/NaN counts, min, max and mean of one time slice of a Zarr float array under a
    /// lon/lat bbox (or the whole array), reading only the chunks under it.
    NdviStats(crate::engine::ndvi::stats::AreaStatsRequest),
}

impl JobSpec {
    /// A short human title for the jobs panel and logs.
    pub fn title(&self) -> String {
        match self {
            JobSpec::WriteDemo { dir, reuse_existing: false } => format!("Write demo workspace to {}", dir.display()),
            JobSpec::WriteDemo { dir, reuse_existing: true } => {
                format!("Write demo workspace to {} (if missing)", dir.display())
            }
            JobSpec::ScanWorkspace { path } => format!("Open {}", path.display()),
            JobSpec::LoadStaticCatalog { path } => format!("Load STAC catalog {}", path.display()),
            JobSpec::TableOverview { table } => format!("Read table {table}"),
            JobSpec::TableOverviews { tables } => format!("Read {} tables", tables.len()),
            JobSpec::TableInfo { table, .. } => format!("Table info {table}"),
            JobSpec::TableHistory { table } => format!("Table history {table}"),
            JobSpec::TableFiles { table, .. } => format!("Table files {table}"),
            JobSpec::TableHead { table, .. } => format!("Table rows {table}"),
            JobSpec::TableSchemaDiff { table, .. } => format!("Schema diff {table}"),
            JobSpec::FileFootprints { files, .. } => format!("Footprints of {} files", files.files.len()),
            JobSpec::TablePageShapes { table, .. } => format!("Table geometries {table}"),
            JobSpec::TableValidate { table, .. } => format!("Validate {table}"),
            JobSpec::TableQuery { table, .. } => format!("Spatial query {table}"),
            JobSpec::TableContract { table, .. } => format!("Contract of {table}"),
            JobSpec::TableCompact { table, request } if request.dry_run => format!("Plan compaction of {table}"),
            JobSpec::TableCompact { table, .. } => format!("Compact {table}"),
            JobSpec::TableExpire { table, request } if request.dry_run => format!("Plan snapshot expiry of {table}"),
            JobSpec::TableExpire { table, .. } => format!("Expire snapshots of {table}"),
            JobSpec::TableVacuum { table, request } if request.dry_run => format!("Plan vacuum of {table}"),
            JobSpec::TableVacuum { table, .. } => format!("Vacuum {table}"),
            JobSpec::TableCheckpoint { table } => format!("Checkpoint {table}"),
            JobSpec::TableMonitor { table, .. } => format!("Health of {table}"),
            JobSpec::StacConnect { url } => format!("Connect to STAC API {url}"),
            JobSpec::StacSearch { source, .. } => format!("STAC search {source}"),
            JobSpec::StacValidate { href } => format!("Validate STAC {href}"),
            JobSpec::StacQueryables { source, .. } => format!("STAC queryables of {source}"),
            JobSpec::StacThumbnail { href, .. } => format!("Thumbnail {href}"),
            JobSpec::Wait { secs } => format!("Wait {secs} s"),
            JobSpec::Ndvi(request) => format!("NDVI into {}", request.out.display()),
            JobSpec::NdviInspect { lon, lat, .. } => format!("NDVI at {lon:.5}, {lat:.5}"),
            JobSpec::NdviOpen { zarr } => format!("Open Zarr store {}", zarr.display()),
            JobSpec::NdviStats(request) => match request.bbox {
                Some([w, s, e, n]) => format!("NDVI statistics of {w:.3},{s:.3},{e:.3},{n:.3} (time {})", request.time),
                None => format!("NDVI statistics of {} (time {})", request.zarr.display(), request.time),
            },
        }
    }
}

/// The typed result of a finished job.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobResult {
    Demo(DemoSummary),
    Workspace(Workspace),
    Catalog(CatalogTree),
    TableOverview(Box<TableOverview>),
    /// One table of a [`JobSpec::TableOverviews`] job (`index` into its `tables`): its overview, or why
    /// it could not be read.
    TableOverviewOf { index: usize, reference: String, overview: Result<Box<TableOverview>, String> },
    /// The end of a [`JobSpec::TableOverviews`] job: how many tables were read and how many failed.
    TableOverviews { read: usize, failed: usize },
    TableInfo(Box<TableInfo>),
    TableHistory(TableHistory),
    TableFiles(TableFiles),
    TablePage(TablePage),
    SchemaDiff(SchemaDiff),
    PageShapes(PageShapes),
    /// `(index into the files, lon/lat outline)` of a [`JobSpec::FileFootprints`].
    #[serde(skip)]
    FileFootprints(Vec<(usize, geo::Geometry<f64>)>),
    Validation(Box<crate::engine::lake::spatial::ValidationReport>),
    Contract(Box<crate::engine::lake::contract::Contract>),
    Query(Box<crate::engine::lake::spatial::QueryReport>),
    Compaction(Box<crate::engine::lake::maintain::CompactionReport>),
    Expire(Box<crate::engine::lake::maintain::ExpireReport>),
    Vacuum(Box<crate::engine::lake::maintain::VacuumReport>),
    Checkpoint(Box<crate::engine::lake::maintain::CheckpointReport>),
    Health(Box<crate::engine::lake::monitor::HealthSeries>),
    StacApi(Box<crate::engine::stac::api::ApiInfo>),
    StacSearchPage(crate::engine::stac::job::StacSearchPage),
    StacSearch(Box<crate::engine::stac::job::StacSearchResult>),
    StacValidation(Box<crate::engine::stac::validate::StacValidation>),
    StacQueryables(Box<crate::engine::stac::queryables::QueryablesResult>),
    StacThumbnail(Box<crate::engine::stac::thumbnail::Thumbnail>),
    Waited { secs: f64 },
    Ndvi(Box<crate::engine::ndvi::NdviProduct>),
    NdviPixel(crate::engine::ndvi::tiles::NdviPixel),
    NdviStats(Box<crate::engine::ndvi::stats::AreaStats>),
}

/// What a job reports while it runs.
#[derive(Debug)]
pub enum JobEvent {
    Started { id: JobId, title: String },
    Progress { id: JobId, done: u64, total: u64, message: String },
    /// A part of the result that is ready before the job ends (the job goes on).
    Partial { id: JobId, result: Box<JobResult> },
    Finished { id: JobId, result: Box<JobResult> },
    Failed { id: JobId, error: String },
    Cancelled { id: JobId },
}

impl JobEvent {
    pub fn job_id(&self) -> JobId {
        match self {
            JobEvent::Started { id, .. }
            | JobEvent::Progress { id, .. }
            | JobEvent::Partial { id, .. }
            | JobEvent::Finished { id, .. }
            | JobEvent::Failed { id, .. }
            | JobEvent::Cancelled { id } => *id,
        }
    }
}

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Demo(#[from] DemoError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Stac(#[from] StacError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Settings(#[from] crate::engine::settings::SettingsError),
    #[error(transparent)]
    Ndvi(crate::engine::ndvi::NdviError),
    /// A request that cannot be carried out as asked (what is wrong and what to do instead).
    #[error("{0}")]
    Invalid(String),
    #[error("the worker pool stopped before the job's CPU work finished")]
    WorkerPoolGone,
    /// A job that failed on the runtime, as its event reported it (used by [`JobRuntime::run_to_end`]).
    #[error("{0}")]
    Failed(String),
}

/// Format an error with all its sources, `outer: inner: innermost` (like anyhow's `{:#}`).
/// The causes of an error without its outermost message (which often repeats what the caller
/// already names, e.g. a URL), deduplicated; the error itself when it has no cause.
pub fn error_causes(err: &(dyn std::error::Error + 'static)) -> String {
    match err.source() {
        Some(source) => error_chain(source),
        None => err.to_string(),
    }
}

pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A shared flag a job checks between chunks of work.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// `Err(JobError::Cancelled)` once cancelled; call between chunks.
    pub fn check(&self) -> Result<(), JobError> {
        if self.is_cancelled() { Err(JobError::Cancelled) } else { Ok(()) }
    }
}

/// Called after every event is queued; the GUI sets it to `ctx.request_repaint()`.
pub type NotifyFn = Arc<dyn Fn() + Send + Sync>;

/// Sends events of one job: throttled progress, never blocking the job on a full channel.
#[derive(Clone)]
pub struct ProgressReporter {
    id: JobId,
    sender: mpsc::Sender<JobEvent>,
    notify: NotifyFn,
    last_sent: Arc<Mutex<Option<Instant>>>,
}

impl ProgressReporter {
    /// Report progress; sent at most every [`PROGRESS_INTERVAL`] except when `done == total`.
    pub fn report(&self, done: u64, total: u64, message: impl Into<String>) {
        let now = Instant::now();
        let Ok(mut last) = self.last_sent.lock() else { return };
        let due = last.is_none_or(|t| now.duration_since(t) >= PROGRESS_INTERVAL) || done >= total;
        if !due {
            return;
        }
        *last = Some(now);
        let event = JobEvent::Progress { id: self.id, done, total, message: message.into() };
        // Progress is lossy by design: a full channel drops it instead of blocking the job.
        if self.sender.try_send(event).is_ok() {
            (self.notify)();
        }
    }

    /// Send a part of the job's result now; waits for room in the channel (parts are not lossy).
    pub async fn partial(&self, result: JobResult) {
        send_event(&self.sender, &self.notify, JobEvent::Partial { id: self.id, result: Box::new(result) }).await;
    }
}

/// Everything a running job may use: its cancel token, its progress reporter and the worker pool.
#[derive(Clone)]
pub struct JobContext {
    pub id: JobId,
    pub cancel: CancelToken,
    pub progress: ProgressReporter,
    cpu_pool: Arc<rayon::ThreadPool>,
}

impl JobContext {
    /// Run CPU-heavy work on the bounded worker pool and await its result without blocking the I/O runtime.
    pub async fn cpu<T, F>(&self, work: F) -> Result<T, JobError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.cpu_pool.spawn(move || {
            // The receiver may be gone when the job was dropped; nothing to do then.
            let _ = reply.send(work());
        });
        answer.await.map_err(|_| JobError::WorkerPoolGone)
    }

    /// The worker pool itself, for `install`-style parallel iterators inside [`JobContext::cpu`].
    pub fn cpu_pool(&self) -> &rayon::ThreadPool {
        &self.cpu_pool
    }
}

/// A submitted job: its id and the token that cancels it.
#[derive(Clone, Debug)]
pub struct JobHandle {
    pub id: JobId,
    pub cancel: CancelToken,
}

/// Errors starting the runtime itself.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not start the tokio I/O runtime: {0}")]
    Tokio(#[source] std::io::Error),
    #[error("could not start the CPU worker pool: {0}")]
    WorkerPool(#[source] rayon::ThreadPoolBuildError),
}

/// The runtime shared by the GUI and the CLI.
pub struct JobRuntime {
    runtime: tokio::runtime::Runtime,
    cpu_pool: Arc<rayon::ThreadPool>,
    sender: mpsc::Sender<JobEvent>,
    notify: NotifyFn,
    next_id: AtomicU64,
}

impl JobRuntime {
    /// Start the I/O runtime and a worker pool of `cpu_threads` (0 = number of cores).
    /// Returns the runtime and the receiving end of its bounded event channel.
    pub fn start(cpu_threads: usize, notify: NotifyFn) -> Result<(Self, mpsc::Receiver<JobEvent>), RuntimeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("meshlake-io")
            .build()
            .map_err(RuntimeError::Tokio)?;
        let cpu_pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cpu_threads)
            .thread_name(|i| format!("meshlake-cpu-{i}"))
            .build()
            .map_err(RuntimeError::WorkerPool)?;
        let (sender, receiver) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
        let runtime = Self { runtime, cpu_pool: Arc::new(cpu_pool), sender, notify, next_id: AtomicU64::new(1) };
        Ok((runtime, receiver))
    }

    /// The tokio runtime handle (for one-off async calls at the edges).
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Submit a job; it starts at once on the I/O runtime.
    pub fn submit(&self, spec: JobSpec) -> JobHandle {
        let id = JobId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let cancel = CancelToken::default();
        let ctx = JobContext {
            id,
            cancel: cancel.clone(),
            progress: ProgressReporter {
                id,
                sender: self.sender.clone(),
                notify: self.notify.clone(),
                last_sent: Arc::new(Mutex::new(None)),
            },
            cpu_pool: self.cpu_pool.clone(),
        };
        let sender = self.sender.clone();
        let notify = self.notify.clone();
        let title = spec.title();
        self.runtime.spawn(async move {
            let started = Instant::now();
            tracing::info!(job = %id, "started: {title}");
            send_event(&sender, &notify, JobEvent::Started { id, title: title.clone() }).await;
            let event = match run_job(spec, &ctx).await {
                Ok(result) => {
                    tracing::info!(job = %id, secs = started.elapsed().as_secs_f64(), "finished: {title}");
                    JobEvent::Finished { id, result: Box::new(result) }
                }
                Err(JobError::Cancelled) => {
                    tracing::warn!(job = %id, "cancelled: {title}");
                    JobEvent::Cancelled { id }
                }
                Err(err) => {
                    let error = error_chain(&err);
                    tracing::error!(job = %id, "failed: {title}: {error}");
                    JobEvent::Failed { id, error }
                }
            };
            send_event(&sender, &notify, event).await;
        });
        JobHandle { id, cancel }
    }

    /// Run one job to its end on this runtime, for the CLI: `on_progress` sees progress events.
    /// Events of other jobs submitted to this runtime are ignored by this call.
    pub fn run_to_end(
        &self,
        receiver: &mut mpsc::Receiver<JobEvent>,
        spec: JobSpec,
        mut on_progress: impl FnMut(u64, u64, &str),
    ) -> Result<JobResult, JobError> {
        let handle = self.submit(spec);
        loop {
            let Some(event) = receiver.blocking_recv() else {
                return Err(JobError::WorkerPoolGone);
            };
            if event.job_id() != handle.id {
                continue;
            }
            match event {
                // Partial results are for the GUI; the CLI prints the final one.
                JobEvent::Started { .. } | JobEvent::Partial { .. } => {}
                JobEvent::Progress { done, total, message, .. } => on_progress(done, total, &message),
                JobEvent::Finished { result, .. } => return Ok(*result),
                JobEvent::Failed { error, .. } => return Err(JobError::Failed(error)),
                JobEvent::Cancelled { .. } => return Err(JobError::Cancelled),
            }
        }
    }
}

async fn send_event(sender: &mpsc::Sender<JobEvent>, notify: &NotifyFn, event: JobEvent) {
    // Terminal events wait for room; an error means the receiver is gone (app closing): nothing to tell.
    if sender.send(event).await.is_ok() {
        notify();
    }
}

/// Execute one job. Each arm calls into its engine area.
pub async fn run_job(spec: JobSpec, ctx: &JobContext) -> Result<JobResult, JobError> {
    match spec {
        JobSpec::WriteDemo { dir, reuse_existing } => {
            Ok(JobResult::Demo(crate::engine::demo::ensure_demo(&dir, reuse_existing, ctx).await?))
        }
        JobSpec::ScanWorkspace { path } => match Workspace::scan_cancellable(&path, &ctx.cancel).await {
            Ok(workspace) => Ok(JobResult::Workspace(workspace)),
            Err(WorkspaceError::Cancelled) => Err(JobError::Cancelled),
            Err(err) => Err(err.into()),
        },
        JobSpec::LoadStaticCatalog { path } => {
            Ok(JobResult::Catalog(crate::engine::stac::load_static_catalog(&path, ctx).await?))
        }
        JobSpec::TableOverview { table } => {
            let overview = crate::engine::lake::table_overview(&table).await?;
            Ok(JobResult::TableOverview(Box::new(overview)))
        }
        JobSpec::TableOverviews { tables } => table_overviews(tables, ctx).await,
        JobSpec::TableInfo { table, at, policy } => {
            let info = crate::engine::lake::inspect::table_info(&table, &at, &policy).await?;
            Ok(JobResult::TableInfo(Box::new(info)))
        }
        JobSpec::TableHistory { table } => {
            Ok(JobResult::TableHistory(crate::engine::lake::inspect::table_history(&table).await?))
        }
        JobSpec::TableFiles { table, at } => {
            Ok(JobResult::TableFiles(crate::engine::lake::inspect::table_files(&table, &at).await?))
        }
        JobSpec::TableHead { table, at, page } => {
            Ok(JobResult::TablePage(crate::engine::lake::inspect::table_head(&table, &at, &page).await?))
        }
        JobSpec::FileFootprints { files, crs } => {
            let footprints = ctx
                .cpu(move || crate::engine::lake::page_shapes::file_footprints(&files, crs.as_deref()))
                .await?
                .map_err(|e| JobError::Failed(format!("the file footprints cannot be drawn on the map: {e}")))?;
            Ok(JobResult::FileFootprints(footprints))
        }
        JobSpec::TableSchemaDiff { table, from, to } => {
            let policy = crate::engine::lake::inspect::SmallFilePolicy::default();
            let (old, new) = tokio::try_join!(
                crate::engine::lake::inspect::table_info(&table, &from, &policy),
                crate::engine::lake::inspect::table_info(&table, &to, &policy)
            )?;
            Ok(JobResult::SchemaDiff(crate::engine::lake::schema_diff::diff_schemas(&old, &new)))
        }
        JobSpec::TablePageShapes { table, at, offset, limit, column, crs } => {
            let shapes = crate::engine::lake::page_shapes::table_page_shapes(
                &table,
                &at,
                offset,
                limit,
                &column,
                crs.as_deref(),
            )
            .await?;
            Ok(JobResult::PageShapes(shapes))
        }
        JobSpec::TableValidate { table, at, geometry, geometry_types, crs, against, contract } => {
            let contract = match contract {
                Some(path) => {
                    let loaded = crate::engine::lake::contract::Contract::load(&path).map_err(|e| JobError::Invalid(e.to_string()))?;
                    Some((path.display().to_string(), Arc::new(loaded)))
                }
                None => None,
            };
            let declared = crate::engine::lake::spatial::Declared { geometry_types, crs, contract };
            let report =
                crate::engine::lake::spatial::validate(&table, &at, geometry.as_deref(), &declared, against.as_ref(), ctx).await?;
            Ok(JobResult::Validation(Box::new(report)))
        }
        JobSpec::TableContract { table, at } => {
            Ok(JobResult::Contract(Box::new(crate::engine::lake::spatial::contract_of(&table, &at).await?)))
        }
        JobSpec::TableQuery { table, at, request } => {
            Ok(JobResult::Query(Box::new(crate::engine::lake::spatial::query(&table, &at, &request, ctx).await?)))
        }
        JobSpec::TableCompact { table, request } => {
            Ok(JobResult::Compaction(Box::new(crate::engine::lake::maintain::compact(&table, &request, ctx).await?)))
        }
        JobSpec::TableExpire { table, request } => {
            Ok(JobResult::Expire(Box::new(crate::engine::lake::maintain::expire(&table, &request, ctx).await?)))
        }
        JobSpec::TableCheckpoint { table } => {
            Ok(JobResult::Checkpoint(Box::new(crate::engine::lake::maintain::checkpoint(&table, ctx).await?)))
        }
        JobSpec::TableVacuum { table, request } => {
            Ok(JobResult::Vacuum(Box::new(crate::engine::lake::maintain::vacuum(&table, &request, ctx).await?)))
        }
        JobSpec::TableMonitor { table, policy, log_dir } => {
            Ok(JobResult::Health(Box::new(crate::engine::lake::monitor::observe(&table, &policy, &log_dir).await?)))
        }
        JobSpec::StacConnect { url } => {
            Ok(JobResult::StacApi(Box::new(crate::engine::stac::job::connect_api(&url, ctx).await?)))
        }
        JobSpec::StacSearch { source, params } => {
            Ok(JobResult::StacSearch(Box::new(crate::engine::stac::job::run_search(&source, &params, ctx).await?)))
        }
        JobSpec::StacQueryables { source, collection } => Ok(JobResult::StacQueryables(Box::new(
            crate::engine::stac::job::queryables(&source, collection.as_deref(), ctx).await?,
        ))),
        JobSpec::StacThumbnail { href, remote_source, cache_dir } => {
            use crate::engine::stac::thumbnail::{ThumbnailError, load_thumbnail};
            let options = crate::engine::stac::api::ApiOptions::default();
            match load_thumbnail(&href, remote_source, cache_dir.as_deref(), options, &ctx.cancel).await {
                Ok(thumbnail) => Ok(JobResult::StacThumbnail(Box::new(thumbnail))),
                Err(ThumbnailError::Cancelled) => Err(JobError::Cancelled),
                Err(err) => Err(JobError::Invalid(crate::engine::jobs::error_chain(&err))),
            }
        }
        JobSpec::StacValidate { href } => {
            use crate::engine::stac::api::StacApiError;
            use crate::engine::stac::validate::{SchemaSource, StacValidateError, validate_href};
            let mut source = SchemaSource::from_env();
            match validate_href(&href, &mut source, &ctx.cancel).await {
                Ok(report) => Ok(JobResult::StacValidation(Box::new(report))),
                Err(StacValidateError::Api(StacApiError::Cancelled)) => Err(JobError::Cancelled),
                Err(StacValidateError::Api(err)) => Err(JobError::Stac(StacError::Api(err))),
                Err(err) => Err(JobError::Invalid(err.to_string())),
            }
        }
        JobSpec::Wait { secs } => {
            let started = Instant::now();
            let total_ms = (secs * 1000.0).max(0.0) as u64;
            loop {
                ctx.cancel.check()?;
                let elapsed_ms = started.elapsed().as_millis() as u64;
                ctx.progress.report(elapsed_ms.min(total_ms), total_ms, "waiting");
                if elapsed_ms >= total_ms {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100).min(Duration::from_millis(total_ms - elapsed_ms))).await;
            }
            Ok(JobResult::Waited { secs })
        }
        JobSpec::Ndvi(request) => Ok(JobResult::Ndvi(Box::new(crate::engine::ndvi::run_ndvi(*request, ctx).await?))),
        JobSpec::NdviOpen { zarr } => {
            let product = ctx
                .cpu(move || {
                    let variable = crate::engine::ndvi::preview_variable(&zarr)?;
                    crate::engine::ndvi::describe_product(&zarr, &variable)
                })
                .await?;
            Ok(JobResult::Ndvi(Box::new(product.map_err(JobError::Ndvi)?)))
        }
        JobSpec::NdviInspect { zarr, variable, lon, lat } => {
            let pixel = ctx.cpu(move || crate::engine::ndvi::tiles::inspect(&zarr, &variable, lon, lat)).await?;
            let pixel = pixel.map_err(|source| crate::engine::ndvi::NdviError::Invalid(source.to_string()))?;
            Ok(JobResult::NdviPixel(pixel))
        }
        JobSpec::NdviStats(request) => {
            let cancel = ctx.cancel.clone();
            let stats = ctx.cpu(move || crate::engine::ndvi::stats::area_stats(&request, &cancel)).await?;
            match stats {
                Ok(stats) => Ok(JobResult::NdviStats(Box::new(stats))),
                Err(crate::engine::ndvi::NdviError::Cancelled) => Err(JobError::Cancelled),
                Err(err) => Err(JobError::Ndvi(err)),
            }
        }
    }
}

/// Read many overviews, [`OVERVIEW_CONCURRENCY`] at a time, each sent as a partial result as it arrives;
/// no new table is started once the job is cancelled.
async fn table_overviews(tables: Vec<TableRef>, ctx: &JobContext) -> Result<JobResult, JobError> {
    use futures::StreamExt;
    let total = tables.len() as u64;
    let (mut read, mut failed) = (0usize, 0usize);
    ctx.progress.report(0, total, "reading tables");
    let cancel = ctx.cancel.clone();
    let reads = tables.into_iter().enumerate().map(move |(index, table)| {
        let cancel = cancel.clone();
        async move {
            // A table whose turn comes after the job was cancelled is not read.
            if cancel.is_cancelled() {
                return None;
            }
            let reference = table.to_string();
            let overview = crate::engine::lake::table_overview(&table).await.map(Box::new).map_err(|e| error_chain(&e));
            Some((index, reference, overview))
        }
    });
    let mut overviews = futures::stream::iter(reads).buffer_unordered(OVERVIEW_CONCURRENCY);
    while let Some(outcome) = overviews.next().await {
        let Some((index, reference, overview)) = outcome else { continue };
        if overview.is_ok() {
            read += 1;
        } else {
            failed += 1;
        }
        ctx.progress.report((read + failed) as u64, total, format!("read {reference}"));
        ctx.progress.partial(JobResult::TableOverviewOf { index, reference, overview }).await;
    }
    ctx.cancel.check()?;
    Ok(JobResult::TableOverviews { read, failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> (JobRuntime, mpsc::Receiver<JobEvent>, Arc<AtomicU64>) {
        let notified = Arc::new(AtomicU64::new(0));
        let counter = notified.clone();
        let (rt, rx) = JobRuntime::start(2, Arc::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        }))
        .unwrap();
        (rt, rx, notified)
    }

    #[test]
    fn wait_job_reports_started_progress_finished_and_notifies() {
        let (rt, mut rx, notified) = runtime();
        let handle = rt.submit(JobSpec::Wait { secs: 0.35 });
        let mut kinds = Vec::new();
        loop {
            let event = rx.blocking_recv().unwrap();
            assert_eq!(event.job_id(), handle.id);
            match event {
                JobEvent::Started { .. } => kinds.push("started"),
                JobEvent::Progress { done, total, .. } => {
                    assert!(done <= total);
                    kinds.push("progress")
                }
                JobEvent::Finished { result, .. } => {
                    assert!(matches!(*result, JobResult::Waited { .. }));
                    kinds.push("finished");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(kinds.first(), Some(&"started"));
        assert_eq!(kinds.last(), Some(&"finished"));
        let progress = kinds.iter().filter(|k| **k == "progress").count();
        // 0.35 s throttled to 10 Hz: a handful of progress events, not one per 100 ms tick plus bursts.
        assert!((2..=6).contains(&progress), "progress events: {progress}");
        assert!(notified.load(Ordering::Relaxed) >= 3);
    }

    #[test]
    fn cancel_token_stops_a_job_between_chunks() {
        let (rt, mut rx, _) = runtime();
        let handle = rt.submit(JobSpec::Wait { secs: 30.0 });
        let started = Instant::now();
        handle.cancel.cancel();
        loop {
            match rx.blocking_recv().unwrap() {
                JobEvent::Cancelled { id } => {
                    assert_eq!(id, handle.id);
                    break;
                }
                JobEvent::Finished { .. } | JobEvent::Failed { .. } => panic!("should be cancelled"),
                _ => {}
            }
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn cpu_work_runs_on_named_worker_threads() {
        let (rt, _rx, _) = runtime();
        let (sender, _) = mpsc::channel(4);
        let ctx = JobContext {
            id: JobId(99),
            cancel: CancelToken::default(),
            progress: ProgressReporter {
                id: JobId(99),
                sender,
                notify: Arc::new(|| {}),
                last_sent: Arc::new(Mutex::new(None)),
            },
            cpu_pool: rt.cpu_pool.clone(),
        };
        let name = rt
            .handle()
            .block_on(ctx.cpu(|| std::thread::current().name().map(str::to_owned)))
            .unwrap();
        assert!(name.unwrap().starts_with("meshlake-cpu-"));
    }

    #[test]
    fn failed_job_carries_the_whole_error_chain() {
        let (rt, mut rx, _) = runtime();
        let missing = std::env::temp_dir().join("meshlake-no-such-folder-4711");
        let result = rt.run_to_end(&mut rx, JobSpec::ScanWorkspace { path: missing.clone() }, |_, _, _| {});
        let err = result.unwrap_err();
        let text = error_chain(&err);
        assert!(text.contains(&missing.display().to_string()), "{text}");
    }

    #[test]
    fn progress_events_never_block_when_the_channel_is_full() {
        let (sender, _rx) = mpsc::channel(1);
        let reporter = ProgressReporter {
            id: JobId(1),
            sender,
            notify: Arc::new(|| {}),
            last_sent: Arc::new(Mutex::new(None)),
        };
        for i in 0..100 {
            reporter.report(i, 100, "x");
        }
        reporter.report(100, 100, "done");
    }
}
