//! The Map panel: a [`walkers`] slippy map with
//!
//! - the shipped Natural Earth basemap underneath (drawn even offline),
//! - optional HTTP raster tiles (OpenStreetMap by default, URL configurable, cached on disk),
//! - raster tile layers: COG previews rendered into Web Mercator tiles in the background
//!   ([`raster_tiles::CogTiles`], a `walkers::Tiles` source),
//! - raster overlays (RGBA image + lon/lat bounds),
//! - the app's vector layers (footprints, bboxes, query results) with per-layer visibility,
//!   opacity and "zoom to layer", hover tooltips and click-to-select,
//! - a drawing tool (rectangle, polygon) whose result other panels can use,
//! - a status line with the cursor's lon/lat, the zoom level and the drawn geometry as WKT.
//!
//! Paint order, bottom to top: basemap, HTTP tiles, raster tile layers, raster overlays, vector
//! layers, drawing.
//!
//! The panel does not touch app state: [`MapState::map_ui`] returns [`MapAction`]s.

pub mod basemap_layer;
pub mod draw;
pub mod projection;
pub mod raster;
pub mod raster_tiles;
pub mod tiles;
pub mod vector;
pub mod wkt;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::DragPanButtons;
use egui::{
    Align, Align2, Color32, FontId, Layout, Popup, PopupCloseBehavior, Rect, RichText, Shape,
    Slider, TextEdit, Ui, UiBuilder, Vec2, pos2, vec2,
};
use geo::Geometry;
use serde::{Deserialize, Serialize};
use walkers::{HttpTiles, Map, MapMemory, Tiles as _};

pub use basemap_layer::{BasemapColors, PaintStats};
pub use draw::DrawTool;
pub use raster::RasterOverlay;
pub use raster_tiles::CogTiles;

pub use crate::engine::raster::preview::PreviewSource;

use basemap_layer::{BasemapPlugin, BasemapStatus, basemap_status};
use draw::{DrawingInProgress, DrawingPlugin};
use projection::{WorldToScreen, fit_bbox, position, valid_lon_lat_bbox};
use raster::RasterOverlaysPlugin;
use tiles::{OSM_ATTRIBUTION, OSM_TILE_URL, http_tiles, is_valid_template, tile_cache_dir};
use vector::{VectorLayersPlugin, VectorOutput, layer_bbox};

/// One feature of a vector layer.
#[derive(Debug, Clone, PartialEq)]
pub struct MapFeature {
    /// Shown as a tooltip when hovered.
    pub label: String,
    /// In lon/lat degrees (WGS 84).
    pub geometry: Geometry<f64>,
    /// Drawn highlighted.
    pub selected: bool,
}

impl MapFeature {
    /// An unselected feature.
    pub fn new(label: impl Into<String>, geometry: Geometry<f64>) -> Self {
        Self {
            label: label.into(),
            geometry,
            selected: false,
        }
    }
}

/// A vector layer the app hands to the map each frame.
#[derive(Debug, Clone, PartialEq)]
pub struct MapLayer {
    /// Stable id; visibility and opacity are kept per id.
    pub id: String,
    /// Shown in the layers list.
    pub name: String,
    /// The features, drawn in order (later on top).
    pub features: Vec<MapFeature>,
    /// Stroke color; fills use it translucently.
    pub color: Color32,
}

/// A raster layer drawn from COGs as Web Mercator tiles (e.g. an item's false-colour preview).
/// The definition persists; its tiles are rendered again when needed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RasterTileLayer {
    /// Stable id (e.g. `preview:<item id>`).
    pub id: String,
    /// Shown in the layers list.
    pub name: String,
    /// The COG(s) and how their values become colours.
    pub source: PreviewSource,
    /// 0 (invisible) to 1 (opaque).
    pub opacity: f32,
    /// Drawn at all.
    pub visible: bool,
}

/// What the user did on the map, for the app to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum MapAction {
    /// A feature was clicked (with the Pan tool).
    FeatureClicked {
        /// [`MapLayer::id`] of its layer.
        layer_id: String,
        /// Index into [`MapLayer::features`].
        index: usize,
    },
    /// A rectangle or polygon was drawn (lon/lat); also kept in [`MapState::drawn_geometry`].
    GeometryDrawn(Geometry<f64>),
    /// The drawn geometry was cleared.
    GeometryCleared,
    /// The map was clicked (Pan tool) away from any vector feature, at this lon/lat.
    Clicked { lon: f64, lat: f64 },
    /// The pointer moved onto another feature (`(layer id, feature index)`) or off all features.
    HoverChanged(Option<(String, usize)>),
}

/// Per-layer display settings, owned by the panel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LayerSettings {
    /// Drawn at all.
    pub visible: bool,
    /// 0 (invisible) to 1 (opaque).
    pub opacity: f32,
}

impl Default for LayerSettings {
    fn default() -> Self {
        Self {
            visible: true,
            opacity: 1.0,
        }
    }
}

/// Things that live only while the app runs.
#[derive(Default)]
struct Runtime {
    memory: Option<MapMemory>,
    tiles: Option<HttpTiles>,
    /// One tile source per entry of [`MapState::raster_tile_layers`], in the same order.
    raster_tiles: Vec<CogTiles>,
    /// Tile cache folder set by the app; `None` means the default.
    cache_dir: Option<PathBuf>,
    /// The template `tiles` was made for.
    tiles_template: String,
    /// Text field contents of the tile URL settings.
    url_edit: Option<String>,
    attribution_edit: Option<String>,
    drawing: DrawingInProgress,
    map_rect: Option<Rect>,
    view: Option<WorldToScreen>,
    cursor: Option<(f64, f64)>,
    basemap_stats: PaintStats,
    basemap_message: Option<String>,
    tiles_loading: usize,
    /// Time the map widget took in the last frame (without egui's tessellation).
    frame_time: Option<Duration>,
    /// The feature under the pointer in the last frame: (layer id, feature index).
    hovered: Option<(String, usize)>,
}

/// State of the Map panel. The app stores it (the persisted parts serialize with serde) and
/// calls [`MapState::map_ui`] each frame.
#[derive(Serialize, Deserialize)]
#[serde(default)]
pub struct MapState {
    /// HTTP tile URL template with `{z}`, `{x}`, `{y}`.
    pub tile_url: String,
    /// Attribution painted on the map for the HTTP tiles.
    pub tile_attribution: String,
    /// Whether HTTP tiles are requested and drawn.
    pub http_tiles_enabled: bool,
    /// Opacity of the HTTP tiles.
    pub http_tiles_opacity: f32,
    /// Whether the shipped Natural Earth basemap is drawn.
    pub basemap_visible: bool,
    /// Map center, `[lon, lat]` degrees.
    pub center: [f64; 2],
    /// Zoom level (0 = whole world in 256 points).
    pub zoom: f64,
    /// Visibility/opacity per layer id (vector layers and raster overlays).
    pub layer_settings: BTreeMap<String, LayerSettings>,
    /// Whether the layers list is shown.
    pub layers_panel_open: bool,
    /// Active tool.
    #[serde(skip)]
    pub tool: DrawTool,
    /// The last drawn rectangle/polygon (lon/lat).
    #[serde(skip)]
    pub drawn_geometry: Option<Geometry<f64>>,
    /// Raster tile layers (COG previews), drawn above the HTTP tiles and basemap and below
    /// raster overlays and vector layers; later entries on top.
    pub raster_tile_layers: Vec<RasterTileLayer>,
    /// Raster overlays (RGBA images), drawn above the tiles and below vector layers.
    #[serde(skip)]
    pub raster_overlays: Vec<RasterOverlay>,
    #[serde(skip)]
    runtime: Runtime,
}

impl Default for MapState {
    fn default() -> Self {
        Self {
            tile_url: OSM_TILE_URL.to_string(),
            tile_attribution: OSM_ATTRIBUTION.to_string(),
            http_tiles_enabled: true,
            http_tiles_opacity: 1.0,
            basemap_visible: true,
            center: [10.0, 50.0],
            zoom: 3.0,
            layer_settings: BTreeMap::new(),
            layers_panel_open: true,
            tool: DrawTool::Pan,
            drawn_geometry: None,
            raster_tile_layers: Vec::new(),
            raster_overlays: Vec::new(),
            runtime: Runtime::default(),
        }
    }
}

impl std::fmt::Debug for MapState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapState")
            .field("tile_url", &self.tile_url)
            .field("http_tiles_enabled", &self.http_tiles_enabled)
            .field("center", &self.center)
            .field("zoom", &self.zoom)
            .field("tool", &self.tool)
            .field("drawn_geometry", &self.drawn_geometry)
            .finish_non_exhaustive()
    }
}

/// Height reserved for the status line under the map.
const STATUS_HEIGHT: f32 = 22.0;

impl MapState {
    /// Center `[lon, lat]` of the map as of the last frame (or as set).
    pub fn center(&self) -> [f64; 2] {
        self.center
    }

    /// Zoom level as of the last frame (or as set).
    pub fn zoom(&self) -> f64 {
        self.zoom
    }

    /// Look at `[lon, lat]` with `zoom`.
    pub fn set_view(&mut self, center: [f64; 2], zoom: f64) {
        self.center = center;
        self.zoom = zoom.clamp(0.0, 19.0);
        if let Some(memory) = self.runtime.memory.as_mut() {
            memory.center_at(position(self.center[0], self.center[1]));
            let _ = memory.set_zoom(self.zoom);
        }
    }

    /// Fit `[min_lon, min_lat, max_lon, max_lat]` into the map (e.g. when an item is selected
    /// elsewhere). Invalid boxes are ignored; a point bbox zooms in close.
    pub fn zoom_to_bbox(&mut self, bbox: [f64; 4]) {
        if !valid_lon_lat_bbox(bbox) {
            return;
        }
        let viewport = self
            .runtime
            .map_rect
            .map_or(vec2(800.0, 600.0), |rect| rect.size());
        let ((lon, lat), zoom) = fit_bbox(bbox, viewport, 24.0);
        self.set_view([lon, lat], zoom);
    }

    /// [`MapState::zoom_to_bbox`] for a `geo` rectangle in lon/lat.
    pub fn zoom_to_rect(&mut self, rect: geo::Rect<f64>) {
        self.zoom_to_bbox([rect.min().x, rect.min().y, rect.max().x, rect.max().y]);
    }

    /// Cache HTTP tiles in `dir` (the app's cache folder) instead of the default
    /// `<user cache dir>/meshlake/tiles`. Takes effect when the tile source is (re)made.
    pub fn set_tile_cache_dir(&mut self, dir: PathBuf) {
        if self.runtime.cache_dir.as_ref() != Some(&dir) {
            self.runtime.cache_dir = Some(dir);
            // Remake the tile source with the new cache.
            self.runtime.tiles_template.clear();
        }
    }

    /// Where HTTP tiles are cached.
    pub fn tile_cache_dir(&self) -> Option<PathBuf> {
        self.runtime.cache_dir.clone().or_else(tile_cache_dir)
    }

    /// Map settings for a settings window: HTTP tiles on/off, URL template, attribution,
    /// basemap on/off.
    pub fn settings_ui(&mut self, ui: &mut Ui) {
        self.tile_settings_ui(ui);
        ui.checkbox(&mut self.basemap_visible, "Basemap (Natural Earth)");
    }

    /// Show the whole world.
    pub fn zoom_to_world(&mut self) {
        self.set_view([0.0, 20.0], 1.0);
    }

    /// Visibility/opacity of a layer or raster overlay.
    pub fn layer_settings(&self, layer_id: &str) -> LayerSettings {
        self.layer_settings
            .get(layer_id)
            .copied()
            .unwrap_or_default()
    }

    /// Whether a layer or raster overlay is visible.
    pub fn is_layer_visible(&self, layer_id: &str) -> bool {
        self.layer_settings(layer_id).visible
    }

    /// Add or replace (same id) a raster overlay.
    pub fn set_raster_overlay(&mut self, overlay: RasterOverlay) {
        self.raster_overlays.retain(|o| o.id != overlay.id);
        self.raster_overlays.push(overlay);
    }

    /// Remove a raster overlay.
    pub fn remove_raster_overlay(&mut self, id: &str) {
        self.raster_overlays.retain(|o| o.id != id);
    }

    /// Add a raster tile layer on top of the others, or replace the source and name of the one
    /// with this id (keeping its place, visibility and opacity). Tiles render in the background
    /// once the map is drawn.
    pub fn set_raster_tile_layer(
        &mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        source: PreviewSource,
    ) {
        let id = id.into();
        let name = name.into();
        match self.raster_tile_layers.iter_mut().find(|l| l.id == id) {
            Some(layer) => {
                layer.name = name;
                layer.source = source;
            }
            None => self.raster_tile_layers.push(RasterTileLayer {
                id,
                name,
                source,
                opacity: 1.0,
                visible: true,
            }),
        }
    }

    /// Remove a raster tile layer (its render threads end, its textures are freed).
    pub fn remove_raster_tile_layer(&mut self, id: &str) {
        self.raster_tile_layers.retain(|l| l.id != id);
        self.runtime.raster_tiles.retain(|t| t.layer_id() != id);
    }

    /// Ids of the raster tile layers, bottom to top.
    pub fn raster_tile_layer_ids(&self) -> Vec<String> {
        self.raster_tile_layers
            .iter()
            .map(|l| l.id.clone())
            .collect()
    }

    /// The raster tile layer with this id.
    pub fn raster_tile_layer(&self, id: &str) -> Option<&RasterTileLayer> {
        self.raster_tile_layers.iter().find(|l| l.id == id)
    }

    /// The tile source of a raster tile layer, once the map has been drawn with it.
    pub fn raster_tiles(&self, id: &str) -> Option<&CogTiles> {
        self.runtime
            .raster_tiles
            .iter()
            .find(|t| t.layer_id() == id)
    }

    /// Tiles of a raster tile layer rendered so far (0 before the map was drawn with it).
    pub fn rendered_raster_tiles(&self, id: &str) -> usize {
        self.raster_tiles(id).map_or(0, CogTiles::rendered_tiles)
    }

    /// Make one tile source per raster tile layer, in the layers' order; sources of removed
    /// layers or changed sources are dropped (their threads end on their own).
    fn sync_raster_tiles(&mut self, ctx: &egui::Context) {
        let in_order = self
            .raster_tile_layers
            .iter()
            .zip(&self.runtime.raster_tiles);
        if self.raster_tile_layers.len() == self.runtime.raster_tiles.len()
            && in_order.into_iter().all(|(layer, tiles)| {
                tiles.layer_id() == layer.id && *tiles.source() == layer.source
            })
        {
            return;
        }
        let mut previous = std::mem::take(&mut self.runtime.raster_tiles);
        for layer in &self.raster_tile_layers {
            let reusable = previous
                .iter()
                .position(|t| t.layer_id() == layer.id && *t.source() == layer.source);
            let tiles = match reusable {
                Some(index) => previous.swap_remove(index),
                None => CogTiles::new(ctx, layer.id.clone(), layer.source.clone()),
            };
            self.runtime.raster_tiles.push(tiles);
        }
    }

    /// Drop the drawn geometry and any unfinished drawing.
    pub fn clear_drawing(&mut self) {
        self.drawn_geometry = None;
        self.runtime.drawing.cancel();
    }

    /// The drawn geometry as WKT.
    pub fn drawn_wkt(&self) -> Option<String> {
        self.drawn_geometry.as_ref().map(wkt::to_wkt)
    }

    /// Where the map was on screen in the last frame.
    pub fn map_rect(&self) -> Option<Rect> {
        self.runtime.map_rect
    }

    /// `[west, south, east, north]` the map showed in the last frame (clamped to the Web Mercator
    /// world); None before the map was first drawn.
    pub fn visible_bbox(&self) -> Option<[f64; 4]> {
        let (rect, view) = (self.runtime.map_rect?, self.runtime.view?);
        let (west, north) = view.screen_to_lon_lat(rect.left_top());
        let (east, south) = view.screen_to_lon_lat(rect.right_bottom());
        let bbox = [west.max(-180.0), south.max(-85.06), east.min(180.0), north.min(85.06)];
        (bbox.iter().all(|v| v.is_finite()) && bbox[0] < bbox[2] && bbox[1] < bbox[3]).then_some(bbox)
    }

    /// Lon/lat under a screen point, using the last frame's view.
    pub fn lon_lat_at(&self, screen: egui::Pos2) -> Option<(f64, f64)> {
        self.runtime.view.map(|view| view.screen_to_lon_lat(screen))
    }

    /// Screen point of a lon/lat, using the last frame's view.
    pub fn screen_pos_of(&self, lon: f64, lat: f64) -> Option<egui::Pos2> {
        self.runtime
            .view
            .map(|view| view.lon_lat_to_screen(lon, lat))
    }

    /// Lon/lat under the pointer in the last frame.
    pub fn cursor_lon_lat(&self) -> Option<(f64, f64)> {
        self.runtime.cursor
    }

    /// Time the map widget took in the last frame (basemap, tiles, layers, tools; without
    /// egui's tessellation).
    pub fn frame_time(&self) -> Option<Duration> {
        self.runtime.frame_time
    }

    /// What the basemap painted in the last frame.
    pub fn basemap_stats(&self) -> PaintStats {
        self.runtime.basemap_stats
    }

    /// The whole panel: toolbar, layers list, map and status line.
    pub fn map_ui(&mut self, ui: &mut Ui, layers: &[MapLayer]) -> Vec<MapAction> {
        let mut actions = Vec::new();
        self.toolbar_ui(ui, &mut actions);

        if self.layers_panel_open {
            egui::Panel::right("meshlake_map_layers")
                .resizable(true)
                .default_size(230.0)
                .show(ui, |ui| self.layers_list_ui(ui, layers));
        }

        let available = ui.available_rect_before_wrap();
        let map_bottom = (available.max.y - STATUS_HEIGHT).max(available.min.y + 40.0);
        let map_rect = Rect::from_min_max(available.min, pos2(available.max.x, map_bottom));
        let status_rect = Rect::from_min_max(pos2(available.min.x, map_bottom), available.max);

        ui.scope_builder(UiBuilder::new().max_rect(map_rect), |ui| {
            self.map_view_ui(ui, layers, &mut actions);
        });
        ui.scope_builder(
            UiBuilder::new()
                .max_rect(status_rect)
                .layout(Layout::left_to_right(Align::Center)),
            |ui| self.status_line_ui(ui),
        );
        actions
    }

    /// Tool buttons, Clear, the layers toggle and the tile settings popover.
    fn toolbar_ui(&mut self, ui: &mut Ui, actions: &mut Vec<MapAction>) {
        ui.horizontal(|ui| {
            for tool in [DrawTool::Pan, DrawTool::Rectangle, DrawTool::Polygon] {
                let hint = match tool {
                    DrawTool::Pan => {
                        "Drag to pan, scroll with Ctrl to zoom, click a feature to select it"
                    }
                    DrawTool::Rectangle => "Drag to draw a rectangle",
                    DrawTool::Polygon => {
                        "Click to add vertices; double-click or Enter finishes, Esc cancels"
                    }
                };
                if ui
                    .selectable_label(self.tool == tool, tool.label())
                    .on_hover_text(hint)
                    .clicked()
                {
                    self.tool = tool;
                    self.runtime.drawing.cancel();
                }
            }
            let can_clear = self.drawn_geometry.is_some() || self.runtime.drawing.is_active();
            if ui
                .add_enabled(can_clear, egui::Button::new("Clear"))
                .on_hover_text("Remove the drawn geometry")
                .clicked()
            {
                self.clear_drawing();
                actions.push(MapAction::GeometryCleared);
            }
            ui.separator();
            if ui.button("+").on_hover_text("Zoom in").clicked() {
                self.set_view(self.center, (self.zoom + 1.0).floor());
            }
            if ui.button("-").on_hover_text("Zoom out").clicked() {
                self.set_view(self.center, (self.zoom - 1.0).ceil().max(0.0));
            }
            if ui
                .button("World")
                .on_hover_text("Show the whole world")
                .clicked()
            {
                self.zoom_to_world();
            }
            ui.separator();
            ui.toggle_value(&mut self.layers_panel_open, "Layers");
            let response = ui
                .button("Tiles...")
                .on_hover_text("HTTP tile source settings");
            Popup::from_toggle_button_response(&response)
                .close_behavior(PopupCloseBehavior::CloseOnClickOutside)
                .show(|ui| self.tile_settings_ui(ui));
        });
    }

    /// The tile settings popover.
    fn tile_settings_ui(&mut self, ui: &mut Ui) {
        ui.set_min_width(360.0);
        ui.checkbox(&mut self.http_tiles_enabled, "HTTP tiles");
        let url_label = ui.label("Tile URL template ({z}, {x}, {y})");
        let url = self
            .runtime
            .url_edit
            .get_or_insert_with(|| self.tile_url.clone());
        ui.add(
            TextEdit::singleline(url)
                .hint_text(OSM_TILE_URL)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(url_label.id);
        let valid = is_valid_template(url);
        let attribution_label = ui.label("Attribution");
        let attribution = self
            .runtime
            .attribution_edit
            .get_or_insert_with(|| self.tile_attribution.clone());
        ui.add(TextEdit::singleline(attribution).desired_width(f32::INFINITY))
            .labelled_by(attribution_label.id);
        if !valid {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "Needs http(s):// and {z}, {x}, {y}",
            );
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(valid, egui::Button::new("Apply")).clicked() {
                if let Some(url) = &self.runtime.url_edit {
                    self.tile_url = url.trim().to_string();
                }
                if let Some(attribution) = &self.runtime.attribution_edit {
                    self.tile_attribution = attribution.trim().to_string();
                }
            }
            if ui.button("OpenStreetMap").clicked() {
                self.tile_url = OSM_TILE_URL.to_string();
                self.tile_attribution = OSM_ATTRIBUTION.to_string();
                self.runtime.url_edit = Some(self.tile_url.clone());
                self.runtime.attribution_edit = Some(self.tile_attribution.clone());
            }
        });
        match self.tile_cache_dir() {
            Some(dir) => ui.weak(format!("Cache: {}", dir.display())),
            None => ui.weak("No cache directory; tiles are not cached"),
        };
    }

    /// The layers list: basemap, tiles, raster overlays and vector layers.
    fn layers_list_ui(&mut self, ui: &mut Ui, layers: &[MapLayer]) {
        ui.label(RichText::new("Layers").strong());
        ui.checkbox(&mut self.basemap_visible, "Basemap (Natural Earth)");
        ui.checkbox(&mut self.http_tiles_enabled, "HTTP tiles");
        if self.http_tiles_enabled {
            ui.add(Slider::new(&mut self.http_tiles_opacity, 0.0..=1.0).text("Tile opacity"));
        }
        ui.separator();
        let mut zoom_to = None;
        egui::ScrollArea::vertical()
            .auto_shrink([false, true])
            .show(ui, |ui| {
                if layers.is_empty()
                    && self.raster_overlays.is_empty()
                    && self.raster_tile_layers.is_empty()
                {
                    ui.weak("No layers yet");
                }
                for layer in self.raster_tile_layers.iter_mut().rev() {
                    let tiles = self
                        .runtime
                        .raster_tiles
                        .iter()
                        .find(|t| t.layer_id() == layer.id);
                    ui.push_id(("raster_tiles", &layer.id), |ui| {
                        let error = tiles.and_then(CogTiles::error);
                        ui.horizontal(|ui| {
                            ui.checkbox(&mut layer.visible, layer.name.as_str());
                            if let Some(error) = error {
                                ui.colored_label(ui.visuals().error_fg_color, "⚠")
                                    .on_hover_text(error);
                            }
                        });
                        if let Some(error) = error {
                            ui.add(
                                egui::Label::new(
                                    RichText::new(error)
                                        .small()
                                        .color(ui.visuals().error_fg_color),
                                )
                                .wrap(),
                            );
                        }
                        ui.add(Slider::new(&mut layer.opacity, 0.0..=1.0).text("Opacity"));
                        ui.horizontal(|ui| {
                            let bounds = tiles.and_then(CogTiles::lonlat_bounds);
                            if ui
                                .add_enabled(bounds.is_some(), egui::Button::new("Zoom to layer"))
                                .clicked()
                            {
                                zoom_to = bounds;
                            }
                            if let Some(tiles) = tiles {
                                match tiles.pending_tiles() {
                                    0 => ui
                                        .weak(format!("{} tiles rendered", tiles.rendered_tiles())),
                                    pending => ui.weak(format!("rendering {pending} tiles")),
                                };
                            }
                        });
                    });
                    ui.separator();
                }
                for overlay in &self.raster_overlays {
                    ui.push_id(("raster", &overlay.id), |ui| {
                        let settings = self.layer_settings.entry(overlay.id.clone()).or_default();
                        ui.checkbox(&mut settings.visible, overlay.name.as_str());
                        ui.add(Slider::new(&mut settings.opacity, 0.0..=1.0).text("Opacity"));
                        if ui.button("Zoom to layer").clicked() {
                            zoom_to = Some(overlay.bounds);
                        }
                    });
                    ui.separator();
                }
                for layer in layers.iter().rev() {
                    ui.push_id(("vector", &layer.id), |ui| {
                        let settings = self.layer_settings.entry(layer.id.clone()).or_default();
                        ui.horizontal(|ui| {
                            let (swatch, _) =
                                ui.allocate_exact_size(vec2(10.0, 10.0), egui::Sense::hover());
                            ui.painter().rect_filled(swatch, 2.0, layer.color);
                            ui.checkbox(&mut settings.visible, layer.name.as_str());
                        });
                        ui.add(Slider::new(&mut settings.opacity, 0.0..=1.0).text("Opacity"));
                        ui.horizontal(|ui| {
                            let bbox = layer_bbox(layer);
                            if ui
                                .add_enabled(bbox.is_some(), egui::Button::new("Zoom to layer"))
                                .clicked()
                            {
                                zoom_to = bbox;
                            }
                            ui.weak(format!("{} features", layer.features.len()));
                        });
                    });
                    ui.separator();
                }
            });
        if let Some(bbox) = zoom_to {
            self.zoom_to_bbox(bbox);
        }
    }

    /// The map widget with all its layers.
    fn map_view_ui(&mut self, ui: &mut Ui, layers: &[MapLayer], actions: &mut Vec<MapAction>) {
        let started = Instant::now();
        let ctx = ui.ctx().clone();

        // HTTP tiles, (re)made lazily when enabled or when the template changed.
        if self.http_tiles_enabled
            && (self.runtime.tiles.is_none() || self.runtime.tiles_template != self.tile_url)
        {
            if let Some(old) = self.runtime.tiles.take() {
                // Dropping joins walkers' IO thread; keep that off the UI thread.
                let _ = std::thread::Builder::new()
                    .name("meshlake-tiles-drop".into())
                    .spawn(move || drop(old));
            }
            self.runtime.tiles = Some(http_tiles(&self.tile_url, self.tile_cache_dir(), &ctx));
            self.runtime.tiles_template = self.tile_url.clone();
        }
        for overlay in &mut self.raster_overlays {
            overlay.upload(&ctx);
        }
        self.sync_raster_tiles(&ctx);

        let basemap = if self.basemap_visible {
            match basemap_status(&ctx) {
                BasemapStatus::Ready(geometry) => {
                    self.runtime.basemap_message = None;
                    Some(geometry)
                }
                BasemapStatus::Loading => {
                    self.runtime.basemap_message = Some("Loading basemap...".into());
                    ctx.request_repaint_after(Duration::from_millis(100));
                    None
                }
                BasemapStatus::Failed(error) => {
                    self.runtime.basemap_message = Some(format!("Basemap unavailable: {error}"));
                    None
                }
            }
        } else {
            self.runtime.basemap_message = None;
            None
        };
        // Reserved before the tiles paint, filled by the basemap plugin: keeps it underneath.
        let basemap_slot = ui.painter().add(Shape::Noop);

        let Self {
            http_tiles_enabled,
            http_tiles_opacity,
            center,
            zoom,
            layer_settings,
            tool,
            drawn_geometry,
            raster_tile_layers,
            raster_overlays,
            runtime,
            tile_attribution,
            ..
        } = self;
        // Persisted values may be anything: keep them in range.
        if !(center[0].is_finite() && center[1].is_finite()) {
            *center = MapState::default().center;
        }
        center[0] = center[0].clamp(-180.0, 180.0);
        center[1] = center[1].clamp(-85.0, 85.0);
        if !zoom.is_finite() {
            *zoom = MapState::default().zoom;
        }
        *zoom = zoom.clamp(0.0, 19.0);
        let my_position = position(center[0], center[1]);
        let memory = runtime.memory.get_or_insert_with(|| {
            let mut memory = MapMemory::default();
            memory.center_at(my_position);
            let _ = memory.set_zoom(*zoom);
            memory
        });

        let accent = ui.visuals().selection.stroke.color;
        let colors = BasemapColors::for_dark_mode(ui.visuals().dark_mode);
        let mut basemap_stats = PaintStats::default();
        let mut vector_output = VectorOutput::default();
        let mut finished = None;
        let mut tiles_loading = 0;

        let mut map = Map::new(None, memory, my_position)
            .drag_pan_buttons(if *tool == DrawTool::Pan {
                DragPanButtons::PRIMARY | DragPanButtons::MIDDLE
            } else {
                DragPanButtons::MIDDLE | DragPanButtons::SECONDARY
            })
            .double_click_to_zoom(*tool == DrawTool::Pan);
        if *http_tiles_enabled && let Some(tiles) = runtime.tiles.as_mut() {
            tiles_loading = tiles.stats().in_progress;
            map = map.with_layer(tiles, *http_tiles_opacity);
        }
        // Above the HTTP tiles (walkers draws layers in order), below the plugins' overlays,
        // vector layers and drawing. Opacity tints the tile meshes.
        for (tiles, layer) in runtime
            .raster_tiles
            .iter_mut()
            .zip(raster_tile_layers.iter())
        {
            if layer.visible {
                map = map.with_layer(tiles, layer.opacity.clamp(0.0, 1.0));
            }
        }
        if let Some(geometry) = basemap {
            map = map.with_plugin(BasemapPlugin {
                slot: basemap_slot,
                geometry,
                colors,
                stats: &mut basemap_stats,
            });
        }
        let overlays: Vec<(&RasterOverlay, f32)> = raster_overlays
            .iter()
            .filter_map(|overlay| {
                let settings = layer_settings.get(&overlay.id).copied().unwrap_or_default();
                settings.visible.then_some((overlay, settings.opacity))
            })
            .collect();
        if !overlays.is_empty() {
            map = map.with_plugin(RasterOverlaysPlugin { overlays });
        }
        map = map
            .with_plugin(VectorLayersPlugin {
                layers,
                settings: layer_settings,
                interactive: *tool == DrawTool::Pan,
                output: &mut vector_output,
            })
            .with_plugin(DrawingPlugin {
                tool: *tool,
                progress: &mut runtime.drawing,
                drawn: drawn_geometry.as_ref(),
                finished: &mut finished,
                accent,
            });

        let attribution =
            attribution_text(*http_tiles_enabled, tile_attribution, basemap.is_some());
        let inner = map.show(ui, |ui, response, projector, _memory| {
            let view = WorldToScreen::from_projector(projector);
            paint_attribution(ui, projector.clip_rect(), &attribution);
            let cursor = response.hover_pos().map(|p| view.screen_to_lon_lat(p));
            let clicked_at = response.clicked().then(|| response.interact_pointer_pos()).flatten().map(|p| view.screen_to_lon_lat(p));
            (view, cursor, clicked_at)
        });
        let (view, cursor, clicked_at) = inner.inner;

        // Read back the view.
        if let Some(memory) = runtime.memory.as_ref() {
            if let Some(p) = memory.detached() {
                *center = [p.x(), p.y()];
            }
            *zoom = memory.zoom();
        }
        runtime.map_rect = Some(inner.response.rect);
        runtime.view = Some(view);
        runtime.cursor = cursor;
        runtime.basemap_stats = basemap_stats;
        runtime.tiles_loading = tiles_loading;

        let hovered = vector_output.hovered.and_then(|(layer, feature)| Some((layers.get(layer)?.id.clone(), feature)));
        if hovered != runtime.hovered {
            runtime.hovered = hovered.clone();
            actions.push(MapAction::HoverChanged(hovered));
        }
        if let Some((layer_id, index)) = vector_output.clicked {
            actions.push(MapAction::FeatureClicked { layer_id, index });
        } else if let (Some((lon, lat)), DrawTool::Pan) = (clicked_at, *tool) {
            actions.push(MapAction::Clicked { lon, lat });
        }
        if let Some(geometry) = finished {
            *drawn_geometry = Some(geometry.clone());
            actions.push(MapAction::GeometryDrawn(geometry));
        }

        runtime.frame_time = Some(started.elapsed());
    }

    /// Cursor lon/lat, zoom, loading notes and the drawn geometry's WKT.
    fn status_line_ui(&mut self, ui: &mut Ui) {
        match self.runtime.cursor {
            Some((lon, lat)) => ui.label(format!("Lon {lon:.5}, Lat {lat:.5}")),
            None => ui.label("Lon -, Lat -"),
        };
        ui.separator();
        let zoom_label = ui.label(format!("Zoom {:.2}", self.zoom));
        if let Some(frame_time) = self.runtime.frame_time {
            zoom_label.on_hover_text(format!(
                "Map frame time {:.2} ms; basemap: {} chunks, {} vertices, {} lines",
                frame_time.as_secs_f64() * 1000.0,
                self.runtime.basemap_stats.chunks,
                self.runtime.basemap_stats.vertices,
                self.runtime.basemap_stats.lines,
            ));
        }
        if let Some(message) = &self.runtime.basemap_message {
            ui.separator();
            ui.weak(message.as_str());
        }
        if self.http_tiles_enabled && self.runtime.tiles_loading > 0 {
            ui.separator();
            ui.weak(format!("Loading {} tiles", self.runtime.tiles_loading));
        }
        if self.tool == DrawTool::Polygon && !self.runtime.drawing.polygon.is_empty() {
            ui.separator();
            ui.weak(format!(
                "{} vertices (double-click or Enter to finish, Esc to cancel)",
                self.runtime.drawing.polygon.len()
            ));
        }
        if let Some(wkt) = self.drawn_wkt() {
            ui.separator();
            ui.add(egui::Label::new(format!("WKT: {wkt}")).truncate())
                .on_hover_text(wkt);
        }
    }
}

/// The attribution line for what is drawn.
fn attribution_text(http_tiles: bool, tile_attribution: &str, basemap: bool) -> String {
    let mut parts = Vec::new();
    if http_tiles && !tile_attribution.trim().is_empty() {
        parts.push(tile_attribution.trim().to_string());
    }
    if basemap {
        parts.push("Natural Earth".to_string());
    }
    parts.join(" | ")
}

/// Small attribution text in the map's bottom-right corner.
fn paint_attribution(ui: &Ui, map_rect: Rect, text: &str) {
    if text.is_empty() {
        return;
    }
    let painter = ui.painter().with_clip_rect(map_rect);
    let galley = painter.layout_no_wrap(
        text.to_string(),
        FontId::proportional(10.0),
        ui.visuals().text_color(),
    );
    let size = galley.size() + Vec2::new(8.0, 4.0);
    let rect = Align2::RIGHT_BOTTOM.align_size_within_rect(size, map_rect);
    painter.rect_filled(rect, 2.0, ui.visuals().panel_fill.gamma_multiply(0.8));
    painter.galley(rect.min + Vec2::new(4.0, 2.0), galley, Color32::PLACEHOLDER);
}
