//! The app's side of NDVI products: a catalog node → an NDVI job; a finished product → a map layer
//! (red-yellow-green tiles from the Zarr store) and an entry for the Catalog panel's legend and histogram.

use std::path::PathBuf;

use super::{JobPurpose, MeshlakeApp};
use crate::engine::jobs::JobSpec;
use crate::engine::ndvi::{DEFAULT_CHUNK, ItemFilter, NdviProduct, NdviRequest, NdviSource};
use crate::engine::raster::preview::PreviewSource;
use crate::ui::model::Pane;
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
            publish: Some(out_dir),
        };
        self.submit(JobSpec::Ndvi(Box::new(request)), JobPurpose::Ndvi);
    }

    /// Put a finished product on the map (its latest time slice) and list it in the Catalog panel.
    pub(super) fn show_ndvi_product(&mut self, product: NdviProduct) {
        let layer_id = format!("ndvi:{}", product.zarr.display());
        let time = (product.shape[0] as usize).saturating_sub(1);
        let view = NdviProductView { product, layer_id, time, inspected: None };
        self.map.set_raster_tile_layer(view.layer_id.clone(), view.layer_name(), view.source());
        self.sync_shown_raster_layers();
        self.map.zoom_to_bbox(view.product.bbox);
        self.model.ndvi_products.push(view);
        self.focus_pane(Pane::Map);
    }

    /// Read the latest product's values under a map click (a small job: one chunk per time slice).
    pub(super) fn inspect_ndvi(&mut self, lon: f64, lat: f64) {
        let Some(view) = self.model.ndvi_products.last() else { return };
        let spec = JobSpec::NdviInspect { zarr: view.product.zarr.clone(), lon, lat };
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
}
