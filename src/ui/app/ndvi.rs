//! The app's side of NDVI products: a catalog node → an NDVI job; a finished product → a map layer
//! (red-yellow-green tiles from the Zarr store), its product catalog opened, and an entry for the Catalog
//! panel's legend and the histogram of the visible map area (a job, once the view has been still for
//! [`AREA_STATS_DEBOUNCE`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{JobPurpose, MeshlakeApp};
use crate::engine::jobs::JobSpec;
use crate::engine::ndvi::stats::{AreaStats, AreaStatsRequest};
use crate::engine::ndvi::{DEFAULT_CHUNK, ItemFilter, NdviProduct, NdviRequest, NdviSource};
use crate::engine::raster::preview::PreviewSource;
use crate::ui::model::{Pane, Requested};
use crate::ui::panels::ndvi::NdviProductView;

impl MeshlakeApp {
    /// Start an NDVI job over the node's items; the product goes to `out_dir/ndvi-<node>-<time>.zarr`
    /// and is published into the product catalog `out_dir`.
    pub(super) fn compute_ndvi(&mut self, catalog: usize, node: usize, out_dir: PathBuf) {
        let Some(n) = self.model.catalogs.get(catalog).and_then(|c| c.tree.value()).and_then(|t| t.nodes.get(node)) else {
            return;
        };
        let name: String = n.id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
        let request = NdviRequest {
            source: NdviSource::Paths(vec![n.path.clone()]),
            filter: ItemFilter::default(),
            red: None,
            nir: None,
            crs_epsg: None,
            resolution: None,
            chunk: DEFAULT_CHUNK,
            force_chunk: false,
            out: out_dir.join(format!("ndvi-{name}-{stamp}.zarr")),
            publish: Some(out_dir.clone()),
        };
        let product_catalog = Some(crate::engine::ndvi::publish::catalog_path(&out_dir));
        self.submit(JobSpec::Ndvi(Box::new(request)), JobPurpose::NdviProduct { product_catalog });
    }

    /// Put a finished product on the map (its latest time slice) and list it in the Catalog panel.
    pub(super) fn show_ndvi_product(&mut self, product: NdviProduct, product_catalog: Option<PathBuf>, opened: bool) {
        // A store shown already (opened twice): its layer is brought back into view.
        if let Some(shown) = self.model.ndvi_products.iter().find(|v| v.product.zarr == product.zarr && v.product.variable == product.variable) {
            self.map.zoom_to_bbox(shown.product.bbox);
            self.focus_pane(Pane::Map);
            return;
        }
        let layer_id = format!("ndvi:{}", product.zarr.display());
        let time = (product.shape[0] as usize).saturating_sub(1);
        let view = NdviProductView {
            product_catalog: product_catalog.filter(|_| product.stac_item.is_some()),
            product,
            layer_id,
            time,
            inspected: None,
            area: Requested::NotRequested,
            area_key: None,
            opened,
        };
        self.map.set_raster_tile_layer(view.layer_id.clone(), view.layer_name(), view.source());
        self.sync_shown_raster_layers();
        self.map.zoom_to_bbox(view.product.bbox);
        self.model.ndvi_products.push(view);
        self.focus_pane(Pane::Map);
    }

    /// Read the latest product's values under a map click (a small job: one chunk per time slice).
    pub(super) fn inspect_ndvi(&mut self, lon: f64, lat: f64) {
        let Some(view) = self.model.ndvi_products.last() else { return };
        let spec = JobSpec::NdviInspect { zarr: view.product.zarr.clone(), variable: view.product.variable.clone(), lon, lat };
        self.submit(spec, JobPurpose::Ndvi);
    }

    pub(super) fn show_ndvi_pixel(&mut self, pixel: crate::engine::ndvi::tiles::NdviPixel) {
        if let Some(view) = self.model.ndvi_products.iter_mut().rev().find(|v| v.product.zarr == pixel.zarr) {
            view.inspected = Some(pixel);
        }
    }

    /// Show another time slice of a product.
    pub(super) fn set_ndvi_time(&mut self, index: usize, time: usize) {
        let Some(view) = self.model.ndvi_products.get_mut(index) else { return };
        view.time = time.min((view.product.shape[0] as usize).saturating_sub(1));
        let (id, name, source): (String, String, PreviewSource) = (view.layer_id.clone(), view.layer_name(), view.source());
        self.map.set_raster_tile_layer(id, name, source);
        self.sync_shown_raster_layers();
    }

    /// Recompute the visible-area statistics of every product whose time slice or visible area changed,
    /// once the map view has been still for [`AREA_STATS_DEBOUNCE`]; a request it supersedes is cancelled.
    pub(super) fn refresh_ndvi_area_stats(&mut self, ctx: &egui::Context) {
        if self.model.ndvi_products.is_empty() {
            return;
        }
        let Some(visible) = self.map.visible_bbox() else { return };
        let now = Instant::now();
        let since = match self.ndvi_view {
            Some((seen, since)) if seen == visible => since,
            _ => {
                self.ndvi_view = Some((visible, now));
                now
            }
        };
        let still_for = now.duration_since(since);
        if still_for < AREA_STATS_DEBOUNCE {
            ctx.request_repaint_after(AREA_STATS_DEBOUNCE - still_for);
            return;
        }
        let wanted: Vec<(PathBuf, String, usize)> = self
            .model
            .ndvi_products
            .iter()
            .filter(|view| view.area_key != Some((view.time, visible)))
            .map(|view| (view.product.zarr.clone(), view.product.variable.clone(), view.time))
            .collect();
        for (zarr, variable, time) in wanted {
            let request = AreaStatsRequest { zarr: zarr.clone(), variable, time, bbox: Some(visible) };
            let handle = self.submit(JobSpec::NdviStats(request), JobPurpose::NdviArea { zarr: zarr.clone(), time, bbox: visible });
            // The request it supersedes is cancelled (a no-op when it has finished), and the Jobs panel keeps one
            // row per product for these: the superseded request's late events find no row and change nothing.
            if let Some(previous) = self.ndvi_area_jobs.insert(zarr.clone(), handle) {
                previous.cancel.cancel();
                self.model.jobs.retain(|row| row.id != previous.id);
            }
            for view in self.model.ndvi_products.iter_mut().filter(|v| v.product.zarr == zarr) {
                view.area_key = Some((time, visible));
                view.area.refresh();
            }
        }
    }

    /// A visible-area result (or failure) for the request it answers; answers to older requests are dropped.
    pub(super) fn show_ndvi_area_stats(&mut self, zarr: &Path, time: usize, bbox: [f64; 4], result: Result<AreaStats, String>) {
        for view in self.model.ndvi_products.iter_mut().filter(|v| v.product.zarr == zarr) {
            if view.area_key == Some((time, bbox)) {
                view.area = match &result {
                    Ok(stats) => Requested::Ready(stats.clone()),
                    Err(error) => Requested::Failed(error.clone()),
                };
            }
        }
    }
}

/// How long the map view must be still before the visible-area histogram is recomputed.
pub const AREA_STATS_DEBOUNCE: Duration = Duration::from_millis(300);
