//! The Catalog panel: a tree of opened static STAC catalogs and stac-geoparquet files, and the selected
//! node's details (properties, assets, thumbnail, footprint on the map, schema validation).

use egui::{RichText, Ui};
use serde_json::Value;

use crate::engine::stac::{CatalogNode, CatalogTree, NodeKind};
use crate::ui::commands::Command;
use crate::ui::model::{AppModel, Requested, item_preview_layer_id};

/// Items listed under one node before the rest are summarised (the STAC issue adds paging/search).
const MAX_ITEMS_PER_NODE: usize = 2000;

pub fn catalog_ui(ui: &mut Ui, model: &AppModel, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        recent_menu_ui(ui, model, commands);
        if ui.button("Open…").on_hover_text("Open a STAC catalog, collection or item JSON, or a stac-geoparquet file (Ctrl+Shift+O)").clicked() {
            commands.push(Command::PickFile);
        }
        let items: usize = model.catalogs.iter().filter_map(|c| c.tree.value()).map(|t| t.count(NodeKind::Item)).sum();
        ui.label(format!("{} catalog(s), {items} item(s)", model.catalogs.len()));
    });
    ui.separator();
    if model.catalogs.is_empty() {
        ui.label("No STAC catalog open. Open a catalog.json or a stac-geoparquet .parquet (File › Open file…) or drop one onto the window.");
        // NDVI products opened from disk are listed without any catalog.
        egui::ScrollArea::vertical().id_salt("catalog_details").auto_shrink([false, false]).show(ui, |ui| {
            crate::ui::panels::ndvi::products_ui(ui, model, commands);
        });
        return;
    }
    let tree_height = (ui.available_height() * 0.45).max(120.0);
    egui::ScrollArea::vertical().id_salt("catalog_tree").max_height(tree_height).auto_shrink([false, true]).show(
        ui,
        |ui| {
            for (catalog_index, entry) in model.catalogs.iter().enumerate() {
                match &entry.tree {
                    Requested::Pending { previous: None } => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(format!("Loading {}", entry.path.display()));
                        });
                    }
                    Requested::Failed(error) => {
                        ui.horizontal(|ui| {
                            ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {}", entry.path.display()));
                            if ui.small_button("Close").clicked() {
                                commands.push(Command::CloseCatalog(catalog_index));
                            }
                        });
                        ui.label(RichText::new(error).color(ui.visuals().error_fg_color));
                    }
                    other => {
                        if let Some(tree) = other.value() {
                            node_tree_ui(ui, tree, catalog_index, 0, (model.selected_node, model.hovered_node), commands);
                            for problem in &tree.problems {
                                ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {problem}"));
                            }
                        }
                    }
                }
            }
        },
    );
    ui.separator();
    let selected = model.selected_node.and_then(|(c, n)| {
        let tree = model.catalogs.get(c)?.tree.value()?;
        Some((c, n, tree, tree.nodes.get(n)?))
    });
    egui::ScrollArea::vertical().id_salt("catalog_details").auto_shrink([false, false]).show(ui, |ui| match selected {
        Some((catalog, node_index, tree, node)) => {
            node_details_ui(ui, tree, node, &model.stac.thumbnails, commands, |ui, commands| {
                validation_ui(ui, model, node, catalog, node_index, commands);
                if node.kind == NodeKind::Item {
                    preview_button_ui(ui, node, catalog, node_index, &model.shown_raster_layers, commands);
                }
                crate::ui::panels::ndvi::compute_ndvi_ui(ui, model, node, catalog, node_index, commands);
            });
            crate::ui::panels::ndvi::products_ui(ui, model, commands);
        }
        None => {
            ui.label("Select a catalog, collection or item to see its properties and footprint.");
            crate::ui::panels::ndvi::products_ui(ui, model, commands);
        }
    });
}

/// *Recent*: the files and folders opened before and the STAC APIs connected to (persisted between runs).
fn recent_menu_ui(ui: &mut Ui, model: &AppModel, commands: &mut Vec<Command>) {
    ui.menu_button("Recent sources", |ui| {
        if model.recent_sources.is_empty() && model.stac.recent.is_empty() {
            ui.label("nothing opened yet");
        }
        for path in &model.recent_sources {
            if ui.button(path.display().to_string()).on_hover_text("Open again").clicked() {
                commands.push(Command::OpenPath(path.clone()));
                ui.close();
            }
        }
        let apis: Vec<&String> = model.stac.recent.iter().filter(|s| crate::engine::stac::job::is_remote(s)).collect();
        if !apis.is_empty() {
            ui.separator();
            for url in apis {
                if ui.button(url).on_hover_text("Connect to this STAC API (STAC search tab)").clicked() {
                    commands.push(Command::StacConnect(url.clone()));
                    ui.close();
                }
            }
        }
    });
}

fn kind_icon(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Catalog => "📚",
        NodeKind::Collection => "📁",
        NodeKind::Item => "🖼",
    }
}

fn item_row_text(node: &CatalogNode) -> String {
    let date = node.datetime().map(|d| d.get(..10).unwrap_or(d)).unwrap_or("");
    match node.properties.get("eo:cloud_cover").and_then(Value::as_f64) {
        Some(cloud) => format!("{} {}  {date}  ☁ {cloud:.0}%", kind_icon(node.kind), node.id),
        None => format!("{} {}  {date}", kind_icon(node.kind), node.id),
    }
}

fn node_tree_ui(
    ui: &mut Ui,
    tree: &CatalogTree,
    catalog_index: usize,
    node_index: usize,
    (selected, hovered): (Option<(usize, usize)>, Option<(usize, usize)>),
    commands: &mut Vec<Command>,
) {
    let Some(node) = tree.nodes.get(node_index) else { return };
    let is_selected = selected == Some((catalog_index, node_index));
    if node.kind == NodeKind::Item {
        let row = ui.selectable_label(is_selected, item_row_text(node));
        // Its footprint is under the map pointer.
        let row = if hovered == Some((catalog_index, node_index)) { row.highlight() } else { row };
        if row.clicked() {
            commands.push(Command::SelectCatalogNode { catalog: catalog_index, node: node_index });
        }
        return;
    }
    let id = ui.make_persistent_id(("catalog_node", catalog_index, node_index));
    egui::collapsing_header::CollapsingState::load_with_default_open(ui.ctx(), id, node_index == 0 || node.kind == NodeKind::Collection)
        .show_header(ui, |ui| {
            let text = format!("{} {} ({} children)", kind_icon(node.kind), node.label(), node.children.len());
            if ui.selectable_label(is_selected, text).clicked() {
                commands.push(Command::SelectCatalogNode { catalog: catalog_index, node: node_index });
            }
            if node_index == 0 && ui.small_button("✖").on_hover_text("Close this catalog").clicked() {
                commands.push(Command::CloseCatalog(catalog_index));
            }
        })
        .body(|ui| {
            for child in node.children.iter().take(MAX_ITEMS_PER_NODE) {
                node_tree_ui(ui, tree, catalog_index, *child, (selected, hovered), commands);
            }
            if node.children.len() > MAX_ITEMS_PER_NODE {
                ui.label(format!("… {} more", node.children.len() - MAX_ITEMS_PER_NODE));
            }
        });
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        other => {
            let text = other.to_string();
            if text.len() > 240 { format!("{}…", &text[..text.floor_char_boundary(240)]) } else { text }
        }
    }
}

/// *Validate* for the selected node and, once asked, its verdict and problems (JSON pointer + message).
fn validation_ui(ui: &mut Ui, model: &AppModel, node: &CatalogNode, catalog: usize, node_index: usize, commands: &mut Vec<Command>) {
    if crate::engine::stac::geoparquet::is_parquet_path(&node.path) {
        // Validation reads the node's own JSON file; rows of a stac-geoparquet file have none.
        return;
    }
    let shown = model.stac_validation.as_ref().filter(|(path, _)| *path == node.path).map(|(_, result)| result);
    ui.horizontal(|ui| {
        let pending = shown.is_some_and(Requested::is_pending);
        let hint = "Check this JSON against the STAC schemas of its stac_version and the extension schemas it declares";
        if ui.add_enabled(!pending, egui::Button::new("Validate")).on_hover_text(hint).clicked() {
            commands.push(Command::ValidateCatalogNode { catalog, node: node_index });
        }
        match shown {
            Some(Requested::Pending { .. }) => {
                ui.spinner();
                ui.label("validating…");
            }
            Some(Requested::Ready(report)) if report.valid => {
                ui.colored_label(egui::Color32::from_rgb(60, 160, 60), format!("✔ valid ({} schema(s))", report.schemas.len()));
            }
            Some(Requested::Ready(report)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("⚠ invalid: {} problem(s)", report.problems.len()));
            }
            Some(Requested::Failed(error)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {error}"));
            }
            Some(Requested::NotRequested) | None => {}
        }
    });
    if let Some(Requested::Ready(report)) = shown
        && !report.problems.is_empty()
    {
        egui::CollapsingHeader::new(format!("Validation problems ({})", report.problems.len())).default_open(true).show(ui, |ui| {
            egui::Grid::new("stac_validation_problems").striped(true).num_columns(2).show(ui, |ui| {
                for problem in &report.problems {
                    let path = if problem.path.is_empty() { "/" } else { problem.path.as_str() };
                    ui.label(RichText::new(path).monospace());
                    let label = ui.add(egui::Label::new(&problem.message).wrap());
                    if let Some(schema) = &problem.schema {
                        label.on_hover_text(schema);
                    }
                    ui.end_row();
                }
            });
        });
    }
}

/// "Show false-colour preview on map" / "Remove preview" for an item with NIR and red COGs.
fn preview_button_ui(
    ui: &mut Ui,
    node: &CatalogNode,
    catalog: usize,
    node_index: usize,
    shown_raster_layers: &[String],
    commands: &mut Vec<Command>,
) {
    let Some((nir, red)) = node.nir_red_assets() else { return };
    let layer_id = item_preview_layer_id(&node.id);
    if shown_raster_layers.contains(&layer_id) {
        if ui.button("Remove preview").on_hover_text("Remove this item's preview layer from the map").clicked() {
            commands.push(Command::RemoveItemPreview { layer_id });
        }
    } else {
        let local = nir.is_local() && red.is_local();
        let hint = if local {
            format!("Draw {} (NIR) as red and {} (red) as green and blue, rendered from the COGs", nir.key, red.key)
        } else {
            "Only local COGs can be previewed for now".to_owned()
        };
        if ui.add_enabled(local, egui::Button::new("Show false-colour preview on map")).on_hover_text(hint).clicked() {
            commands.push(Command::ShowItemPreview { catalog, node: node_index });
        }
    }
}

/// The node's heading, bbox, properties and assets; `actions_ui` adds buttons under the bbox line (any node kind).
fn node_details_ui(
    ui: &mut Ui,
    tree: &CatalogTree,
    node: &CatalogNode,
    thumbnails: &super::stac_search::Thumbnails,
    commands: &mut Vec<Command>,
    actions_ui: impl FnOnce(&mut Ui, &mut Vec<Command>),
) {
    ui.heading(format!("{} {}", kind_icon(node.kind), node.label()));
    if node.title.is_some() {
        ui.label(RichText::new(&node.id).monospace());
    }
    if let Some(description) = &node.description {
        ui.label(description);
    }
    ui.horizontal(|ui| {
        if let Some(bbox) = node.bbox {
            ui.label(format!("bbox {:.4}, {:.4}, {:.4}, {:.4}", bbox[0], bbox[1], bbox[2], bbox[3]));
            if ui.button("Zoom map to footprint").clicked() {
                commands.push(Command::ZoomToBbox(bbox));
            }
        }
    });
    actions_ui(ui, commands);
    ui.label(RichText::new(node.path.display().to_string()).small().weak());
    if node.kind != NodeKind::Item {
        let items = node.children.iter().filter(|c| tree.nodes.get(**c).is_some_and(|n| n.kind == NodeKind::Item)).count();
        ui.label(format!("{} children, {items} items", node.children.len()));
    }
    // A static catalog is a local source: its thumbnails may be local files or http(s) URLs.
    super::stac_search::thumbnail_ui(ui, thumbnails, &node.assets, false, commands);
    egui::CollapsingHeader::new("Properties").default_open(true).show(ui, |ui| {
        if node.properties.is_empty() {
            ui.label("none");
        }
        egui::Grid::new("node_properties").striped(true).num_columns(2).show(ui, |ui| {
            for (key, value) in &node.properties {
                ui.label(RichText::new(key).strong());
                ui.add(egui::Label::new(value_text(value)).wrap());
                ui.end_row();
            }
        });
    });
    if !node.assets.is_empty() {
        egui::CollapsingHeader::new(format!("Assets ({})", node.assets.len())).default_open(true).show(ui, |ui| {
            egui::Grid::new("node_assets").striped(true).num_columns(3).show(ui, |ui| {
                for asset in &node.assets {
                    ui.label(RichText::new(&asset.key).strong());
                    ui.label(asset.media_type.as_deref().unwrap_or("")).on_hover_text(asset.roles.join(", "));
                    ui.label(RichText::new(&asset.href).monospace()).on_hover_text(&asset.resolved);
                    ui.end_row();
                }
            });
            // A local Zarr store (an NDVI product's `zarr` asset) previews on the map.
            for asset in node.assets.iter().filter(|a| is_local_zarr_asset(a)) {
                if ui
                    .button(format!("Show {} on the map", asset.key))
                    .on_hover_text(format!("Open {} as a map layer with legend, time slider and histogram", asset.resolved))
                    .clicked()
                {
                    commands.push(Command::OpenPath(std::path::PathBuf::from(&asset.resolved)));
                }
            }
        });
    }
}

/// Whether an asset is a Zarr store on the local filesystem (by media type, or an href ending in `.zarr`).
fn is_local_zarr_asset(asset: &crate::engine::stac::AssetSummary) -> bool {
    let zarr = asset.media_type.as_deref().is_some_and(|t| t.contains("zarr")) || asset.resolved.trim_end_matches('/').ends_with(".zarr");
    zarr && !asset.resolved.contains("://")
}
