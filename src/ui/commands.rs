//! What panels ask the app to do. Panels return these; only `MeshlakeApp::handle_command` changes state.

use std::path::PathBuf;

use crate::engine::jobs::JobId;
use crate::engine::lake::inspect::{SmallFilePolicy, VersionSelector};
use crate::ui::model::{Pane, TableTab, ThemeChoice};

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Open a folder or file (STAC catalog, Delta table, Iceberg catalog, or a folder holding these);
    /// an `s3://` URL opens as a table.
    OpenPath(PathBuf),
    /// Use these S3 settings for object storage from now on (the secret stays in memory).
    SetS3Settings(crate::engine::storage::S3Settings),
    /// Show a native folder picker (async; never blocks the UI thread).
    PickFolder,
    /// Show a native file picker.
    PickFile,
    /// (Re)write the demo workspace in the data folder and open it.
    RegenerateDemo,
    /// Forget an opened source (catalog or table) — nothing on disk changes.
    CloseCatalog(usize),
    CloseTable(usize),
    /// Read a table's overview again.
    ReloadTable(usize),
    SelectCatalogNode { catalog: usize, node: usize },
    /// The catalog node whose footprint is under the map pointer (`None`: none).
    HoverCatalogNode(Option<(usize, usize)>),
    /// Validate a catalog node's JSON against the STAC schemas (core and its extensions).
    ValidateCatalogNode { catalog: usize, node: usize },
    SelectTable(usize),
    /// Request what a table's tab shows (when not yet requested for the selected version).
    LoadTableTab { table: usize, tab: TableTab },
    /// Time-travel a table: its info, files and rows are read again at `at`.
    SelectTableVersion { table: usize, at: VersionSelector },
    /// Show the page of a table's rows starting at `offset`.
    SetTablePageOffset { table: usize, offset: u64 },
    /// Center the map on a lon/lat bbox.
    ZoomToBbox([f64; 4]),
    /// Compare the selected table version's schema with another version (`None`: stop comparing).
    CompareTableSchema { table: usize, with: Option<VersionSelector> },
    /// Change what counts as a small file and when a partition alerts.
    SetSmallFilePolicy(SmallFilePolicy),
    /// Draw each live file's bbox of a table (at its selected version) as a map layer.
    ShowFileFootprints(usize),
    /// Draw the rows of a table's current Data page as a map layer.
    ShowPageOnMap(usize),
    /// Take a vector layer a table put on the map off it again.
    RemoveTableLayer(String),
    /// Show a catalog item's false-colour preview (NIR, red, red) on the map as a raster tile layer.
    ShowItemPreview { catalog: usize, node: usize },
    /// Remove a raster tile layer (e.g. an item preview) from the map.
    RemoveItemPreview { layer_id: String },
    /// Validate the geometries of a table at its selected version (Spatial tab).
    /// Validate table `table`, checking it against the schema contract file `contract` when given.
    ValidateTable { table: usize, contract: Option<std::path::PathBuf> },
    /// Pick a schema contract file (JSON/TOML) for the Spatial tab's validation in a native dialog.
    PickContractFile,
    /// Run a spatial query on a table at its selected version; without `allow_full_scan` a table without
    /// bbox information is not scanned (the tab asks first).
    QueryTable { table: usize, predicate: crate::engine::geo::predicate::SpatialPredicate, allow_full_scan: bool },
    /// Plan or run a compaction, snapshot expiry or vacuum of a table (Maintain tab; dry runs write nothing).
    MaintainTable { table: usize, action: MaintenanceAction },
    /// Read a STAC API's landing page, conformance and collections.
    StacConnect(String),
    /// Read (or derive) the queryables of a STAC source, of one collection when given.
    StacQueryables { source: String, collection: Option<String> },
    /// Load an item thumbnail in the background (`remote_source`: it came from a remote API, so a
    /// local path is refused).
    LoadThumbnail { href: String, remote_source: bool },
    /// Search a STAC API / static catalog (an earlier search still running is cancelled).
    StacSearch { source: String, params: crate::engine::stac::search::SearchParams },
    /// Select a search result (row or footprint).
    StacSelectResult(Option<usize>),
    /// The result whose footprint is under the map pointer (`None`: none).
    StacHoverResult(Option<usize>),
    /// Compute an NDVI product from a catalog node (an item, or every item under a catalog/collection)
    /// into `out_dir` (also the product STAC catalog it is published into).
    ComputeNdvi { catalog: usize, node: usize, out_dir: PathBuf },
    /// Show time slice `time` of NDVI product `product` (index into `AppModel::ndvi_products`).
    SetNdviTime { product: usize, time: usize },
    /// Read the latest NDVI product's values at a map point (pixel inspect).
    InspectNdvi { lon: f64, lat: f64 },
    /// Open the static STAC catalog at `path` in the Catalog panel, or reload it when it is open
    /// (e.g. an NDVI product catalog that just got a new item).
    OpenCatalog { path: PathBuf },
    CancelJob(JobId),
    ClearFinishedJobs,
    FocusPane(Pane),
    SetTheme(ThemeChoice),
    ShowSettings(bool),
    DismissNotice(usize),
    ResetLayout,
    Quit,
}

/// A maintenance job a table's Maintain tab asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum MaintenanceAction {
    Compact(crate::engine::lake::maintain::CompactionRequest),
    Expire(crate::engine::lake::maintain::ExpireRequest),
    Vacuum(crate::engine::lake::maintain::VacuumRequest),
    /// A Delta checkpoint at the latest version.
    Checkpoint,
}

impl MaintenanceAction {
    pub fn dry_run(&self) -> bool {
        match self {
            MaintenanceAction::Compact(request) => request.dry_run,
            MaintenanceAction::Expire(request) => request.dry_run,
            MaintenanceAction::Vacuum(request) => request.dry_run,
            MaintenanceAction::Checkpoint => false,
        }
    }
}
