//! NDVI in the Catalog panel: "Compute NDVI…" for the selected node (with the output folder), and for
//! each product made this session its legend (red-yellow-green over [-1, 1]), time slider, the values
//! under the last map click, and the histogram of the visible map area for the shown time slice.

use std::path::PathBuf;

use egui::{Color32, Ui};
use egui_plot::{Bar, BarChart, Plot};

use crate::engine::ndvi::HISTOGRAM_BINS;
use crate::engine::ndvi::stats::AreaStats;
use crate::engine::ndvi::tiles::ndvi_colour;
use crate::engine::ndvi::NdviProduct;
use crate::engine::raster::preview::PreviewSource;
use crate::engine::stac::{CatalogNode, NodeKind};
use crate::ui::commands::Command;
use crate::ui::model::{AppModel, Requested};

/// A product made in this session and the time slice the map shows.
#[derive(Clone, Debug)]
pub struct NdviProductView {
    pub product: NdviProduct,
    pub layer_id: String,
    pub time: usize,
    /// The values under the last map click.
    pub inspected: Option<crate::engine::ndvi::tiles::NdviPixel>,
    /// The product catalog its STAC item was published into (`catalog.json`).
    pub product_catalog: Option<PathBuf>,
    /// Histogram and statistics of the visible map area for [`NdviProductView::time`].
    pub area: Requested<AreaStats>,
    /// The `(time, lon/lat bbox)` `area` was last requested for.
    pub area_key: Option<(usize, [f64; 4])>,
    /// Opened from a Zarr store on disk (File ▸ Open, or a STAC item's Zarr asset), not computed this
    /// session: its valid fraction was not counted.
    pub opened: bool,
}

impl NdviProductView {
    pub fn layer_name(&self) -> String {
        let name = self.product.zarr.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let when = self.product.times.get(self.time).map(|t| t.get(..10).unwrap_or(t)).unwrap_or("");
        format!("NDVI {when} ({name})")
    }

    pub fn source(&self) -> PreviewSource {
        PreviewSource::Zarr { path: self.product.zarr.clone(), variable: self.product.variable.clone(), time: self.time }
    }
}

fn out_dir_id(ui: &Ui) -> egui::Id {
    ui.scope_id().with("ndvi_out_dir")
}

/// "Compute NDVI…" for an item with red/NIR bands, or a catalog/collection (all its items).
pub fn compute_ndvi_ui(ui: &mut Ui, model: &AppModel, node: &CatalogNode, catalog: usize, node_index: usize, commands: &mut Vec<Command>) {
    if node.kind == NodeKind::Item && node.nir_red_assets().is_none() {
        return;
    }
    let default_dir = model
        .demo_dir
        .as_ref()
        .and_then(|d| d.parent())
        .map(|d| d.join("products"))
        .unwrap_or_else(|| PathBuf::from("products"));
    let id = out_dir_id(ui);
    let mut out_dir: String =
        ui.data_mut(|d| d.get_temp::<String>(id)).unwrap_or_else(|| default_dir.display().to_string());
    ui.horizontal(|ui| {
        let what = if node.kind == NodeKind::Item { "this item" } else { "every item under this node" };
        if ui
            .button("Compute NDVI…")
            .on_hover_text(format!("NDVI of {what} into a Zarr product in the output folder, published there as a STAC item"))
            .clicked()
        {
            commands.push(Command::ComputeNdvi { catalog, node: node_index, out_dir: PathBuf::from(out_dir.trim()) });
        }
        let label = ui.label("output folder");
        ui.add(egui::TextEdit::singleline(&mut out_dir).desired_width(220.0)).labelled_by(label.id);
    });
    let id = out_dir_id(ui);
    ui.data_mut(|d| d.insert_temp(id, out_dir));
}

/// Legend, time slider and histogram of each product made this session or opened from disk.
pub fn products_ui(ui: &mut Ui, model: &AppModel, commands: &mut Vec<Command>) {
    if model.ndvi_products.is_empty() {
        return;
    }
    ui.separator();
    ui.strong("NDVI products");
    for (index, view) in model.ndvi_products.iter().enumerate().rev() {
        let p = &view.product;
        ui.push_id(index, |ui| {
            let valid = if view.opened {
                "opened from disk".to_owned()
            } else {
                format!("{:.0}% valid", p.valid_fraction * 100.0)
            };
            let variable = if p.variable == "ndvi" { String::new() } else { format!(" [{}]", p.variable) };
            ui.label(format!(
                "{}{variable}: {} x {} x {} ({}), {valid}",
                p.zarr.display(),
                p.shape[0],
                p.shape[1],
                p.shape[2],
                p.crs,
            ));
            if let Some(item) = &p.stac_item {
                ui.label(format!("STAC item: {}", item.display()));
            }
            if let Some(catalog) = &view.product_catalog {
                if ui
                    .button("Open product catalog")
                    .on_hover_text(format!("Open {} in the catalog tree (reload it if it is open)", catalog.display()))
                    .clicked()
                {
                    commands.push(Command::OpenCatalog { path: catalog.clone() });
                }
            }
            if p.shape[0] > 1 {
                let mut time = view.time;
                let label = p.times.get(view.time).cloned().unwrap_or_default();
                let slider = egui::Slider::new(&mut time, 0..=(p.shape[0] as usize - 1)).text(format!("time: {label}"));
                if ui.add(slider).changed() {
                    commands.push(Command::SetNdviTime { product: index, time });
                }
            }
            legend_ui(ui);
            match &view.inspected {
                Some(px) => {
                    ui.label(format!("at lon {:.5}, lat {:.5} (x {:.1}, y {:.1} in {}):", px.lon, px.lat, px.x, px.y, p.crs));
                    for (time, value) in &px.values {
                        let text = value.map(|v| format!("{v:.3}")).unwrap_or_else(|| "no data".to_owned());
                        ui.label(format!("  {}  NDVI {text}", time.get(..10).unwrap_or(time)));
                    }
                }
                None => {
                    ui.label("Click the map to read the values under the cursor.");
                }
            }
            area_histogram_ui(ui, view);
        });
    }
}

/// The colour ramp from -1 to 1 with tick labels.
pub fn legend_ui(ui: &mut Ui) {
    let width = 240.0_f32.min(ui.available_width());
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 14.0), egui::Sense::hover());
    let steps = 60;
    for i in 0..steps {
        let v = -1.0 + 2.0 * (i as f32 + 0.5) / steps as f32;
        let [r, g, b] = ndvi_colour(v).unwrap_or([0, 0, 0]);
        let x0 = rect.left() + rect.width() * i as f32 / steps as f32;
        let x1 = rect.left() + rect.width() * (i + 1) as f32 / steps as f32;
        let cell = egui::Rect::from_min_max(egui::pos2(x0, rect.top()), egui::pos2(x1 + 0.5, rect.bottom()));
        ui.painter().rect_filled(cell, 0.0, Color32::from_rgb(r, g, b));
    }
    ui.horizontal(|ui| {
        ui.set_width(width);
        ui.label("-1");
        ui.add_space(width / 2.0 - 30.0);
        ui.label("0");
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| ui.label("1 NDVI"));
    });
}

/// The histogram of the visible map area (a job's result), with what it covers.
fn area_histogram_ui(ui: &mut Ui, view: &NdviProductView) {
    let stats = view.area.value();
    match (&view.area, stats) {
        (Requested::NotRequested, _) => {
            ui.label("Histogram: show the map to count the visible area.");
        }
        (Requested::Failed(error), _) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Histogram of the visible area failed: {error}"));
        }
        (Requested::Pending { .. } | Requested::Ready(_), None) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Counting the visible area...");
            });
        }
        (_, Some(stats)) => {
            let when = stats.time.as_deref().map(|t| t.get(..10).unwrap_or(t)).unwrap_or("");
            if stats.overlaps() {
                let mut text = format!("visible area, {when}: {} valid pixels, {} NaN", stats.valid, stats.nan);
                if let (Some(min), Some(max), Some(mean)) = (stats.min, stats.max, stats.mean) {
                    text.push_str(&format!("; min {min:.3}, max {max:.3}, mean {mean:.3}"));
                }
                if view.area.is_pending() {
                    text.push_str(" (updating)");
                }
                ui.label(text);
                histogram_ui(ui, &view.product, &stats.bins);
            } else {
                ui.label("The map view does not overlap this product: pan or zoom to it (Zoom to layer) to see its histogram.");
            }
        }
    }
}

fn histogram_ui(ui: &mut Ui, product: &NdviProduct, bins: &[u64]) {
    let width = 2.0 / HISTOGRAM_BINS as f64;
    let bars: Vec<Bar> = bins
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let centre = -1.0 + (i as f64 + 0.5) * width;
            let [r, g, b] = ndvi_colour(centre as f32).unwrap_or([128, 128, 128]);
            Bar::new(centre, *n as f64).width(width).fill(Color32::from_rgb(r, g, b))
        })
        .collect();
    Plot::new(("ndvi_histogram", product.zarr.display().to_string()))
        .height(110.0)
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
        .show_axes([true, false])
        .show(ui, |plot| plot.bar_chart(BarChart::new("pixels", bars)));
}
