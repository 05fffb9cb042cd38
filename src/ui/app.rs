//! The eframe application: `logic()` drains job events and handles commands; `ui()` only draws the
//! model and collects the commands the panels return.

mod maintain;
mod ndvi;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use egui::{Key, KeyboardShortcut, Modifiers, RichText};

use crate::engine::jobs::{JobEvent, JobHandle, JobId, JobResult, JobRuntime, JobSpec, RuntimeError, error_chain};
use crate::engine::crs::to_lon_lat;
use crate::engine::lake::TableRef;
use crate::engine::lake::file_health::files_health;
use crate::engine::lake::page_shapes::PageShapes;
use crate::engine::lake::inspect::{PageRequest, VersionSelector};
use crate::engine::logbuf::LogBuffer;
use crate::engine::settings::AppPaths;
use crate::engine::stac::NodeKind;
use crate::engine::workspace::Workspace;
use crate::ui::commands::Command;
use crate::ui::map::{MapAction, MapFeature, MapLayer, MapState, PreviewSource};
use crate::ui::model::{
    AppModel, CatalogEntry, JobRow, JobState, NoticeLevel, Pane, PersistedState, Requested, TABLE_PAGE_ROWS, TableEntry,
    TableTab, ThemeChoice, file_footprints_layer_id, item_preview_layer_id, page_rows_layer_id,
};
use crate::ui::panels;
use crate::ui::panels::stac_search::ThumbnailState;

const STATE_KEY: &str = "meshlake-state";
const LAYOUT_KEY: &str = "meshlake-layout";
const MAP_KEY: &str = "meshlake-map";
/// Job events handled per frame at most (the rest wait for the next frame, which is requested).
const MAX_EVENTS_PER_FRAME: usize = 2000;
/// Id of the map layer with STAC item footprints.
pub const FOOTPRINTS_LAYER_ID: &str = "stac-footprints";

pub const SHORTCUT_OPEN_FOLDER: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
pub const SHORTCUT_OPEN_FILE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::O);
pub const SHORTCUT_SETTINGS: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Comma);
pub const SHORTCUT_QUIT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);

/// How the app is started.
#[derive(Clone)]
pub struct AppOptions {
    /// Data and cache folders, or why they could not be determined.
    pub paths: Result<AppPaths, String>,
    /// Open this instead of the demo workspace.
    pub open_path: Option<PathBuf>,
    /// Where `tracing` output is captured for the Log panel.
    pub log: LogBuffer,
    /// Worker threads for CPU work (0 = number of cores).
    pub cpu_threads: usize,
    /// Restore persisted state (off in tests).
    pub restore_state: bool,
}

impl AppOptions {
    pub fn from_env(log: LogBuffer) -> Self {
        Self {
            paths: AppPaths::from_env().map_err(|e| e.to_string()),
            open_path: None,
            log,
            cpu_threads: 0,
            restore_state: true,
        }
    }
}

/// Why a job was submitted: decides what its result changes.
#[derive(Clone, Debug)]
enum JobPurpose {
    WriteDemo,
    /// NDVI pixel inspect (`app/ndvi.rs`).
    Ndvi,
    /// A Zarr store on disk opened for the map preview.
    NdviOpened { zarr: PathBuf },
    /// An NDVI product; its STAC item was published into `product_catalog` (opened when it is done).
    NdviProduct { product_catalog: Option<PathBuf> },
    /// The statistics of the visible map area of an NDVI product's time slice `time`.
    NdviArea { zarr: PathBuf, time: usize, bbox: [f64; 4] },
    Scan { path: PathBuf },
    LoadCatalog { path: PathBuf },
    Overview { reference: String },
    /// Overviews of many tables in one job (the tables of an opened folder or catalog), arriving one by one.
    Overviews { references: Arc<[String]> },
    /// Keyed by table reference (+ version selector, + page offset): results for an older selection are ignored.
    TableHistory { reference: String },
    TableInfo { reference: String, at: VersionSelector },
    TableFiles { reference: String, at: VersionSelector },
    TablePage { reference: String, at: VersionSelector, offset: u64 },
    SchemaDiff { reference: String, with: VersionSelector, at: VersionSelector },
    PageShapes { reference: String },
    FileFootprints { reference: String, at: VersionSelector },
    Validate { reference: String },
    Query { reference: String },
    /// The monitor series of a table's current version.
    Health { reference: String },
    /// A compaction / expiry / vacuum (or its dry run) of a table (`app/maintain.rs`).
    Maintain { reference: String, kind: maintain::MaintenanceKind },
    /// The live files of one side (`after`) of a compaction's before/after view.
    MaintainFiles { reference: String, version: i64, after: bool },
    StacConnect,
    StacQueryables,
    StacThumbnail { href: String },
    StacSearch { generation: u64 },
    /// The STAC validation of the catalog node read from this file.
    StacValidate { path: PathBuf },
    Other,
}

pub struct MeshlakeApp {
    pub model: AppModel,
    pub persisted: PersistedState,
    pub map: MapState,
    tree: egui_tiles::Tree<Pane>,
    runtime: JobRuntime,
    events: tokio::sync::mpsc::Receiver<JobEvent>,
    purposes: HashMap<JobId, JobPurpose>,
    paths: Option<AppPaths>,
    log: LogBuffer,
    log_view: panels::log::LogView,
    tables_view: panels::tables::TablesView,
    stac_view: panels::stac_search::StacSearchView,
    /// Outcomes of native dialogs arrive here (dialogs run on the I/O runtime).
    picked_paths: (SyncSender<Option<PathBuf>>, Receiver<Option<PathBuf>>),
    /// Contract files picked in the Spatial tab's dialog (`None`: cancelled).
    picked_contracts: (SyncSender<Option<PathBuf>>, Receiver<Option<PathBuf>>),
    pending_commands: Vec<Command>,
    map_layers: Vec<MapLayer>,
    /// Vector layers tables put on the map (file footprints, page rows), drawn above the footprints.
    table_layers: Vec<MapLayer>,
    /// For each feature of the footprints layer: (catalog index, node index).
    footprint_nodes: Vec<(usize, usize)>,
    layers_dirty: bool,
    show_settings: bool,
    /// The object storage fields being edited in Settings (applied with a button).
    s3_draft: crate::engine::storage::S3Settings,
    path_input: String,
    /// Put the keyboard focus into the path field on the next frame (File ▸ Open Iceberg REST catalog…).
    focus_path_input: bool,
    applied_theme: Option<ThemeChoice>,
    zoomed_to_first_catalog: bool,
    /// The map's visible lon/lat bbox as last seen, and since when it has not moved (the NDVI
    /// visible-area histogram is recomputed once the view has been still for a moment).
    ndvi_view: Option<([f64; 4], Instant)>,
    /// The latest visible-area statistics job of each NDVI product: cancelled, and its Jobs panel row
    /// dropped, when the next request supersedes it.
    ndvi_area_jobs: HashMap<PathBuf, JobHandle>,
}

pub fn default_layout() -> egui_tiles::Tree<Pane> {
    let mut tiles = egui_tiles::Tiles::default();
    let catalog = tiles.insert_pane(Pane::Catalog);
    let tables = tiles.insert_pane(Pane::Tables);
    let map = tiles.insert_pane(Pane::Map);
    let jobs = tiles.insert_pane(Pane::Jobs);
    let log = tiles.insert_pane(Pane::Log);
    let browse = tiles.insert_tab_tile(vec![catalog, tables]);
    let top = tiles.insert_horizontal_tile(vec![browse, map]);
    let bottom = tiles.insert_tab_tile(vec![jobs, log]);
    let root = tiles.insert_vertical_tile(vec![top, bottom]);
    if let Some(egui_tiles::Tile::Container(egui_tiles::Container::Linear(linear))) = tiles.get_mut(top) {
        linear.shares.set_share(browse, 0.36);
        linear.shares.set_share(map, 0.64);
    }
    if let Some(egui_tiles::Tile::Container(egui_tiles::Container::Linear(linear))) = tiles.get_mut(root) {
        linear.shares.set_share(top, 0.74);
        linear.shares.set_share(bottom, 0.26);
    }
    egui_tiles::Tree::new(egui::Id::unique("meshlake_layout"), root, tiles)
}

impl MeshlakeApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Result<Self, RuntimeError> {
        egui_extras::install_image_loaders(&cc.egui_ctx);
        let repaint_ctx = cc.egui_ctx.clone();
        let notify = Arc::new(move || repaint_ctx.request_repaint());
        let (runtime, events) = JobRuntime::start(options.cpu_threads, notify)?;
        let storage = if options.restore_state { cc.storage } else { None };
        let persisted: PersistedState = storage.and_then(|s| eframe::get_value(s, STATE_KEY)).unwrap_or_default();
        let tree = storage.and_then(|s| eframe::get_value(s, LAYOUT_KEY)).unwrap_or_else(default_layout);
        let restored_map: Option<MapState> = storage.and_then(|s| eframe::get_value(s, MAP_KEY));
        // A restored map view is the user's; don't jump to the first catalog then.
        let keep_map_view = restored_map.is_some();
        let mut map = restored_map.unwrap_or_default();
        let mut model = AppModel::default();
        if let Some(bytes) = persisted.small_file_bytes {
            model.small_file_policy.small_file_bytes = bytes;
        }
        if let Some(count) = persisted.max_small_files_per_partition {
            model.small_file_policy.max_small_files_per_partition = count;
        }
        let paths = match options.paths {
            Ok(paths) => Some(paths),
            Err(err) => {
                model.notify_error(err.clone());
                model.data_dir_problem = Some(err);
                None
            }
        };
        if let Some(paths) = &paths {
            map.set_tile_cache_dir(paths.tile_cache_dir());
        }
        let mut app = Self {
            model,
            persisted,
            map,
            tree,
            runtime,
            events,
            purposes: HashMap::new(),
            paths,
            log: options.log,
            log_view: Default::default(),
            tables_view: Default::default(),
            stac_view: Default::default(),
            picked_paths: sync_channel(8),
            picked_contracts: sync_channel(8),
            pending_commands: Vec::new(),
            map_layers: Vec::new(),
            table_layers: Vec::new(),
            footprint_nodes: Vec::new(),
            layers_dirty: true,
            show_settings: false,
            s3_draft: Default::default(),
            path_input: String::new(),
            focus_path_input: false,
            applied_theme: None,
            zoomed_to_first_catalog: keep_map_view,
            ndvi_view: None,
            ndvi_area_jobs: HashMap::new(),
        };
        // The engine reads object storage with these (plus the AWS_* variables); the secret is
        // not persisted, so it is empty until typed again in this session.
        crate::engine::storage::set_s3_settings(app.persisted.s3.clone());
        app.s3_draft = app.persisted.s3.clone();
        app.model.stac.recent = app.persisted.recent_stac_sources.clone();
        app.model.recent_sources = app.persisted.recent_sources.clone();
        tracing::info!("meshlake {} started", env!("CARGO_PKG_VERSION"));
        match options.open_path {
            Some(path) => app.open_path(path),
            None => {
                app.open_demo(false);
                let demo_dir = app.model.demo_dir.clone();
                for source in app.persisted.open_sources.clone() {
                    let in_demo = demo_dir.as_ref().is_some_and(|d| source.starts_with(d));
                    if !in_demo {
                        app.open_path(source);
                    }
                }
            }
        }
        Ok(app)
    }

    /// Submit a job and show it in the Jobs panel.
    fn submit(&mut self, spec: JobSpec, purpose: JobPurpose) -> JobHandle {
        let title = spec.title();
        let handle = self.runtime.submit(spec);
        self.purposes.insert(handle.id, purpose);
        self.model.jobs.push(JobRow {
            id: handle.id,
            title,
            started: Instant::now(),
            ended: None,
            state: JobState::Running { done: 0, total: 0, message: "queued".to_owned() },
            cancel: handle.cancel.clone(),
        });
        handle
    }

    /// Submit a job that only shows in the Jobs panel (used by tests to prove the UI stays responsive).
    pub fn submit_job(&mut self, spec: JobSpec) -> JobHandle {
        self.submit(spec, JobPurpose::Other)
    }

    /// The map's vector layers as last built from the model.
    pub fn map_layers(&self) -> &[MapLayer] {
        &self.map_layers
    }

    /// Queue a command as if a panel had returned it (handled in the next `logic()` pass).
    pub fn queue_command(&mut self, command: Command) {
        self.pending_commands.push(command);
    }

    /// Write the demo (if missing, or when `force`) into the data folder, then open it.
    fn open_demo(&mut self, force: bool) {
        let Some(paths) = self.paths.clone() else {
            self.model.notify_error("the demo workspace needs a data folder; set MESHLAKE_DATA_DIR to a writable folder");
            return;
        };
        let demo_dir = paths.demo_dir();
        self.model.demo_dir = Some(demo_dir.clone());
        if force {
            self.close_sources_under(&demo_dir);
        }
        // The manifest check, the writability probe and the writing all happen in the job.
        self.submit(JobSpec::WriteDemo { dir: demo_dir, reuse_existing: !force }, JobPurpose::WriteDemo);
    }

    fn close_sources_under(&mut self, dir: &Path) {
        self.model.catalogs.retain(|c| !c.path.starts_with(dir));
        let dir_text = dir.display().to_string();
        self.model.tables.retain(|t| !t.reference.contains(&dir_text));
        self.model.selected_node = None;
        self.model.hovered_node = None;
        self.model.selected_table = None;
        self.layers_dirty = true;
    }

    fn open_path(&mut self, path: PathBuf) {
        let text = path.display().to_string();
        if crate::engine::storage::is_object_store_url(&text) {
            self.open_table(text.trim().trim_end_matches('/').to_owned());
            return;
        }
        self.submit(JobSpec::ScanWorkspace { path: path.clone() }, JobPurpose::Scan { path });
    }

    /// Open one table by reference (an `s3://` URL): it is read by an overview job, like tables
    /// found by a workspace scan.
    fn open_table(&mut self, reference: String) {
        self.persisted.remember(&PathBuf::from(&reference));
        self.model.recent_sources = self.persisted.recent_sources.clone();
        let index = match self.model.tables.iter().position(|t| t.reference == reference) {
            Some(index) => index,
            None => {
                self.model.tables.push(TableEntry::new(reference.clone()));
                self.request_overview(&reference);
                self.model.tables.len() - 1
            }
        };
        self.model.selected_table = Some(index);
    }

    fn open_workspace(&mut self, workspace: Workspace, requested: PathBuf) {
        let is_demo = self.model.demo_dir.as_ref().is_some_and(|d| requested.starts_with(d));
        if !is_demo {
            self.persisted.remember(&requested);
            self.model.recent_sources = self.persisted.recent_sources.clone();
        }
        for catalog in workspace.stac_catalogs {
            if self.model.catalogs.iter().any(|c| c.path == catalog) {
                continue;
            }
            self.open_or_reload_catalog(catalog);
        }
        // The tables of a folder or catalog are read in one job, a bounded number at a time.
        let (mut references, mut tables) = (Vec::new(), Vec::new());
        for reference in workspace.tables {
            if self.model.tables.iter().any(|t| t.reference == reference) {
                continue;
            }
            self.model.tables.push(TableEntry::new(reference.clone()));
            match TableRef::parse(&reference) {
                Ok(table) => {
                    references.push(reference);
                    tables.push(table);
                }
                Err(_) => self.request_overview(&reference),
            }
        }
        match references.as_slice() {
            [] => {}
            [single] => {
                let reference = single.clone();
                self.request_overview(&reference);
            }
            _ => {
                self.submit(JobSpec::TableOverviews { tables }, JobPurpose::Overviews { references: references.into() });
            }
        }
        // A Zarr store (an NDVI product, or any float array with a CF grid mapping) opens as a map layer.
        for zarr in workspace.zarr_stores {
            self.submit(JobSpec::NdviOpen { zarr: zarr.clone() }, JobPurpose::NdviOpened { zarr });
        }
        for problem in workspace.problems {
            self.model.notify_error(problem);
        }
        if self.model.selected_table.is_none() && !self.model.tables.is_empty() {
            self.model.selected_table = Some(0);
        }
    }

    /// Load the static STAC catalog at `path` into the Catalog panel; an open one is read again (its
    /// tree stays visible until the new one arrives).
    fn open_or_reload_catalog(&mut self, path: PathBuf) {
        match self.model.catalogs.iter_mut().find(|c| c.path == path) {
            Some(entry) => entry.tree.refresh(),
            None => self.model.catalogs.push(CatalogEntry { path: path.clone(), tree: Requested::Pending { previous: None } }),
        }
        self.submit(JobSpec::LoadStaticCatalog { path: path.clone() }, JobPurpose::LoadCatalog { path });
    }

    fn request_overview(&mut self, reference: &str) {
        match TableRef::parse(reference) {
            Ok(table) => {
                self.submit(JobSpec::TableOverview { table }, JobPurpose::Overview { reference: reference.to_owned() });
            }
            Err(err) => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.overview = Requested::Failed(error_chain(&err));
                }
            }
        }
    }

    /// Request what `tab` of table `index` shows, unless it was requested for the current selection.
    fn load_table_tab(&mut self, index: usize, tab: TableTab) {
        let Some(entry) = self.model.tables.get(index) else { return };
        let at = entry.selected_version.clone();
        let needs_info = entry.loaded.info.as_ref() != Some(&at);
        match tab {
            TableTab::Overview => {
                let needs_health = at == VersionSelector::Latest && !entry.loaded.health;
                if at != VersionSelector::Latest && needs_info {
                    self.request_table_info(index);
                }
                if needs_health {
                    self.request_health(index);
                }
            }
            TableTab::History => {
                if !entry.loaded.history {
                    self.request_table_history(index);
                }
            }
            TableTab::Schema => {
                let needs_history = !entry.loaded.history;
                if needs_info {
                    self.request_table_info(index);
                }
                if needs_history {
                    self.request_table_history(index);
                }
            }
            TableTab::Files => {
                let needs_files = entry.loaded.files.as_ref() != Some(&at);
                if needs_info {
                    self.request_table_info(index);
                }
                if needs_files {
                    self.request_table_files(index);
                }
            }
            TableTab::Spatial | TableTab::Maintain => {}
            TableTab::Data => {
                if entry.needs_load(TableTab::Data) {
                    self.request_table_page(index);
                }
            }
        }
    }

    /// The parsed reference of table `index`, or the error shown in place of `what` failing.
    fn table_ref(&mut self, index: usize) -> Option<(String, TableRef)> {
        let entry = self.model.tables.get_mut(index)?;
        match TableRef::parse(&entry.reference) {
            Ok(table) => Some((entry.reference.clone(), table)),
            Err(err) => {
                let text = error_chain(&err);
                entry.history = Requested::Failed(text.clone());
                entry.info = Requested::Failed(text.clone());
                entry.files = Requested::Failed(text.clone());
                entry.page = Requested::Failed(text);
                None
            }
        }
    }

    fn request_table_history(&mut self, index: usize) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        if let Some(entry) = self.model.tables.get_mut(index) {
            entry.history.refresh();
            entry.loaded.history = true;
        }
        self.submit(JobSpec::TableHistory { table }, JobPurpose::TableHistory { reference });
    }

    /// Record the table's current health in its monitor log (data folder) and fetch the series.
    fn request_health(&mut self, index: usize) {
        let log_dir = self.paths.as_ref().map(|p| p.data_dir.join("monitor"));
        let policy = self.model.small_file_policy;
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        entry.loaded.health = true;
        let Some(log_dir) = log_dir else {
            entry.health = Requested::Failed("no writable data folder: health is not recorded".to_owned());
            return;
        };
        entry.health.refresh();
        self.submit(JobSpec::TableMonitor { table, policy, log_dir }, JobPurpose::Health { reference });
    }

    fn request_table_info(&mut self, index: usize) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        let at = entry.selected_version.clone();
        entry.info.refresh();
        entry.loaded.info = Some(at.clone());
        let spec = JobSpec::TableInfo { table, at: at.clone(), policy: self.model.small_file_policy };
        self.submit(spec, JobPurpose::TableInfo { reference, at });
    }

    fn request_table_files(&mut self, index: usize) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        let at = entry.selected_version.clone();
        entry.files.refresh();
        entry.loaded.files = Some(at.clone());
        self.submit(JobSpec::TableFiles { table, at: at.clone() }, JobPurpose::TableFiles { reference, at });
    }

    fn request_table_page(&mut self, index: usize) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        let at = entry.selected_version.clone();
        let offset = entry.page_offset;
        entry.page.refresh();
        entry.loaded.page = Some((at.clone(), offset));
        let page = PageRequest { offset, limit: TABLE_PAGE_ROWS, columns: Vec::new(), ..Default::default() };
        self.submit(JobSpec::TableHead { table, at: at.clone(), page }, JobPurpose::TablePage { reference, at, offset });
    }

    /// The opened table a result is for, when it still looks at `at` (late results of older selections are dropped).
    fn table_at(&mut self, reference: &str, at: &VersionSelector) -> Option<&mut TableEntry> {
        let entry = self.model.tables.iter_mut().find(|t| t.reference == reference)?;
        if entry.selected_version == *at {
            Some(entry)
        } else {
            tracing::debug!("dropping a result for {reference} at {at:?}: the selection changed");
            None
        }
    }

    /// Apply one job event to the model.
    fn apply_event(&mut self, event: JobEvent) {
        let id = event.job_id();
        match event {
            JobEvent::Started { .. } => {
                if let Some(job) = self.model.job_mut(id) {
                    job.state = JobState::Running { done: 0, total: 0, message: "started".to_owned() };
                }
            }
            JobEvent::Progress { done, total, message, .. } => {
                if let Some(job) = self.model.job_mut(id) {
                    job.state = JobState::Running { done, total, message };
                }
            }
            JobEvent::Partial { result, .. } => {
                let purpose = self.purposes.get(&id).cloned().unwrap_or(JobPurpose::Other);
                self.apply_result(purpose, *result);
            }
            JobEvent::Finished { result, .. } => {
                if let Some(job) = self.model.job_mut(id) {
                    job.state = JobState::Finished;
                    job.ended = Some(Instant::now());
                }
                let purpose = self.purposes.remove(&id).unwrap_or(JobPurpose::Other);
                self.apply_result(purpose, *result);
            }
            JobEvent::Failed { error, .. } => {
                if let Some(job) = self.model.job_mut(id) {
                    job.state = JobState::Failed(error.clone());
                    job.ended = Some(Instant::now());
                }
                let purpose = self.purposes.remove(&id).unwrap_or(JobPurpose::Other);
                self.apply_failure(purpose, error);
            }
            JobEvent::Cancelled { .. } => {
                if let Some(job) = self.model.job_mut(id) {
                    job.state = JobState::Cancelled;
                    job.ended = Some(Instant::now());
                }
                let purpose = self.purposes.remove(&id).unwrap_or(JobPurpose::Other);
                self.apply_failure(purpose, "cancelled".to_owned());
            }
        }
    }

    fn apply_result(&mut self, purpose: JobPurpose, result: JobResult) {
        match (purpose, result) {
            (_, JobResult::Demo(summary)) => {
                tracing::info!("demo workspace ready in {}", summary.dir.display());
                // The STAC search tab starts on the demo catalog, so a first search works offline.
                if self.stac_view.source.trim().is_empty() {
                    self.stac_view.source = summary.stac_catalog.display().to_string();
                }
                self.open_path(summary.dir);
            }
            (JobPurpose::Scan { path }, JobResult::Workspace(workspace)) => self.open_workspace(workspace, path),
            (JobPurpose::LoadCatalog { path }, JobResult::Catalog(tree)) => {
                let bbox = tree.nodes.iter().find(|n| n.kind == NodeKind::Collection).and_then(|n| n.bbox);
                if let Some(entry) = self.model.catalogs.iter_mut().find(|c| c.path == path) {
                    entry.tree = Requested::Ready(tree);
                }
                if !self.zoomed_to_first_catalog {
                    if let Some(bbox) = bbox {
                        self.zoomed_to_first_catalog = true;
                        self.map.zoom_to_bbox(bbox);
                    }
                }
                if self.model.selected_node.is_none() {
                    if let Some(index) = self.model.catalogs.iter().position(|c| c.path == path) {
                        self.model.selected_node = Some((index, 0));
                    }
                }
                self.layers_dirty = true;
            }
            (JobPurpose::Overview { reference }, JobResult::TableOverview(overview)) => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.overview = Requested::Ready(overview);
                }
            }
            (JobPurpose::Overviews { references }, JobResult::TableOverviewOf { index, overview, .. }) => {
                let reference = references.get(index);
                if let Some(entry) = self.model.tables.iter_mut().find(|t| Some(&t.reference) == reference) {
                    entry.overview = match overview {
                        Ok(overview) => Requested::Ready(overview),
                        Err(error) => Requested::Failed(error),
                    };
                }
            }
            (JobPurpose::Overviews { .. }, JobResult::TableOverviews { failed, .. }) => {
                if failed > 0 {
                    self.model.notify_error(format!("{failed} table(s) could not be read; see the Tables panel"));
                }
            }
            (JobPurpose::TableHistory { reference }, JobResult::TableHistory(history)) => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.history = Requested::Ready(history);
                }
            }
            (JobPurpose::TableInfo { reference, at }, JobResult::TableInfo(info)) => {
                if let Some(entry) = self.table_at(&reference, &at) {
                    entry.info = Requested::Ready(info);
                }
            }
            (JobPurpose::TableFiles { reference, at }, JobResult::TableFiles(files)) => {
                let policy = self.model.small_file_policy;
                if let Some(entry) = self.table_at(&reference, &at) {
                    entry.files_health = Some(files_health(&files, &policy));
                    entry.files = Requested::Ready(files);
                }
            }
            (JobPurpose::SchemaDiff { reference, with, at }, JobResult::SchemaDiff(diff)) => {
                if let Some(entry) = self.table_at(&reference, &at) {
                    if let Some((compared, result)) = &mut entry.schema_diff {
                        if *compared == with {
                            *result = Requested::Ready(diff);
                        }
                    }
                }
            }
            (JobPurpose::PageShapes { reference }, JobResult::PageShapes(shapes)) => self.show_page_shapes(&reference, shapes),
            (JobPurpose::FileFootprints { reference, at }, JobResult::FileFootprints(outlines)) => {
                self.show_file_footprints(&reference, &at, outlines)
            }
            (JobPurpose::Validate { reference }, JobResult::Validation(report)) => self.show_validation(&reference, report),
            (JobPurpose::Query { reference }, JobResult::Query(report)) => self.show_query(&reference, report),
            (JobPurpose::TablePage { reference, at, offset }, JobResult::TablePage(page)) => {
                if let Some(entry) = self.table_at(&reference, &at) {
                    if entry.page_offset == offset {
                        entry.page = Requested::Ready(page);
                    }
                }
            }
            (JobPurpose::StacConnect, JobResult::StacApi(info)) => {
                self.model.stac.connecting = false;
                self.model.stac.api = Some(Ok(*info));
            }
            (JobPurpose::StacQueryables, JobResult::StacQueryables(result)) => {
                self.model.stac.queryables_loading = false;
                self.model.stac.queryables = Some(Ok(*result));
            }
            (JobPurpose::StacThumbnail { href }, JobResult::StacThumbnail(thumbnail)) => {
                let size = [thumbnail.width as usize, thumbnail.height as usize];
                let image = egui::ColorImage::from_rgba_unmultiplied(size, &thumbnail.rgba);
                self.model.stac.thumbnails.insert(href, ThumbnailState::Decoded { image, from_cache: thumbnail.from_cache });
            }
            (JobPurpose::StacSearch { generation }, JobResult::StacSearchPage(page)) => {
                self.layers_dirty |= self.model.stac.add_page(generation, page);
            }
            (JobPurpose::StacSearch { generation }, JobResult::StacSearch(result)) => {
                self.layers_dirty |= self.model.stac.finish(generation, *result);
            }
            (JobPurpose::StacValidate { path }, JobResult::StacValidation(report)) => {
                if let Some((shown, result)) = &mut self.model.stac_validation
                    && *shown == path
                {
                    *result = Requested::Ready(*report);
                }
            }
            (JobPurpose::Health { reference }, JobResult::Health(series)) => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.health = Requested::Ready(series);
                }
            }
            (JobPurpose::Maintain { reference, .. }, result) => self.show_maintenance(&reference, result),
            (JobPurpose::MaintainFiles { reference, version, after }, JobResult::TableFiles(files)) => {
                self.show_before_after_files(&reference, version, after, Ok(files))
            }
            (JobPurpose::NdviProduct { product_catalog }, JobResult::Ndvi(product)) => {
                // The new STAC item shows in the Catalog panel: its catalog opens, or reloads when open.
                if let Some(path) = product_catalog.clone().filter(|_| product.stac_item.is_some()) {
                    self.open_or_reload_catalog(path);
                }
                self.show_ndvi_product(*product, product_catalog, false);
            }
            (JobPurpose::NdviArea { zarr, time, bbox }, JobResult::NdviStats(stats)) => {
                self.show_ndvi_area_stats(&zarr, time, bbox, Ok(*stats))
            }
            (JobPurpose::Ndvi, JobResult::NdviPixel(pixel)) => self.show_ndvi_pixel(pixel),
            (JobPurpose::NdviOpened { .. }, JobResult::Ndvi(product)) => self.show_ndvi_product(*product, None, true),
            (_, JobResult::Waited { .. }) | (JobPurpose::Other, _) => {}
            (purpose, result) => {
                tracing::warn!("job result {result:?} does not match its purpose {purpose:?}");
            }
        }
    }

    fn apply_failure(&mut self, purpose: JobPurpose, error: String) {
        match purpose {
            JobPurpose::Health { reference } => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.health = Requested::Failed(error);
                }
            }
            JobPurpose::Maintain { reference, kind } => self.maintenance_failed(&reference, kind, error),
            JobPurpose::MaintainFiles { reference, version, after } => {
                self.show_before_after_files(&reference, version, after, Err(error))
            }
            JobPurpose::Ndvi | JobPurpose::NdviProduct { .. } if error == "cancelled" => {}
            JobPurpose::Ndvi | JobPurpose::NdviProduct { .. } => self.model.notify_error(format!("NDVI failed: {error}")),
            JobPurpose::NdviOpened { zarr } => {
                self.model.notify_error(format!("cannot show the Zarr store {} on the map: {error}", zarr.display()))
            }
            // A superseded request is cancelled; its successor fills the histogram.
            JobPurpose::NdviArea { .. } if error == "cancelled" => {}
            JobPurpose::NdviArea { zarr, time, bbox } => self.show_ndvi_area_stats(&zarr, time, bbox, Err(error)),
            JobPurpose::WriteDemo => {
                let text = format!("cannot write the demo workspace: {error}");
                self.model.data_dir_problem = Some(text.clone());
                self.model.notify_error(text);
            }
            JobPurpose::Scan { path } => {
                // A source that cannot be opened any more is not reopened on the next start.
                self.persisted.open_sources.retain(|p| *p != path);
                self.model.notify_error(format!("Cannot open {}: {error}", path.display()));
            }
            JobPurpose::LoadCatalog { path } => {
                if let Some(entry) = self.model.catalogs.iter_mut().find(|c| c.path == path) {
                    entry.tree = Requested::Failed(error.clone());
                }
                self.model.notify_error(format!("Cannot load STAC catalog {}: {error}", path.display()));
            }
            JobPurpose::Overview { reference } => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.overview = Requested::Failed(error.clone());
                }
                self.model.notify_error(format!("Cannot read table {reference}: {error}"));
            }
            JobPurpose::Overviews { references } => {
                // Tables whose overview had not arrived yet.
                for entry in self.model.tables.iter_mut().filter(|t| references.contains(&t.reference)) {
                    if matches!(entry.overview, Requested::Pending { .. } | Requested::NotRequested) {
                        entry.overview = Requested::Failed(error.clone());
                    }
                }
                if error != "cancelled" {
                    self.model.notify_error(format!("Cannot read the catalog's tables: {error}"));
                }
            }
            JobPurpose::TableHistory { reference } => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.history = Requested::Failed(error);
                }
            }
            JobPurpose::TableInfo { reference, at } => {
                if let Some(entry) = self.table_at(&reference, &at) {
                    entry.info = Requested::Failed(error);
                }
            }
            JobPurpose::TableFiles { reference, at } => {
                if let Some(entry) = self.table_at(&reference, &at) {
                    entry.files = Requested::Failed(error);
                }
            }
            JobPurpose::TablePage { reference, at, offset } => {
                if let Some(entry) = self.table_at(&reference, &at) {
                    if entry.page_offset == offset {
                        entry.page = Requested::Failed(error);
                    }
                }
            }
            JobPurpose::SchemaDiff { reference, with, at } => {
                if let Some(entry) = self.table_at(&reference, &at) {
                    if let Some((compared, result)) = &mut entry.schema_diff {
                        if *compared == with {
                            *result = Requested::Failed(error);
                        }
                    }
                }
            }
            JobPurpose::FileFootprints { reference, .. } => {
                self.model.notify_error(format!("Cannot draw the file footprints of {reference}: {error}"));
            }
            JobPurpose::PageShapes { reference } => {
                self.model.notify_error(format!("Cannot draw the rows of {reference} on the map: {error}"));
            }
            JobPurpose::Validate { reference } => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.spatial.validation = Requested::Failed(error);
                }
            }
            JobPurpose::Query { reference } => {
                if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
                    entry.spatial.query = Requested::Failed(error);
                }
            }
            JobPurpose::StacConnect => {
                self.model.stac.connecting = false;
                self.model.stac.api = Some(Err(error));
            }
            JobPurpose::StacQueryables => {
                self.model.stac.queryables_loading = false;
                self.model.stac.queryables = Some(Err(error));
            }
            JobPurpose::StacThumbnail { href } => {
                self.model.stac.thumbnails.insert(href, ThumbnailState::Failed(error));
            }
            JobPurpose::StacSearch { generation } => self.model.stac.fail(generation, error),
            JobPurpose::StacValidate { path } => {
                if let Some((shown, result)) = &mut self.model.stac_validation
                    && *shown == path
                {
                    *result = Requested::Failed(error);
                }
            }
            JobPurpose::Other => {}
        }
    }

    /// Change state as a panel asked.
    pub fn handle_command(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::OpenPath(path) => self.open_path(path),
            Command::PickFolder => self.spawn_dialog(true),
            Command::PickFile => self.spawn_dialog(false),
            Command::PickContractFile => self.spawn_contract_dialog(),
            Command::RegenerateDemo => self.open_demo(true),
            Command::CloseCatalog(index) => {
                if index < self.model.catalogs.len() {
                    let entry = self.model.catalogs.remove(index);
                    self.persisted.open_sources.retain(|p| !entry.path.starts_with(p) && *p != entry.path);
                    self.model.selected_node = None;
                    self.model.hovered_node = None;
                    self.layers_dirty = true;
                }
            }
            Command::CloseTable(index) => {
                if index < self.model.tables.len() {
                    let entry = self.model.tables.remove(index);
                    self.persisted.open_sources.retain(|p| p.display().to_string() != entry.reference);
                    self.model.selected_table = None;
                }
            }
            Command::ReloadTable(index) => {
                if let Some(entry) = self.model.tables.get_mut(index) {
                    entry.overview.refresh();
                    // The tabs read their values again when next shown (the old ones stay visible meanwhile).
                    entry.loaded = Default::default();
                    let reference = entry.reference.clone();
                    self.request_overview(&reference);
                }
            }
            Command::SelectCatalogNode { catalog, node } => {
                self.model.selected_node = Some((catalog, node));
                self.layers_dirty = true;
            }
            Command::ValidateCatalogNode { catalog, node } => {
                let path = self.model.catalogs.get(catalog).and_then(|c| c.tree.value()).and_then(|t| t.nodes.get(node)).map(|n| n.path.clone());
                if let Some(path) = path {
                    self.model.stac_validation = Some((path.clone(), Requested::Pending { previous: None }));
                    let spec = JobSpec::StacValidate { href: path.display().to_string() };
                    self.submit(spec, JobPurpose::StacValidate { path });
                }
            }
            Command::SelectTable(index) => self.model.selected_table = Some(index),
            Command::LoadTableTab { table, tab } => self.load_table_tab(table, tab),
            Command::ValidateTable { table, contract } => self.request_validation(table, contract),
            Command::MaintainTable { table, action } => self.maintain_table(table, action),
            Command::QueryTable { table, predicate, allow_full_scan } => self.request_query(table, predicate, allow_full_scan),
            Command::SelectTableVersion { table, at } => {
                if let Some(entry) = self.model.tables.get_mut(table) {
                    if entry.selected_version != at {
                        entry.selected_version = at;
                        entry.page_offset = 0;
                        let compared = entry.schema_diff.as_ref().map(|(with, _)| with.clone());
                        self.request_table_info(table);
                        self.request_table_files(table);
                        self.request_table_page(table);
                        if let Some(with) = compared {
                            self.request_schema_diff(table, with);
                        }
                    }
                }
            }
            Command::SetTablePageOffset { table, offset } => {
                if let Some(entry) = self.model.tables.get_mut(table) {
                    if entry.page_offset != offset {
                        entry.page_offset = offset;
                        self.request_table_page(table);
                    }
                }
            }
            Command::CompareTableSchema { table, with } => match with {
                Some(with) => self.request_schema_diff(table, with),
                None => {
                    if let Some(entry) = self.model.tables.get_mut(table) {
                        entry.schema_diff = None;
                    }
                }
            },
            Command::SetSmallFilePolicy(policy) => {
                self.model.small_file_policy = policy;
                self.persisted.small_file_bytes = Some(policy.small_file_bytes);
                self.persisted.max_small_files_per_partition = Some(policy.max_small_files_per_partition);
                for entry in &mut self.model.tables {
                    entry.files_health = entry.files.value().map(|files| files_health(files, &policy));
                    // The alerts depend on the policy: look again when the Overview is next shown.
                    entry.loaded.health = false;
                }
            }
            Command::ShowFileFootprints(table) => self.request_file_footprints(table),
            Command::ShowPageOnMap(table) => self.request_page_shapes(table),
            Command::RemoveTableLayer(id) => {
                self.table_layers.retain(|layer| layer.id != id);
                self.sync_shown_table_layers();
            }
            Command::ZoomToBbox(bbox) => {
                self.map.zoom_to_bbox(bbox);
                self.focus_pane(Pane::Map);
            }
            Command::ShowItemPreview { catalog, node } => self.show_item_preview(catalog, node),
            Command::ComputeNdvi { catalog, node, out_dir } => self.compute_ndvi(catalog, node, out_dir),
            Command::SetNdviTime { product, time } => self.set_ndvi_time(product, time),
            Command::InspectNdvi { lon, lat } => self.inspect_ndvi(lon, lat),
            Command::OpenCatalog { path } => self.open_or_reload_catalog(path),
            Command::RemoveItemPreview { layer_id } => {
                self.map.remove_raster_tile_layer(&layer_id);
                self.sync_shown_raster_layers();
            }
            Command::StacConnect(url) => {
                self.model.stac.remember(&url);
                self.persisted.recent_stac_sources = self.model.stac.recent.clone();
                self.model.stac.connecting = true;
                self.submit(JobSpec::StacConnect { url }, JobPurpose::StacConnect);
            }
            Command::LoadThumbnail { href, remote_source } => {
                if !self.model.stac.thumbnails.contains_key(&href) {
                    self.model.stac.thumbnail_loading(&href);
                    let cache_dir = self.paths.as_ref().map(|p| p.cache_dir.clone());
                    self.submit(JobSpec::StacThumbnail { href: href.clone(), remote_source, cache_dir }, JobPurpose::StacThumbnail { href });
                }
            }
            Command::StacQueryables { source, collection } => {
                self.model.stac.queryables_loading = true;
                self.model.stac.queryables = None;
                self.submit(JobSpec::StacQueryables { source, collection }, JobPurpose::StacQueryables);
            }
            Command::StacSearch { source, params } => {
                if let Some(job) = self.model.stac.job.and_then(|id| self.model.job_mut(id)) {
                    job.cancel.cancel();
                }
                self.model.stac.remember(&source);
                self.persisted.recent_stac_sources = self.model.stac.recent.clone();
                let generation = self.model.stac.start(&source);
                let handle = self.submit(JobSpec::StacSearch { source, params }, JobPurpose::StacSearch { generation });
                self.model.stac.job = Some(handle.id);
                self.layers_dirty = true;
            }
            Command::StacSelectResult(index) => {
                self.model.stac.selected = index;
                self.layers_dirty = true;
            }
            Command::StacHoverResult(index) => self.model.stac.hovered = index,
            Command::HoverCatalogNode(node) => self.model.hovered_node = node,
            Command::CancelJob(id) => {
                if let Some(job) = self.model.job_mut(id) {
                    job.cancel.cancel();
                }
            }
            Command::ClearFinishedJobs => self.model.jobs.retain(JobRow::is_running),
            Command::FocusPane(pane) => self.focus_pane(pane),
            Command::SetTheme(theme) => self.persisted.theme = theme,
            Command::SetS3Settings(settings) => {
                crate::engine::storage::set_s3_settings(settings.clone());
                self.persisted.s3 = settings;
                tracing::info!("object storage settings applied");
            }
            Command::ShowSettings(show) => self.show_settings = show,
            Command::DismissNotice(index) => {
                if index < self.model.notices.len() {
                    self.model.notices.remove(index);
                }
            }
            Command::ResetLayout => self.tree = default_layout(),
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
        }
    }

    /// Put an item's false-colour preview (NIR, red, red) on the map, zoom to the item and show the map.
    fn show_item_preview(&mut self, catalog: usize, node: usize) {
        let Some(item) = self.model.catalogs.get(catalog).and_then(|c| c.tree.value()).and_then(|t| t.nodes.get(node))
        else {
            return;
        };
        let Some((nir, red)) = item.nir_red_assets() else {
            self.model.notify_error(format!("{} has no NIR and red assets to preview", item.id));
            return;
        };
        let source = PreviewSource::FalseColor { nir: PathBuf::from(&nir.resolved), red: PathBuf::from(&red.resolved) };
        let name = format!("{} ({}/{}/{})", item.id, nir.key, red.key, red.key);
        let bbox = item.bbox;
        self.map.set_raster_tile_layer(item_preview_layer_id(&item.id), name, source);
        self.sync_shown_raster_layers();
        if let Some(bbox) = bbox {
            self.map.zoom_to_bbox(bbox);
        }
        self.focus_pane(Pane::Map);
    }

    /// Compare table `index`'s selected version with `with` (Schema tab).
    fn request_schema_diff(&mut self, index: usize, with: VersionSelector) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        let at = entry.selected_version.clone();
        let previous = entry.schema_diff.take().and_then(|(_, diff)| match diff {
            Requested::Ready(diff) => Some(diff),
            _ => None,
        });
        entry.schema_diff = Some((with.clone(), Requested::Pending { previous }));
        let spec = JobSpec::TableSchemaDiff { table, from: with.clone(), to: at.clone() };
        self.submit(spec, JobPurpose::SchemaDiff { reference, with, at });
    }

    /// The primary geometry column of a table (at its selected version when known) and its CRS.
    fn table_geometry_column(entry: &TableEntry) -> Option<(String, Option<String>)> {
        let from_info = entry.info.value().and_then(|info| info.geometry_columns.first().cloned());
        let from_overview = || entry.overview.value().and_then(|o| o.geometry_columns.first().cloned());
        from_info.or_else(from_overview).map(|g| (g.name, g.crs))
    }

    /// Read the geometries of table `index`'s current Data page; drawn when they arrive.
    fn request_page_shapes(&mut self, index: usize) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get(index) else { return };
        let Some((column, crs)) = Self::table_geometry_column(entry) else {
            self.model.notify_error(format!("{reference} has no GeoParquet geometry column to draw"));
            return;
        };
        let spec = JobSpec::TablePageShapes {
            table,
            at: entry.selected_version.clone(),
            offset: entry.page_offset,
            limit: TABLE_PAGE_ROWS,
            column,
            crs,
        };
        self.submit(spec, JobPurpose::PageShapes { reference });
    }

    /// Put a page's geometries on the map as the table's rows layer and zoom to them.
    fn show_page_shapes(&mut self, reference: &str, shapes: PageShapes) {
        if shapes.shapes.is_empty() {
            self.model.notify_info(format!("No geometries to draw in this page of {reference}"));
            return;
        }
        for skipped in shapes.skipped.iter().take(3) {
            self.model.notify_info(format!("{reference}: {skipped}"));
        }
        let first = shapes.shapes.first().map(|(row, _)| row + 1).unwrap_or(0);
        let last = shapes.shapes.last().map(|(row, _)| row + 1).unwrap_or(0);
        let features: Vec<MapFeature> = shapes
            .shapes
            .into_iter()
            .map(|(row, geometry)| MapFeature::new(format!("row {}", row + 1), geometry))
            .collect();
        let layer = MapLayer {
            id: page_rows_layer_id(reference),
            name: format!("{} rows {first}–{last}", panels::tables::table_display_name(reference)),
            features,
            color: egui::Color32::from_rgb(40, 110, 220),
        };
        self.put_table_layer(layer);
    }

    /// Draw the bbox of each live file of table `index` at its selected version: the outlines are
    /// reprojected to lon/lat in a job, the layer is made when they arrive.
    fn request_file_footprints(&mut self, index: usize) {
        let Some(entry) = self.model.tables.get(index) else { return };
        let reference = entry.reference.clone();
        let Some(files) = entry.files.value() else {
            self.model.notify_error(format!("The files of {reference} are not read yet"));
            return;
        };
        let spec = JobSpec::FileFootprints {
            files: files.clone(),
            crs: Self::table_geometry_column(entry).and_then(|(_, crs)| crs),
        };
        let at = entry.selected_version.clone();
        self.submit(spec, JobPurpose::FileFootprints { reference, at });
    }

    /// The file-footprints layer of a table from the outlines a job made (labelled from its files).
    fn show_file_footprints(&mut self, reference: &str, at: &VersionSelector, outlines: Vec<(usize, geo::Geometry<f64>)>) {
        let small_below = self.model.small_file_policy.small_file_bytes;
        let Some(entry) = self.table_at(reference, at) else { return };
        let Some(files) = entry.files.value() else { return };
        let features: Vec<MapFeature> = outlines
            .into_iter()
            .filter_map(|(index, outline)| {
                let file = files.files.get(index)?;
                let name = file.path.rsplit(['/', '\\']).next().unwrap_or(&file.path);
                let small = if file.bytes < small_below { ", small" } else { "" };
                let rows = file.rows.map(|r| r.to_string()).unwrap_or_else(|| "?".to_owned());
                let label = format!("{name} ({}, {rows} rows{small})", panels::tables::format_bytes(file.bytes));
                Some(MapFeature::new(label, outline))
            })
            .collect();
        let name = format!(
            "{} file footprints ({}, {})",
            panels::tables::table_display_name(reference),
            features.len(),
            panels::tables::selector_text(at)
        );
        if features.is_empty() {
            self.model.notify_info(format!(
                "No file of {reference} has a bbox (no bbox statistics or GeoParquet bbox in the files)"
            ));
            return;
        }
        let layer = MapLayer {
            id: file_footprints_layer_id(reference),
            name,
            features,
            color: egui::Color32::from_rgb(200, 40, 160),
        };
        self.put_table_layer(layer);
    }

    // --- Spatial tab (validation and queries; logic in engine::lake::spatial, panel in panels::spatial) ---

    fn request_validation(&mut self, index: usize, contract: Option<std::path::PathBuf>) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        entry.spatial.validation.refresh();
        let spec = JobSpec::TableValidate {
            table,
            at: entry.selected_version.clone(),
            geometry: None,
            geometry_types: Vec::new(),
            crs: None,
            against: None,
            contract,
        };
        self.submit(spec, JobPurpose::Validate { reference });
    }

    fn request_query(&mut self, index: usize, predicate: crate::engine::geo::predicate::SpatialPredicate, allow_full_scan: bool) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        entry.spatial.query.refresh();
        entry.spatial.last_predicate = Some(predicate.clone());
        let request = crate::engine::lake::spatial::QueryRequest { predicate, geometry: None, out: None, allow_full_scan, keep_matches: true };
        let spec = JobSpec::TableQuery { table, at: entry.selected_version.clone(), request };
        self.submit(spec, JobPurpose::Query { reference });
    }

    /// Store a validation report and draw the bad features (their bboxes) as a layer.
    fn show_validation(&mut self, reference: &str, report: Box<crate::engine::lake::spatial::ValidationReport>) {
        let features: Vec<MapFeature> = report
            .problems
            .iter()
            .filter_map(|p| {
                let b = p.bbox?;
                let rect = geo::Rect::new(geo::coord! { x: b[0], y: b[1] }, geo::coord! { x: b[2], y: b[3] });
                let label = format!("row {} {:?}: {}", p.row, p.kind, p.detail);
                Some(MapFeature::new(label, geo::Geometry::Polygon(rect.to_polygon())))
            })
            .collect();
        let features = spatial_features_to_lon_lat(report.crs.as_deref(), features);
        if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
            entry.spatial.validation = Requested::Ready(report);
        }
        if !features.is_empty() {
            let name = format!("{} invalid features ({})", panels::tables::table_display_name(reference), features.len());
            let layer = MapLayer { id: format!("{reference}#invalid"), name, features, color: egui::Color32::from_rgb(230, 60, 30) };
            self.put_table_layer(layer);
        }
    }

    /// Store a query report and draw the matches as a layer.
    fn show_query(&mut self, reference: &str, report: Box<crate::engine::lake::spatial::QueryReport>) {
        let features: Vec<MapFeature> = report
            .matches
            .iter()
            .map(|m| MapFeature::new(format!("row {} of {}", m.row, m.file.rsplit(['/', '\\']).next().unwrap_or(&m.file)), m.geometry.clone()))
            .collect();
        let features = spatial_features_to_lon_lat(report.crs.as_deref(), features);
        if let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) {
            entry.spatial.query = Requested::Ready(report);
        }
        if !features.is_empty() {
            let name = format!("{} query matches ({})", panels::tables::table_display_name(reference), features.len());
            let layer = MapLayer { id: format!("{reference}#query"), name, features, color: egui::Color32::from_rgb(20, 160, 60) };
            self.put_table_layer(layer);
        }
    }

    /// Add or replace a table's vector layer, zoom to it and show the map.
    fn put_table_layer(&mut self, layer: MapLayer) {
        let bbox = layer.features.iter().filter_map(|f| geo::BoundingRect::bounding_rect(&f.geometry)).reduce(|a, b| {
            geo::Rect::new(
                geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
            )
        });
        self.table_layers.retain(|l| l.id != layer.id);
        self.table_layers.push(layer);
        self.sync_shown_table_layers();
        if let Some(rect) = bbox {
            self.map.zoom_to_bbox([rect.min().x, rect.min().y, rect.max().x, rect.max().y]);
        }
        self.focus_pane(Pane::Map);
    }

    fn sync_shown_table_layers(&mut self) {
        self.model.shown_table_layers = self.table_layers.iter().map(|l| l.id.clone()).collect();
        self.layers_dirty = true;
    }

    /// Tell the panels which raster tile layers the map shows.
    fn sync_shown_raster_layers(&mut self) {
        let shown = self.map.raster_tile_layers.iter().map(|l| &l.id);
        if !shown.clone().eq(self.model.shown_raster_layers.iter()) {
            self.model.shown_raster_layers = shown.cloned().collect();
        }
    }

    fn focus_pane(&mut self, pane: Pane) {
        self.tree.make_active(|_, tile| matches!(tile, egui_tiles::Tile::Pane(p) if *p == pane));
    }

    /// The contract file dialog on the I/O runtime; the path arrives through `picked_contracts`.
    fn spawn_contract_dialog(&mut self) {
        let sender = self.picked_contracts.0.clone();
        self.runtime.handle().spawn(async move {
            let picked = rfd::AsyncFileDialog::new()
                .set_title("Schema contract (JSON or TOML, e.g. from meshlake table contract)")
                .add_filter("schema contract", &["json", "toml"])
                .pick_file()
                .await;
            let _ = sender.try_send(picked.map(|handle| handle.path().to_path_buf()));
        });
    }

    /// Show a native dialog on the I/O runtime; the picked path arrives through `picked_paths`.
    fn spawn_dialog(&mut self, folder: bool) {
        let sender = self.picked_paths.0.clone();
        let start_dir = self.model.demo_dir.clone();
        self.runtime.handle().spawn(async move {
            let mut dialog = rfd::AsyncFileDialog::new().set_title(if folder {
                "Open a folder: STAC catalog, Delta table, Iceberg warehouse"
            } else {
                "Open a file: catalog.json, collection.json, item JSON, Iceberg catalog .db"
            });
            if let Some(dir) = start_dir {
                dialog = dialog.set_directory(dir);
            }
            let picked = if folder { dialog.pick_folder().await } else { dialog.pick_file().await };
            // The receiver lives as long as the app; a full channel means the user is very fast.
            let _ = sender.try_send(picked.map(|handle| handle.path().to_path_buf()));
        });
    }

    /// Rebuild the map's vector layers from the model when something changed.
    fn rebuild_layers(&mut self) {
        self.layers_dirty = false;
        let mut features = Vec::new();
        self.footprint_nodes.clear();
        for (catalog_index, entry) in self.model.catalogs.iter().enumerate() {
            let Some(tree) = entry.tree.value() else { continue };
            for (node_index, node) in tree.items() {
                let Some(geometry) = node.footprint.clone() else { continue };
                let date = node.datetime().map(|d| d.get(..10).unwrap_or(d)).unwrap_or("");
                features.push(MapFeature {
                    label: format!("{} {date}", node.id),
                    geometry,
                    selected: self.model.selected_node == Some((catalog_index, node_index)),
                });
                self.footprint_nodes.push((catalog_index, node_index));
            }
        }
        self.map_layers = vec![MapLayer {
            id: FOOTPRINTS_LAYER_ID.to_owned(),
            name: "STAC item footprints".to_owned(),
            features,
            color: egui::Color32::from_rgb(230, 120, 20),
        }];
        self.map_layers.extend(self.model.stac.map_layer());
        self.map_layers.extend(self.table_layers.iter().cloned());
    }

    fn apply_theme(&mut self, ctx: &egui::Context) {
        if self.applied_theme == Some(self.persisted.theme) {
            return;
        }
        self.applied_theme = Some(self.persisted.theme);
        ctx.set_theme(match self.persisted.theme {
            ThemeChoice::System => egui::ThemePreference::System,
            ThemeChoice::Light => egui::ThemePreference::Light,
            ThemeChoice::Dark => egui::ThemePreference::Dark,
        });
    }

    fn handle_shortcuts(&mut self, ctx: &egui::Context) {
        let mut commands = Vec::new();
        ctx.input_mut(|input| {
            if input.consume_shortcut(&SHORTCUT_OPEN_FILE) {
                commands.push(Command::PickFile);
            }
            if input.consume_shortcut(&SHORTCUT_OPEN_FOLDER) {
                commands.push(Command::PickFolder);
            }
            if input.consume_shortcut(&SHORTCUT_SETTINGS) {
                commands.push(Command::ShowSettings(true));
            }
            if input.consume_shortcut(&SHORTCUT_QUIT) {
                commands.push(Command::Quit);
            }
            let digits = [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5];
            for pane in Pane::ALL {
                let key = digits[usize::from(pane.shortcut_digit() - 1)];
                if input.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, key)) {
                    commands.push(Command::FocusPane(pane));
                }
            }
        });
        self.pending_commands.extend(commands);
    }

    /// Everything that changes state: job events, picked/dropped paths, shortcuts, queued commands.
    pub fn logic_pass(&mut self, ctx: &egui::Context) {
        for _ in 0..MAX_EVENTS_PER_FRAME {
            match self.events.try_recv() {
                Ok(event) => self.apply_event(event),
                Err(_) => break,
            }
        }
        if !self.events.is_empty() {
            ctx.request_repaint();
        }
        while let Ok(picked) = self.picked_paths.1.try_recv() {
            match picked {
                Some(path) => self.pending_commands.push(Command::OpenPath(path)),
                // rfd reports a cancelled dialog and a desktop without a file-dialog portal alike.
                None => self.model.notify_info(
                    "No path picked. If no dialog appeared, this desktop has no file-dialog portal: type a path in \
                     the top bar or drop a folder onto the window.",
                ),
            }
        }
        // A picked contract fills the Spatial tab's Contract field (the one view field set outside the panel).
        while let Ok(picked) = self.picked_contracts.1.try_recv() {
            match picked {
                Some(path) => self.tables_view.spatial.contract = path.display().to_string(),
                None => self.model.notify_info("No contract file picked: type its path in the Contract field."),
            }
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).filter(|p| !p.as_os_str().is_empty()).collect());
        self.pending_commands.extend(dropped.into_iter().map(Command::OpenPath));
        self.handle_shortcuts(ctx);
        for command in std::mem::take(&mut self.pending_commands) {
            self.handle_command(ctx, command);
        }
        self.model.stac.upload_thumbnails(ctx);
        self.refresh_ndvi_area_stats(ctx);
        // Layers may also come from the persisted map state.
        self.sync_shown_raster_layers();
        // Info notices fade after a few seconds; errors stay until dismissed.
        self.model
            .notices
            .retain(|n| n.level == NoticeLevel::Error || n.at.elapsed() < Duration::from_secs(6));
        self.apply_theme(ctx);
        if self.layers_dirty {
            self.rebuild_layers();
        }
        if self.model.running_jobs() > 0 || !self.model.notices.is_empty() {
            // Keep elapsed times ticking; events themselves wake us through `request_repaint`.
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    /// Draw everything; returns what the user asked for.
    pub fn ui_pass(&mut self, ui: &mut egui::Ui) -> Vec<Command> {
        let mut commands = Vec::new();
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui, &mut commands));
        if !self.model.notices.is_empty() {
            egui::Panel::top("notices").show(ui, |ui| notices_ui(ui, &self.model, &mut commands));
        }
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            let mut behavior = PaneBehavior {
                model: &self.model,
                map: &mut self.map,
                map_layers: &self.map_layers,
                footprint_nodes: &self.footprint_nodes,
                log: &self.log,
                log_view: &mut self.log_view,
                tables_view: &mut self.tables_view,
                stac_view: &mut self.stac_view,
                commands: &mut commands,
            };
            self.tree.ui(&mut behavior, ui);
        });
        if self.show_settings {
            self.settings_window_ui(ui.ctx(), &mut commands);
        }
        commands
    }

    fn top_bar_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.add(egui::Button::new("Open folder…").shortcut_text(ui.ctx().format_shortcut(&SHORTCUT_OPEN_FOLDER))).clicked() {
                    commands.push(Command::PickFolder);
                }
                if ui.add(egui::Button::new("Open file…").shortcut_text(ui.ctx().format_shortcut(&SHORTCUT_OPEN_FILE))).clicked() {
                    commands.push(Command::PickFile);
                }
                if ui
                    .button("Open Iceberg REST catalog…")
                    .on_hover_text("Type the catalog URL in the path field: iceberg+http://HOST:PORT/PREFIX (Enter)")
                    .clicked()
                {
                    self.path_input = "iceberg+http://".to_owned();
                    self.focus_path_input = true;
                }
                ui.menu_button("Recent", |ui| {
                    if self.persisted.recent_sources.is_empty() {
                        ui.label("nothing opened yet");
                    }
                    for path in &self.persisted.recent_sources {
                        if ui.button(path.display().to_string()).clicked() {
                            commands.push(Command::OpenPath(path.clone()));
                        }
                    }
                });
                if let Some(demo_dir) = &self.model.demo_dir {
                    if ui.button("Open demo workspace").clicked() {
                        commands.push(Command::OpenPath(demo_dir.clone()));
                    }
                }
                if ui.button("Regenerate demo workspace").clicked() {
                    commands.push(Command::RegenerateDemo);
                }
                ui.separator();
                if ui.add(egui::Button::new("Settings…").shortcut_text(ui.ctx().format_shortcut(&SHORTCUT_SETTINGS))).clicked() {
                    commands.push(Command::ShowSettings(true));
                }
                if ui.add(egui::Button::new("Quit").shortcut_text(ui.ctx().format_shortcut(&SHORTCUT_QUIT))).clicked() {
                    commands.push(Command::Quit);
                }
            });
            ui.menu_button("View", |ui| {
                for pane in Pane::ALL {
                    let shortcut = KeyboardShortcut::new(Modifiers::COMMAND, [Key::Num1, Key::Num2, Key::Num3, Key::Num4, Key::Num5][usize::from(pane.shortcut_digit() - 1)]);
                    if ui.add(egui::Button::new(pane.title()).shortcut_text(ui.ctx().format_shortcut(&shortcut))).clicked() {
                        commands.push(Command::FocusPane(pane));
                    }
                }
                ui.separator();
                for (theme, label) in [(ThemeChoice::System, "System theme"), (ThemeChoice::Light, "Light"), (ThemeChoice::Dark, "Dark")] {
                    if ui.radio(self.persisted.theme == theme, label).clicked() {
                        commands.push(Command::SetTheme(theme));
                    }
                }
                ui.separator();
                if ui.button("Reset layout").clicked() {
                    commands.push(Command::ResetLayout);
                }
            });
            ui.separator();
            let response = ui.add(
                egui::TextEdit::singleline(&mut self.path_input)
                    .hint_text("path, s3:// or iceberg+http:// URL to open (folder, catalog.json, catalog.db, table) — Enter")
                    .desired_width(380.0),
            );
            if std::mem::take(&mut self.focus_path_input) {
                response.request_focus();
            }
            let submitted = response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if (ui.button("Open").clicked() || submitted) && !self.path_input.trim().is_empty() {
                commands.push(Command::OpenPath(PathBuf::from(self.path_input.trim())));
                self.path_input.clear();
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("⚙").on_hover_text("Settings").clicked() {
                    commands.push(Command::ShowSettings(true));
                }
                let dark = ui.visuals().dark_mode;
                if ui.button(if dark { "☀" } else { "🌙" }).on_hover_text("Toggle light/dark theme").clicked() {
                    commands.push(Command::SetTheme(if dark { ThemeChoice::Light } else { ThemeChoice::Dark }));
                }
            });
        });
    }

    fn status_bar_ui(&self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let running = self.model.running_jobs();
            if running > 0 {
                ui.spinner();
                ui.label(format!("{running} job(s) running"));
            } else {
                ui.label("idle");
            }
            ui.separator();
            ui.label(format!("{} catalog(s), {} table(s)", self.model.catalogs.len(), self.model.tables.len()));
            if let Some(dir) = &self.model.demo_dir {
                ui.separator();
                ui.label(RichText::new(format!("demo: {}", dir.display())).weak());
            }
        });
    }

    fn settings_window_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) {
        let mut open = true;
        egui::Window::new("Settings").open(&mut open).resizable(true).default_width(520.0).show(ctx, |ui| {
            ui.heading("Appearance");
            ui.horizontal(|ui| {
                for (theme, label) in [(ThemeChoice::System, "System"), (ThemeChoice::Light, "Light"), (ThemeChoice::Dark, "Dark")] {
                    if ui.radio(self.persisted.theme == theme, label).clicked() {
                        commands.push(Command::SetTheme(theme));
                    }
                }
            });
            ui.separator();
            ui.heading("Map");
            self.map.settings_ui(ui);
            ui.separator();
            ui.heading("Object storage (S3)");
            ui.label(RichText::new("Empty fields use AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP. The secret is kept for this session only.").weak());
            egui::Grid::new("s3_settings").num_columns(2).show(ui, |ui| {
                ui.label("Endpoint");
                ui.add(egui::TextEdit::singleline(&mut self.s3_draft.endpoint).hint_text("https://s3.amazonaws.com or http://127.0.0.1:9000"));
                ui.end_row();
                ui.label("Region");
                ui.add(egui::TextEdit::singleline(&mut self.s3_draft.region).hint_text("us-east-1"));
                ui.end_row();
                ui.label("Access key id");
                ui.add(egui::TextEdit::singleline(&mut self.s3_draft.access_key_id));
                ui.end_row();
                ui.label("Secret access key");
                let mut secret = self.s3_draft.secret_access_key.expose().to_owned();
                if ui.add(egui::TextEdit::singleline(&mut secret).password(true)).changed() {
                    self.s3_draft.secret_access_key = crate::engine::storage::Secret::new(secret);
                }
                ui.end_row();
            });
            ui.checkbox(&mut self.s3_draft.allow_http, "Allow plain http endpoints (local MinIO, moto)");
            ui.horizontal(|ui| {
                let changed = self.s3_draft != self.persisted.s3;
                if ui.add_enabled(changed, egui::Button::new("Apply")).clicked() {
                    commands.push(Command::SetS3Settings(self.s3_draft.clone()));
                }
                if changed && ui.button("Revert").clicked() {
                    self.s3_draft = self.persisted.s3.clone();
                }
            });
            ui.separator();
            ui.heading("Folders");
            match &self.paths {
                Some(paths) => {
                    ui.label(format!("Data (demo workspace): {}", paths.data_dir.display()));
                    ui.label(format!("Cache (map tiles): {}", paths.cache_dir.display()));
                    ui.label(RichText::new("Override with MESHLAKE_DATA_DIR / MESHLAKE_CACHE_DIR.").weak());
                }
                None => {
                    ui.colored_label(ui.visuals().error_fg_color, "No data folder: set MESHLAKE_DATA_DIR.");
                }
            }
            if let Some(problem) = &self.model.data_dir_problem {
                ui.colored_label(ui.visuals().error_fg_color, problem);
            }
            if ui.button("Regenerate demo workspace").clicked() {
                commands.push(Command::RegenerateDemo);
            }
        });
        if !open {
            commands.push(Command::ShowSettings(false));
        }
    }
}

fn notices_ui(ui: &mut egui::Ui, model: &AppModel, commands: &mut Vec<Command>) {
    for (index, notice) in model.notices.iter().enumerate().rev().take(4) {
        ui.horizontal(|ui| {
            if ui.small_button("✖").on_hover_text("Dismiss").clicked() {
                commands.push(Command::DismissNotice(index));
            }
            let (icon, color) = match notice.level {
                NoticeLevel::Error => ("⚠", ui.visuals().error_fg_color),
                NoticeLevel::Info => ("ℹ", ui.visuals().text_color()),
            };
            ui.add(egui::Label::new(RichText::new(format!("{icon} {}", notice.text)).color(color)).wrap().selectable(true));
        });
    }
    if model.notices.len() > 4 {
        ui.label(format!("… and {} more (see the Log panel)", model.notices.len() - 4));
    }
}

/// Draws each pane; collects the panels' commands.
struct PaneBehavior<'a> {
    model: &'a AppModel,
    map: &'a mut MapState,
    map_layers: &'a [MapLayer],
    footprint_nodes: &'a [(usize, usize)],
    log: &'a LogBuffer,
    log_view: &'a mut panels::log::LogView,
    tables_view: &'a mut panels::tables::TablesView,
    stac_view: &'a mut panels::stac_search::StacSearchView,
    commands: &'a mut Vec<Command>,
}

impl egui_tiles::Behavior<Pane> for PaneBehavior<'_> {
    fn tab_title_for_pane(&mut self, pane: &Pane) -> egui::WidgetText {
        match pane {
            Pane::Jobs if self.model.running_jobs() > 0 => format!("Jobs ({})", self.model.running_jobs()).into(),
            other => other.title().into(),
        }
    }

    fn pane_ui(&mut self, ui: &mut egui::Ui, _tile_id: egui_tiles::TileId, pane: &mut Pane) -> egui_tiles::UiResponse {
        egui::Frame::new().inner_margin(6.0).show(ui, |ui| match pane {
            Pane::Catalog => panels::stac_search::catalog_pane_ui(ui, self.model, self.stac_view, self.map, self.commands),
            Pane::Tables => panels::tables::tables_ui(ui, self.model, self.tables_view, self.commands),
            Pane::Map => {
                for action in self.map.map_ui(ui, self.map_layers) {
                    match action {
                        MapAction::FeatureClicked { layer_id, index } if layer_id == FOOTPRINTS_LAYER_ID => {
                            if let Some((catalog, node)) = self.footprint_nodes.get(index) {
                                self.commands.push(Command::SelectCatalogNode { catalog: *catalog, node: *node });
                                self.commands.push(Command::FocusPane(Pane::Catalog));
                            }
                        }
                        MapAction::FeatureClicked { layer_id, index } if layer_id == panels::stac_search::STAC_RESULTS_LAYER_ID => {
                            if let Some(item) = self.model.stac.layer_items.get(index) {
                                self.commands.push(Command::StacSelectResult(Some(*item)));
                                self.commands.push(Command::FocusPane(Pane::Catalog));
                            }
                        }
                        MapAction::HoverChanged(hovered) => {
                            let node = hovered
                                .as_ref()
                                .filter(|(layer_id, _)| layer_id == FOOTPRINTS_LAYER_ID)
                                .and_then(|(_, index)| self.footprint_nodes.get(*index).copied());
                            if node != self.model.hovered_node {
                                self.commands.push(Command::HoverCatalogNode(node));
                            }
                            let item = hovered
                                .filter(|(layer_id, _)| layer_id == panels::stac_search::STAC_RESULTS_LAYER_ID)
                                .and_then(|(_, index)| self.model.stac.layer_items.get(index).copied());
                            if item != self.model.stac.hovered {
                                self.commands.push(Command::StacHoverResult(item));
                            }
                        }
                        MapAction::Clicked { lon, lat } if !self.model.ndvi_products.is_empty() => {
                            self.commands.push(Command::InspectNdvi { lon, lat });
                        }
                        other => tracing::debug!("map action {other:?}"),
                    }
                }
            }
            Pane::Jobs => panels::jobs::jobs_ui(ui, self.model, self.commands),
            Pane::Log => panels::log::log_ui(ui, self.log, self.log_view),
        });
        egui_tiles::UiResponse::None
    }

    fn simplification_options(&self) -> egui_tiles::SimplificationOptions {
        egui_tiles::SimplificationOptions { all_panes_must_have_tabs: true, ..Default::default() }
    }
}

impl eframe::App for MeshlakeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_pass(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let commands = self.ui_pass(ui);
        if !commands.is_empty() {
            self.pending_commands.extend(commands);
            ui.ctx().request_repaint();
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STATE_KEY, &self.persisted);
        eframe::set_value(storage, LAYOUT_KEY, &self.tree);
        eframe::set_value(storage, MAP_KEY, &self.map);
    }
}

/// Spatial-tab features from the table's CRS to lon/lat (features that do not transform are left out).
fn spatial_features_to_lon_lat(crs: Option<&str>, features: Vec<MapFeature>) -> Vec<MapFeature> {
    match to_lon_lat(crs) {
        Ok(None) => features,
        Ok(Some(transform)) => features
            .into_iter()
            .filter_map(|mut f| {
                f.geometry = transform.geometry(&f.geometry).ok()?;
                Some(f)
            })
            .collect(),
        Err(err) => {
            tracing::warn!("spatial results not drawn: {err}");
            Vec::new()
        }
    }
}
