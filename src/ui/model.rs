//! What the UI shows: opened catalogs and tables, jobs, notices. Changed only by `MeshlakeApp::logic`
//! (job events) and `MeshlakeApp::handle_command`; panels read it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::jobs::{CancelToken, JobId};
use crate::engine::lake::TableOverview;
use crate::engine::lake::file_health::FilesHealth;
use crate::engine::lake::inspect::{SmallFilePolicy, TableFiles, TableHistory, TableInfo, TablePage, VersionSelector};
use crate::engine::lake::schema_diff::SchemaDiff;
use crate::engine::stac::CatalogTree;

/// A value fetched in the background: it keeps showing the previous result while it refreshes.
#[derive(Clone, Debug)]
pub enum Requested<T> {
    /// Nothing asked for yet (e.g. a tab that was never shown).
    NotRequested,
    Pending { previous: Option<T> },
    Ready(T),
    Failed(String),
}

impl<T> Default for Requested<T> {
    fn default() -> Self {
        Requested::NotRequested
    }
}

impl<T> Requested<T> {
    /// The value to show now: the ready one, or the previous one while a refresh is pending.
    pub fn value(&self) -> Option<&T> {
        match self {
            Requested::Ready(v) => Some(v),
            Requested::Pending { previous } => previous.as_ref(),
            Requested::NotRequested | Requested::Failed(_) => None,
        }
    }

    pub fn is_pending(&self) -> bool {
        matches!(self, Requested::Pending { .. })
    }

    /// Start a refresh, keeping the current value visible.
    pub fn refresh(&mut self) {
        let previous = match std::mem::replace(self, Requested::Pending { previous: None }) {
            Requested::Ready(v) => Some(v),
            Requested::Pending { previous } => previous,
            Requested::NotRequested | Requested::Failed(_) => None,
        };
        *self = Requested::Pending { previous };
    }
}

/// The panels of the main window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pane {
    Catalog,
    Tables,
    Map,
    Jobs,
    Log,
}

impl Pane {
    pub const ALL: [Pane; 5] = [Pane::Catalog, Pane::Tables, Pane::Map, Pane::Jobs, Pane::Log];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Catalog => "Catalog",
            Pane::Tables => "Tables",
            Pane::Map => "Map",
            Pane::Jobs => "Jobs",
            Pane::Log => "Log",
        }
    }

    /// Ctrl+<digit> focuses the pane.
    pub fn shortcut_digit(self) -> u8 {
        match self {
            Pane::Catalog => 1,
            Pane::Tables => 2,
            Pane::Map => 3,
            Pane::Jobs => 4,
            Pane::Log => 5,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeChoice {
    #[default]
    System,
    Light,
    Dark,
}

/// One opened static STAC catalog.
#[derive(Debug)]
pub struct CatalogEntry {
    pub path: PathBuf,
    pub tree: Requested<CatalogTree>,
}

/// One opened table.
#[derive(Debug)]
pub struct TableEntry {
    /// The `TableRef` string (a Delta table root or `iceberg+sqlite://…#ns.table`).
    pub reference: String,
    pub overview: Requested<Box<TableOverview>>,
    /// The version the History/Files/Data tabs and the Overview figures look at.
    pub selected_version: VersionSelector,
    pub history: Requested<TableHistory>,
    /// Info at `selected_version`.
    pub info: Requested<Box<TableInfo>>,
    /// Live files at `selected_version`.
    pub files: Requested<TableFiles>,
    /// A page of rows at `selected_version` starting at `page_offset`.
    pub page: Requested<TablePage>,
    pub page_offset: u64,
    /// What the lazily loaded values were last requested for.
    pub loaded: TableLoads,
    /// The Schema tab's comparison: the other version, and the diff from it to `selected_version`.
    pub schema_diff: Option<(VersionSelector, Requested<SchemaDiff>)>,
    /// Size histogram and small files per partition of `files`, under the app's small-file policy.
    pub files_health: Option<FilesHealth>,
    /// The Spatial tab's last validation and query.
    pub spatial: crate::ui::panels::spatial::SpatialResults,
    /// Health over time (monitor log) of the current version, shown in the Overview.
    pub health: Requested<Box<crate::engine::lake::monitor::HealthSeries>>,
    /// The Maintain tab's plans and runs.
    pub maintenance: crate::ui::panels::maintain::MaintenanceResults,
}

/// Rows per page in the Data tab.
pub const TABLE_PAGE_ROWS: u64 = 50;

/// What each lazily loaded value of a [`TableEntry`] was last requested for (`None`/`false`: not yet).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableLoads {
    pub history: bool,
    pub info: Option<VersionSelector>,
    pub files: Option<VersionSelector>,
    pub page: Option<(VersionSelector, u64)>,
    /// The health observation of the current version was recorded.
    pub health: bool,
}

impl TableEntry {
    /// A newly opened table: its overview is being read, nothing else requested yet.
    pub fn new(reference: String) -> Self {
        Self {
            reference,
            overview: Requested::Pending { previous: None },
            selected_version: VersionSelector::Latest,
            history: Requested::NotRequested,
            info: Requested::NotRequested,
            files: Requested::NotRequested,
            page: Requested::NotRequested,
            page_offset: 0,
            loaded: TableLoads::default(),
            schema_diff: None,
            files_health: None,
            spatial: Default::default(),
            health: Requested::NotRequested,
            maintenance: Default::default(),
        }
    }

    /// Whether showing `tab` needs a request (its values were not requested for the current selection).
    pub fn needs_load(&self, tab: TableTab) -> bool {
        let at = &self.selected_version;
        let info_missing = self.loaded.info.as_ref() != Some(at);
        match tab {
            TableTab::Overview => (*at != VersionSelector::Latest && info_missing) || (*at == VersionSelector::Latest && !self.loaded.health),
            TableTab::Schema => info_missing || !self.loaded.history,
            TableTab::History => !self.loaded.history,
            TableTab::Files => info_missing || self.loaded.files.as_ref() != Some(at),
            TableTab::Spatial | TableTab::Maintain => false,
            TableTab::Data => self.loaded.page.as_ref().is_none_or(|(v, o)| v != at || *o != self.page_offset),
        }
    }
}

/// The tabs of the selected table in the Tables panel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableTab {
    #[default]
    Overview,
    Schema,
    History,
    Files,
    Data,
    Spatial,
    Maintain,
}

impl TableTab {
    pub const ALL: [TableTab; 7] = [
        TableTab::Overview,
        TableTab::Schema,
        TableTab::History,
        TableTab::Files,
        TableTab::Data,
        TableTab::Spatial,
        TableTab::Maintain,
    ];

    pub fn title(self) -> &'static str {
        match self {
            TableTab::Overview => "Overview",
            TableTab::Schema => "Schema",
            TableTab::History => "History",
            TableTab::Files => "Files",
            TableTab::Data => "Data",
            TableTab::Spatial => "Spatial",
            TableTab::Maintain => "Maintain",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum JobState {
    Running { done: u64, total: u64, message: String },
    Finished,
    Failed(String),
    Cancelled,
}

/// One job as the Jobs panel shows it.
#[derive(Clone, Debug)]
pub struct JobRow {
    pub id: JobId,
    pub title: String,
    pub started: Instant,
    pub ended: Option<Instant>,
    pub state: JobState,
    pub cancel: CancelToken,
}

impl JobRow {
    pub fn elapsed(&self) -> Duration {
        self.ended.unwrap_or_else(Instant::now).duration_since(self.started)
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, JobState::Running { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Error,
}

/// A message shown in the notice bar until dismissed (errors) or for a few seconds (info).
#[derive(Clone, Debug)]
pub struct Notice {
    pub level: NoticeLevel,
    pub text: String,
    pub at: Instant,
}

/// Everything the panels draw.
#[derive(Debug, Default)]
pub struct AppModel {
    pub catalogs: Vec<CatalogEntry>,
    pub tables: Vec<TableEntry>,
    pub selected_node: Option<(usize, usize)>,
    /// The catalog node whose footprint is under the map pointer (its row is highlighted).
    pub hovered_node: Option<(usize, usize)>,
    pub selected_table: Option<usize>,
    pub jobs: Vec<JobRow>,
    pub notices: Vec<Notice>,
    /// The demo workspace folder (when known).
    pub demo_dir: Option<PathBuf>,
    pub data_dir_problem: Option<String>,
    /// Ids of the raster tile layers on the map (e.g. item previews), kept in step by the app.
    pub shown_raster_layers: Vec<String>,
    /// Ids of the vector layers tables put on the map (file footprints, page rows).
    pub shown_table_layers: Vec<String>,
    /// What counts as a small file, and when a partition has too many (Files tab, health figures).
    pub small_file_policy: SmallFilePolicy,
    /// STAC search: the connected API, the running/finished search and its items.
    pub stac: crate::ui::panels::stac_search::StacResults,
    /// NDVI products made in this session, newest last (shown on the map and in the Catalog panel).
    pub ndvi_products: Vec<crate::ui::panels::ndvi::NdviProductView>,
    /// The last STAC validation asked for in the Catalog panel: the node's JSON file and the verdict.
    pub stac_validation: Option<(PathBuf, Requested<crate::engine::stac::validate::StacValidation>)>,
    /// Opened sources, most recent first (a copy of the persisted list, for the Catalog panel's *Recent* menu).
    pub recent_sources: Vec<PathBuf>,
}

/// Map layer id of a table's file footprints.
pub fn file_footprints_layer_id(reference: &str) -> String {
    format!("files:{reference}")
}

/// Map layer id of the rows of a table's Data page.
pub fn page_rows_layer_id(reference: &str) -> String {
    format!("rows:{reference}")
}

/// Map layer id of a STAC item's false-colour preview.
pub fn item_preview_layer_id(item_id: &str) -> String {
    format!("preview:{item_id}")
}

impl AppModel {
    pub fn notify_error(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::error!("{text}");
        self.notices.push(Notice { level: NoticeLevel::Error, text, at: Instant::now() });
    }

    pub fn notify_info(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::info!("{text}");
        self.notices.push(Notice { level: NoticeLevel::Info, text, at: Instant::now() });
    }

    pub fn running_jobs(&self) -> usize {
        self.jobs.iter().filter(|j| j.is_running()).count()
    }

    pub fn job_mut(&mut self, id: JobId) -> Option<&mut JobRow> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }
}

/// What the app persists between runs (with eframe's storage).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedState {
    pub theme: ThemeChoice,
    /// Most recent first.
    pub recent_sources: Vec<PathBuf>,
    /// The sources open when the app was closed, reopened on start.
    pub open_sources: Vec<PathBuf>,
    /// Small-file threshold in bytes (`None`: a quarter of the 128 MiB target size).
    pub small_file_bytes: Option<u64>,
    /// Alert when a partition holds more small files than this (`None`: 10,000).
    pub max_small_files_per_partition: Option<u64>,
    /// S3 endpoint, region, key id and allow-http; the secret is never serialized (see
    /// [`crate::engine::storage::Secret`]).
    pub s3: crate::engine::storage::S3Settings,
    /// STAC search sources (API URLs, catalog paths), most recent first.
    pub recent_stac_sources: Vec<String>,
}

impl PersistedState {
    pub const MAX_RECENT: usize = 10;

    pub fn remember(&mut self, path: &std::path::Path) {
        self.recent_sources.retain(|p| p != path);
        self.recent_sources.insert(0, path.to_path_buf());
        self.recent_sources.truncate(Self::MAX_RECENT);
        if !self.open_sources.iter().any(|p| p == path) {
            self.open_sources.push(path.to_path_buf());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_state_never_holds_the_s3_secret() {
        let mut state = PersistedState::default();
        state.s3.endpoint = "http://127.0.0.1:9000".into();
        state.s3.access_key_id = "AKIDEXAMPLE".into();
        state.s3.secret_access_key = crate::engine::storage::Secret::new("s3cr3t-do-not-store");
        let json = serde_json::to_string(&state).unwrap();
        let debug = format!("{state:?}");
        for text in [&json, &debug] {
            assert!(!text.contains("s3cr3t-do-not-store"), "{text}");
        }
        assert!(json.contains("AKIDEXAMPLE") && json.contains("127.0.0.1:9000"), "{json}");
        let restored: PersistedState = serde_json::from_str(&json).unwrap();
        assert!(restored.s3.secret_access_key.is_empty());
        assert_eq!(restored.s3.access_key_id, "AKIDEXAMPLE");
    }

    #[test]
    fn refresh_keeps_the_previous_value_visible() {
        let mut value = Requested::Ready(3);
        value.refresh();
        assert!(value.is_pending());
        assert_eq!(value.value(), Some(&3));
        let failed: Requested<i32> = Requested::Failed("x".into());
        assert_eq!(failed.value(), None);
    }

    #[test]
    fn recent_sources_are_unique_most_recent_first_and_bounded() {
        let mut state = PersistedState::default();
        for i in 0..15 {
            state.remember(std::path::Path::new(&format!("/p{i}")));
        }
        state.remember(std::path::Path::new("/p3"));
        assert_eq!(state.recent_sources.len(), PersistedState::MAX_RECENT);
        assert_eq!(state.recent_sources[0], PathBuf::from("/p3"));
        assert_eq!(state.recent_sources.iter().filter(|p| **p == PathBuf::from("/p3")).count(), 1);
    }
}
