//! STAC search in the Catalog panel: a source (STAC API URL, static catalog or item collection file),
//! a search form (collections, bbox from the map view or the drawn shape, datetime, cloud cover,
//! max items), results streaming into a virtualized sortable table, item details, footprints on
//! the map, cancel. The results live in [`StacResults`] (model); the form in [`StacSearchView`].

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use serde_json::Value;

use crate::engine::jobs::JobId;
use crate::engine::stac::api::ApiInfo;
use crate::engine::stac::api::SearchSummary;
use crate::engine::stac::job::{StacSearchPage, StacSearchResult};
use crate::engine::stac::queryables::{Queryable, QueryablesResult};
use crate::engine::stac::search::{SearchParams, StacItemSummary, normalize_datetime, parse_bbox, parse_filter, parse_query};
use crate::ui::commands::Command;
use crate::ui::map::projection::{WorldToScreen, world_to_lon_lat};
use crate::ui::map::{MapFeature, MapLayer, MapState};
use crate::ui::model::AppModel;

/// Map layer id of the search results' footprints.
pub const STAC_RESULTS_LAYER_ID: &str = "stac-results";

/// The state of STAC search (in the model; changed by the app from job results).
#[derive(Debug, Default)]
pub struct StacResults {
    /// The API connected to (landing page, conformance, collections), or why it failed.
    pub api: Option<Result<ApiInfo, String>>,
    pub connecting: bool,
    /// Bumped for every search; pages of older searches are ignored.
    pub generation: u64,
    pub job: Option<JobId>,
    pub running: bool,
    pub source: String,
    pub items: Vec<StacItemSummary>,
    pub matched: Option<u64>,
    pub pages: u64,
    /// The finished search's summary (where query/filter/sortby were applied).
    pub summary: Option<SearchSummary>,
    pub error: Option<String>,
    pub selected: Option<usize>,
    /// The result whose footprint is under the map pointer (its row is highlighted).
    pub hovered: Option<usize>,
    /// Item index of each feature of the results layer.
    pub layer_items: Vec<usize>,
    /// Sources searched or connected to, most recent first (persisted by the app).
    pub recent: Vec<String>,
    /// The queryables of the source (read from the API or derived from the items), or why they could not be had.
    pub queryables: Option<Result<QueryablesResult, String>>,
    pub queryables_loading: bool,
    /// Item thumbnails by href (search results and catalog nodes alike).
    pub thumbnails: Thumbnails,
}

/// Thumbnails by href.
pub type Thumbnails = std::collections::HashMap<String, ThumbnailState>;

/// Where an item thumbnail is.
pub enum ThumbnailState {
    /// Its job runs.
    Loading,
    /// Decoded; the app makes the texture in its logic pass.
    Decoded { image: egui::ColorImage, from_cache: bool },
    Ready { texture: egui::TextureHandle, from_cache: bool },
    /// What failed, and where.
    Failed(String),
}

impl std::fmt::Debug for ThumbnailState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThumbnailState::Loading => write!(f, "Loading"),
            ThumbnailState::Decoded { image, .. } => write!(f, "Decoded({:?})", image.size),
            ThumbnailState::Ready { texture, from_cache } => write!(f, "Ready({:?}, from_cache: {from_cache})", texture.size()),
            ThumbnailState::Failed(error) => write!(f, "Failed({error})"),
        }
    }
}

impl StacResults {
    /// At most this many thumbnails are kept; older ones are dropped (and loaded again, from the disk
    /// cache, when shown again).
    pub const MAX_THUMBNAILS: usize = 64;

    /// A thumbnail job starts for `href`.
    pub fn thumbnail_loading(&mut self, href: &str) {
        if self.thumbnails.len() >= Self::MAX_THUMBNAILS {
            self.thumbnails.retain(|_, state| matches!(state, ThumbnailState::Loading));
        }
        self.thumbnails.insert(href.to_owned(), ThumbnailState::Loading);
    }

    /// Make textures of decoded thumbnails (in the app's logic pass).
    pub fn upload_thumbnails(&mut self, ctx: &egui::Context) {
        for (href, state) in self.thumbnails.iter_mut() {
            if let ThumbnailState::Decoded { image, from_cache } = state {
                let image = std::mem::take(image);
                let texture = ctx.load_texture(format!("stac-thumbnail:{href}"), image, egui::TextureOptions::LINEAR);
                *state = ThumbnailState::Ready { texture, from_cache: *from_cache };
            }
        }
    }
}

/// The thumbnail asset of an item (role `thumbnail`, else the asset keyed `thumbnail`).
pub fn thumbnail_asset(assets: &[crate::engine::stac::AssetSummary]) -> Option<&crate::engine::stac::AssetSummary> {
    assets
        .iter()
        .find(|a| a.roles.iter().any(|r| r == "thumbnail"))
        .or_else(|| assets.iter().find(|a| a.key.eq_ignore_ascii_case("thumbnail")))
}

/// The item's thumbnail: asked for in the background the first time it is shown, then drawn (at most
/// 256 px), or what failed in its place. `remote_source`: the item came from a remote API (local
/// hrefs are refused).
pub fn thumbnail_ui(ui: &mut Ui, thumbnails: &Thumbnails, assets: &[crate::engine::stac::AssetSummary], remote_source: bool, commands: &mut Vec<Command>) {
    let Some(asset) = thumbnail_asset(assets) else { return };
    let href = &asset.resolved;
    match thumbnails.get(href) {
        None => {
            commands.push(Command::LoadThumbnail { href: href.clone(), remote_source });
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Loading thumbnail…");
            });
        }
        Some(ThumbnailState::Loading | ThumbnailState::Decoded { .. }) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Loading thumbnail…");
            });
        }
        Some(ThumbnailState::Ready { texture, from_cache }) => {
            let size = texture.size_vec2();
            let scale = (256.0 / size.x.max(size.y)).min(1.0);
            let hint = format!("{href} ({}×{} px{})", size.x, size.y, if *from_cache { ", from the disk cache" } else { "" });
            ui.add(egui::Image::from_texture((texture.id(), size * scale)).corner_radius(4.0)).on_hover_text(hint);
        }
        Some(ThumbnailState::Failed(error)) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Thumbnail not shown: {error}"));
        }
    }
}

impl StacResults {
    pub const MAX_RECENT: usize = 10;

    /// Put `source` first in the recent sources.
    pub fn remember(&mut self, source: &str) {
        self.recent.retain(|s| s != source);
        self.recent.insert(0, source.to_owned());
        self.recent.truncate(Self::MAX_RECENT);
    }

    /// A new search begins: results cleared, its generation returned.
    pub fn start(&mut self, source: &str) -> u64 {
        self.generation += 1;
        self.running = true;
        self.source = source.to_owned();
        self.items.clear();
        self.matched = None;
        self.pages = 0;
        self.summary = None;
        self.error = None;
        self.selected = None;
        self.hovered = None;
        self.generation
    }

    /// A page arrived; false when it belongs to an older search.
    pub fn add_page(&mut self, generation: u64, page: StacSearchPage) -> bool {
        if generation != self.generation {
            return false;
        }
        self.pages = page.page;
        self.matched = page.matched.or(self.matched);
        self.items.extend(page.items);
        true
    }

    /// The search finished: its final (possibly locally sorted) list replaces the streamed one.
    pub fn finish(&mut self, generation: u64, result: StacSearchResult) -> bool {
        if generation != self.generation {
            return false;
        }
        self.running = false;
        self.job = None;
        self.pages = result.summary.pages;
        self.matched = result.summary.matched;
        self.items = result.items;
        self.summary = Some(result.summary);
        true
    }

    pub fn fail(&mut self, generation: u64, error: String) {
        if generation == self.generation {
            self.running = false;
            self.job = None;
            self.error = Some(error);
        }
    }

    /// The results' footprints as a map layer (the selected one highlighted).
    pub fn map_layer(&mut self) -> Option<MapLayer> {
        self.layer_items.clear();
        if self.items.is_empty() {
            return None;
        }
        let mut features = Vec::new();
        for (index, item) in self.items.iter().enumerate() {
            let Some(geometry) = item.footprint.clone() else { continue };
            let date = item.datetime.as_deref().map(|d| d.get(..10).unwrap_or(d)).unwrap_or("");
            features.push(MapFeature { label: format!("{} {date}", item.id), geometry, selected: self.selected == Some(index) });
            self.layer_items.push(index);
        }
        Some(MapLayer {
            id: STAC_RESULTS_LAYER_ID.to_owned(),
            name: "STAC search results".to_owned(),
            features,
            color: egui::Color32::from_rgb(40, 150, 220),
        })
    }
}

/// Which part of the Catalog panel is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CatalogTab {
    #[default]
    Catalogs,
    Search,
}

/// The columns of the results table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortColumn {
    #[default]
    Arrival,
    Id,
    Collection,
    Datetime,
    CloudCover,
    Platform,
}

/// The search form and table view state (owned by the app, changed only by this panel).
#[derive(Clone, Debug)]
pub struct StacSearchView {
    pub tab: CatalogTab,
    pub source: String,
    pub collections: String,
    pub bbox: String,
    /// A GeoJSON geometry taken from the shape drawn on the map.
    pub intersects: Option<Value>,
    pub datetime: String,
    pub cloud_max: String,
    pub max_items: String,
    /// Query-extension conditions (`eo:cloud_cover<20, platform=sentinel-2a`).
    pub query: String,
    /// A CQL2 filter (text or JSON).
    pub filter: String,
    /// The condition being composed from a queryable: its name, operator and value, and whether it
    /// goes into the CQL2 filter (else the query).
    pub pick: Option<String>,
    pub pick_op: &'static str,
    pub pick_value: String,
    pub pick_as_filter: bool,
    pub form_error: Option<String>,
    pub sort: (SortColumn, bool),
    /// Row order for `sort`, made for `order_for` (items count, sort).
    order: Vec<usize>,
    order_for: (usize, (SortColumn, bool), u64),
}

impl Default for StacSearchView {
    fn default() -> Self {
        Self {
            tab: CatalogTab::default(),
            source: String::new(),
            collections: String::new(),
            bbox: String::new(),
            intersects: None,
            datetime: String::new(),
            cloud_max: String::new(),
            max_items: "1000".to_owned(),
            query: String::new(),
            filter: String::new(),
            pick: None,
            pick_op: "=",
            pick_value: String::new(),
            pick_as_filter: false,
            form_error: None,
            sort: (SortColumn::Arrival, true),
            order: Vec::new(),
            order_for: (usize::MAX, (SortColumn::Arrival, true), 0),
        }
    }
}

impl StacSearchView {
    /// The search the form describes.
    pub fn params(&self) -> Result<SearchParams, String> {
        let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let mut params = SearchParams {
            collections: self.collections.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            datetime: non_empty(&self.datetime).map(|d| normalize_datetime(&d)).transpose().map_err(|e| e.to_string())?,
            intersects: self.intersects.clone(),
            ..Default::default()
        };
        if self.intersects.is_none()
            && let Some(bbox) = non_empty(&self.bbox)
        {
            params.bbox = Some(parse_bbox(&bbox).map_err(|e| e.to_string())?);
        }
        if let Some(cloud) = non_empty(&self.cloud_max) {
            let max: f64 = cloud.parse().map_err(|_| format!("cloud cover max {cloud:?} is not a number"))?;
            params.query = Some(parse_query(&format!("eo:cloud_cover<={max}")).map_err(|e| e.to_string())?);
        }
        if let Some(query) = non_empty(&self.query) {
            let conditions = parse_query(&query).map_err(|e| e.to_string())?;
            let merged = params.query.get_or_insert_with(Default::default);
            for (property, ops) in conditions {
                match (merged.get_mut(&property), ops) {
                    (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
                    (_, ops) => {
                        merged.insert(property, ops);
                    }
                }
            }
        }
        if let Some(filter) = non_empty(&self.filter) {
            params.filter = Some(parse_filter(&filter).map_err(|e| e.to_string())?);
        }
        if let Some(max) = non_empty(&self.max_items) {
            params.max_items = Some(max.parse().map_err(|_| format!("max items {max:?} is not a whole number"))?);
        }
        Ok(params)
    }

    /// Append the composed condition to the query or the CQL2 filter text.
    pub fn add_condition(&mut self, queryable: &Queryable) {
        let value = self.pick_value.trim();
        if value.is_empty() {
            self.form_error = Some(format!("give a value for {}", queryable.name));
            return;
        }
        self.form_error = None;
        if self.pick_as_filter {
            let literal = cql2_literal(queryable, value);
            let op = if self.pick_op == "!=" { "<>" } else { self.pick_op };
            let condition = format!("{} {op} {literal}", cql2_property(&queryable.name));
            self.filter = if self.filter.trim().is_empty() { condition } else { format!("{} AND {condition}", self.filter.trim()) };
        } else {
            let condition = format!("{}{}{value}", queryable.name, self.pick_op);
            self.query = if self.query.trim().is_empty() { condition } else { format!("{}, {condition}", self.query.trim()) };
        }
        self.pick_value.clear();
    }

    fn order(&mut self, results: &StacResults) -> &[usize] {
        let key = (results.items.len(), self.sort, results.generation);
        if self.order_for != key {
            self.order_for = key;
            self.order = (0..results.items.len()).collect();
            let items = &results.items;
            let (column, ascending) = self.sort;
            let text = |o: &Option<String>| o.clone().unwrap_or_default();
            match column {
                SortColumn::Arrival => {}
                SortColumn::Id => self.order.sort_by(|a, b| items[*a].id.cmp(&items[*b].id)),
                SortColumn::Collection => self.order.sort_by_key(|i| text(&items[*i].collection)),
                SortColumn::Datetime => self.order.sort_by_key(|i| text(&items[*i].datetime)),
                SortColumn::Platform => self.order.sort_by_key(|i| text(&items[*i].platform)),
                SortColumn::CloudCover => self.order.sort_by(|a, b| {
                    let c = |i: &usize| items[*i].cloud_cover.unwrap_or(f64::INFINITY);
                    c(a).total_cmp(&c(b))
                }),
            }
            if !ascending {
                self.order.reverse();
            }
        }
        &self.order
    }
}

/// The Catalog pane: static catalogs or STAC search.
pub fn catalog_pane_ui(ui: &mut Ui, model: &AppModel, view: &mut StacSearchView, map: &MapState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.selectable_value(&mut view.tab, CatalogTab::Catalogs, "Catalogs");
        let label = if model.stac.running { "STAC search (running)" } else { "STAC search" };
        ui.selectable_value(&mut view.tab, CatalogTab::Search, label);
    });
    ui.separator();
    match view.tab {
        CatalogTab::Catalogs => super::catalog::catalog_ui(ui, model, commands),
        CatalogTab::Search => search_ui(ui, model, view, map, commands),
    }
}

/// A property name in CQL2 text (quoted when it is not a plain identifier).
fn cql2_property(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '.') {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A value in CQL2 text for the queryable's type: numbers and booleans as they are, date-times as
/// TIMESTAMP(..), everything else a quoted string.
fn cql2_literal(queryable: &Queryable, value: &str) -> String {
    let kind = queryable.kind.as_deref().unwrap_or("");
    let numeric = kind.contains("number") || kind.contains("integer");
    if numeric && value.parse::<f64>().is_ok() {
        return value.to_owned();
    }
    if kind.contains("boolean") && (value == "true" || value == "false") {
        return value.to_owned();
    }
    let quoted = format!("'{}'", value.trim_matches(|c| c == '\'' || c == '"').replace('\'', "''"));
    if queryable.format.as_deref() == Some("date-time") || queryable.name.ends_with("datetime") {
        format!("TIMESTAMP({quoted})")
    } else {
        quoted
    }
}

/// The lon/lat bbox the map shows.
fn map_view_bbox(map: &MapState) -> Option<[f64; 4]> {
    let rect = map.map_rect()?;
    let [lon, lat] = map.center();
    let world = WorldToScreen::new(rect, lon, lat, map.zoom()).visible_world(0.0);
    let (min_lon, min_lat) = world_to_lon_lat([world.min_x, world.max_y]);
    let (max_lon, max_lat) = world_to_lon_lat([world.max_x, world.min_y]);
    Some([min_lon.max(-180.0), min_lat.max(-85.0), max_lon.min(180.0), max_lat.min(85.0)])
}

fn search_ui(ui: &mut Ui, model: &AppModel, view: &mut StacSearchView, map: &MapState, commands: &mut Vec<Command>) {
    let stac = &model.stac;
    ui.horizontal(|ui| {
        ui.label("Source");
        ui.add(
            egui::TextEdit::singleline(&mut view.source)
                .hint_text("https://…/stac/v1, a catalog.json or an item collection file")
                .desired_width(ui.available_width() - 160.0),
        );
        egui::ComboBox::from_id_salt("stac_recent").selected_text("Recent").width(60.0).show_ui(ui, |ui| {
            for source in &stac.recent {
                if ui.selectable_label(false, source).clicked() {
                    view.source = source.clone();
                }
            }
        });
        let remote = crate::engine::stac::job::is_remote(&view.source);
        if ui.add_enabled(remote && !stac.connecting, egui::Button::new("Connect")).on_hover_text("Read the API's landing page, conformance classes and collections").clicked() {
            commands.push(Command::StacConnect(view.source.trim().to_owned()));
        }
    });
    match &stac.api {
        _ if stac.connecting => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Connecting…");
            });
        }
        Some(Ok(info)) => {
            let yes_no = |b: bool| if b { "server" } else { "local" };
            ui.label(format!(
                "{}: {} collections; search {}; query {}, filter {}, sort {}",
                info.title.as_deref().unwrap_or(&info.id),
                info.collections.len(),
                info.search_methods.join("/"),
                yes_no(info.supports_query),
                yes_no(info.supports_filter),
                yes_no(info.supports_sort)
            ));
            if !info.collections.is_empty() {
                ui.horizontal_wrapped(|ui| {
                    ui.label("Collections:");
                    for collection in info.collections.iter().take(40) {
                        let chosen = view.collections.split(',').any(|c| c.trim() == collection.id);
                        if ui.selectable_label(chosen, &collection.id).on_hover_text(collection.title.as_deref().unwrap_or("")).clicked() {
                            let mut list: Vec<String> =
                                view.collections.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect();
                            if chosen {
                                list.retain(|c| *c != collection.id);
                            } else {
                                list.push(collection.id.clone());
                            }
                            view.collections = list.join(",");
                        }
                    }
                });
            }
        }
        Some(Err(error)) => {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        None => {}
    }
    egui::Grid::new("stac_search_form").num_columns(2).show(ui, |ui| {
        ui.label("Collections");
        ui.add(egui::TextEdit::singleline(&mut view.collections).hint_text("a,b (empty: all)"));
        ui.end_row();
        ui.label("Bbox");
        ui.horizontal(|ui| {
            if view.intersects.is_some() {
                ui.label("drawn shape");
                if ui.small_button("Clear shape").clicked() {
                    view.intersects = None;
                }
            } else {
                ui.add(egui::TextEdit::singleline(&mut view.bbox).hint_text("minx,miny,maxx,maxy").desired_width(200.0));
            }
            if ui.small_button("Use map view").clicked()
                && let Some([a, b, c, d]) = map_view_bbox(map)
            {
                view.intersects = None;
                view.bbox = format!("{a:.4},{b:.4},{c:.4},{d:.4}");
            }
            let drawn = map.drawn_geometry.as_ref();
            if ui.add_enabled(drawn.is_some(), egui::Button::new("Use drawn shape").small()).clicked()
                && let Some(geometry) = drawn
            {
                view.intersects = serde_json::to_value(geojson::Geometry::new(geojson::GeometryValue::from(geometry))).ok();
            }
        });
        ui.end_row();
        ui.label("Datetime");
        ui.add(egui::TextEdit::singleline(&mut view.datetime).hint_text("2024-01-01T00:00:00Z/2024-12-31T23:59:59Z or 2024-01-01/.."));
        ui.end_row();
        ui.label("Cloud cover max");
        ui.add(egui::TextEdit::singleline(&mut view.cloud_max).hint_text("%, e.g. 20").desired_width(60.0));
        ui.end_row();
        ui.label("Query");
        ui.add(egui::TextEdit::singleline(&mut view.query).hint_text("eo:cloud_cover<20, platform=sentinel-2a"));
        ui.end_row();
        ui.label("CQL2 filter");
        ui.add(egui::TextEdit::singleline(&mut view.filter).hint_text("eo:cloud_cover < 20 AND platform = 'sentinel-2a'"));
        ui.end_row();
        ui.label("Max items");
        ui.add(egui::TextEdit::singleline(&mut view.max_items).desired_width(60.0));
        ui.end_row();
    });
    queryables_ui(ui, stac, view, commands);
    ui.horizontal(|ui| {
        let can_search = !view.source.trim().is_empty();
        if ui.add_enabled(can_search, egui::Button::new("Search")).clicked() {
            match view.params() {
                Ok(params) => {
                    view.form_error = None;
                    commands.push(Command::StacSearch { source: view.source.trim().to_owned(), params });
                }
                Err(error) => view.form_error = Some(error),
            }
        }
        if stac.running
            && let Some(job) = stac.job
            && ui.button("Cancel search").clicked()
        {
            commands.push(Command::CancelJob(job));
        }
        if stac.running {
            ui.spinner();
        }
        ui.label(status_text(stac));
    });
    if let Some(error) = &view.form_error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    if let Some(error) = &stac.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    if stac.items.is_empty() {
        return;
    }
    ui.separator();
    let table_height = (ui.available_height() * 0.5).max(120.0);
    ui.push_id("stac_results", |ui| {
        ui.set_max_height(table_height);
        results_table_ui(ui, stac, view, commands);
    });
    ui.separator();
    if let Some(item) = stac.selected.and_then(|i| stac.items.get(i)) {
        egui::ScrollArea::vertical().id_salt("stac_item_details").auto_shrink([false, false]).show(ui, |ui| {
            let remote = crate::engine::stac::job::is_remote(&stac.source);
            item_details_ui(ui, item, &stac.thumbnails, remote, commands);
        });
    } else {
        ui.label("Select a row (or a footprint on the map) to see the item.");
    }
}

fn status_text(stac: &StacResults) -> String {
    let matched = stac.matched.map(|m| format!(" of {m} matched")).unwrap_or_default();
    let mut text = format!("{} items{matched}, {} pages", stac.items.len(), stac.pages);
    if let Some(summary) = &stac.summary {
        for (part, applied) in [("query", summary.query), ("filter", summary.filter), ("sort", summary.sortby)] {
            if let Some(applied) = applied {
                text.push_str(&format!("; {part} applied {}", applied.as_str()));
            }
        }
        if summary.truncated {
            text.push_str("; stopped at max items");
        }
    }
    text
}

fn results_table_ui(ui: &mut Ui, stac: &StacResults, view: &mut StacSearchView, commands: &mut Vec<Command>) {
    let order = view.order(stac).to_vec();
    let mut sort = view.sort;
    TableBuilder::new(ui)
        .striped(true)
        .sense(egui::Sense::click())
        .column(Column::remainder().at_least(160.0).clip(true))
        .column(Column::auto().at_least(90.0).clip(true))
        .column(Column::auto().at_least(140.0))
        .column(Column::auto().at_least(50.0))
        .column(Column::auto().at_least(70.0))
        .header(20.0, |mut header| {
            for (title, column) in [
                ("Id", SortColumn::Id),
                ("Collection", SortColumn::Collection),
                ("Datetime", SortColumn::Datetime),
                ("Cloud %", SortColumn::CloudCover),
                ("Platform", SortColumn::Platform),
            ] {
                header.col(|ui| {
                    let marker = match sort {
                        (c, true) if c == column => " ^",
                        (c, false) if c == column => " v",
                        _ => "",
                    };
                    if ui.button(RichText::new(format!("{title}{marker}")).strong()).clicked() {
                        sort = if sort.0 == column { (column, !sort.1) } else { (column, true) };
                    }
                });
            }
        })
        .body(|body| {
            body.rows(20.0, order.len(), |mut row| {
                let index = order[row.index()];
                let item = &stac.items[index];
                let selected = stac.selected == Some(index);
                row.set_selected(selected);
                row.set_hovered(stac.hovered == Some(index));
                let mut clicked = false;
                row.col(|ui| {
                    clicked = ui.selectable_label(selected, &item.id).clicked();
                });
                row.col(|ui| {
                    ui.label(item.collection.as_deref().unwrap_or(""));
                });
                row.col(|ui| {
                    ui.label(item.datetime.as_deref().map(|d| d.get(..19).unwrap_or(d)).unwrap_or(""));
                });
                row.col(|ui| {
                    ui.label(item.cloud_cover.map(|c| format!("{c:.1}")).unwrap_or_default());
                });
                row.col(|ui| {
                    ui.label(item.platform.as_deref().unwrap_or(""));
                });
                if clicked || row.response().clicked() {
                    commands.push(Command::StacSelectResult(Some(index)));
                }
            });
        });
    view.sort = sort;
}

fn item_details_ui(ui: &mut Ui, item: &StacItemSummary, thumbnails: &Thumbnails, remote_source: bool, commands: &mut Vec<Command>) {
    ui.heading(&item.id);
    ui.horizontal(|ui| {
        if let Some(bbox) = item.bbox {
            ui.label(format!("bbox {:.4}, {:.4}, {:.4}, {:.4}", bbox[0], bbox[1], bbox[2], bbox[3]));
            if ui.button("Zoom map to footprint").clicked() {
                commands.push(Command::ZoomToBbox(bbox));
            }
        }
    });
    if let Some(href) = &item.self_href {
        ui.label(RichText::new(href).small().weak());
    }
    thumbnail_ui(ui, thumbnails, &item.assets, remote_source, commands);
    // Properties grouped by extension prefix (`eo:`, `proj:`, `sat:` …); core fields first.
    let mut groups: std::collections::BTreeMap<&str, Vec<(&String, &Value)>> = Default::default();
    for (key, value) in &item.properties {
        let group = key.split_once(':').map(|(prefix, _)| prefix).unwrap_or("");
        groups.entry(group).or_default().push((key, value));
    }
    for (group, entries) in groups {
        let title = if group.is_empty() { "Properties".to_owned() } else { format!("{group}: ({})", entries.len()) };
        egui::CollapsingHeader::new(title).id_salt(("stac_props", group)).default_open(group.is_empty() || group == "eo").show(ui, |ui| {
            egui::Grid::new(("stac_prop_grid", group)).striped(true).num_columns(2).show(ui, |ui| {
                for (key, value) in entries {
                    ui.label(RichText::new(key).strong());
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => {
                            let t = other.to_string();
                            if t.len() > 240 { format!("{}...", &t[..t.floor_char_boundary(240)]) } else { t }
                        }
                    };
                    ui.add(egui::Label::new(text).wrap());
                    ui.end_row();
                }
            });
        });
    }
    if !item.assets.is_empty() {
        egui::CollapsingHeader::new(format!("Assets ({})", item.assets.len())).id_salt("stac_assets").default_open(true).show(ui, |ui| {
            egui::Grid::new("stac_asset_grid").striped(true).num_columns(4).show(ui, |ui| {
                for asset in &item.assets {
                    ui.label(RichText::new(&asset.key).strong());
                    ui.label(asset.roles.join(", "));
                    ui.label(asset.media_type.as_deref().unwrap_or("")).on_hover_text(asset.common_names.join(", "));
                    ui.label(RichText::new(&asset.href).monospace()).on_hover_text(&asset.resolved);
                    ui.end_row();
                }
            });
        });
    }
}

/// The queryables of the source: load them (for the one collection chosen, if any), list them with
/// their type, title, allowed values and range, and compose a `query` / `filter` condition from one.
fn queryables_ui(ui: &mut Ui, stac: &StacResults, view: &mut StacSearchView, commands: &mut Vec<Command>) {
    let count = match &stac.queryables {
        Some(Ok(result)) => format!(" ({})", result.queryables.len()),
        _ => String::new(),
    };
    egui::CollapsingHeader::new(format!("Queryables{count}")).id_salt("stac_queryables").default_open(true).show(ui, |ui| {
        let chosen: Vec<&str> = view.collections.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
        let collection = (chosen.len() == 1).then(|| chosen[0].to_owned());
        ui.horizontal(|ui| {
            let label = match &collection {
                Some(c) => format!("Load queryables of {c}"),
                None => "Load queryables".to_owned(),
            };
            let can = !view.source.trim().is_empty() && !stac.queryables_loading;
            if ui.add_enabled(can, egui::Button::new(label)).on_hover_text("From the API's /queryables when it declares them, else derived from the items' properties").clicked() {
                commands.push(Command::StacQueryables { source: view.source.trim().to_owned(), collection: collection.clone() });
            }
            if stac.queryables_loading {
                ui.spinner();
            }
        });
        let result = match &stac.queryables {
            None => return,
            Some(Err(error)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("Queryables: {error}"));
                return;
            }
            Some(Ok(result)) => result,
        };
        let origin = match (&result.url, result.items_scanned) {
            (Some(url), _) => format!("from {url}"),
            (None, Some(n)) => format!("derived from the properties of {n} items (the source declares no queryables)"),
            (None, None) => "derived from the items".to_owned(),
        };
        ui.label(RichText::new(origin).small().weak());
        if let Some(note) = &result.note {
            ui.label(RichText::new(note).small().color(ui.visuals().warn_fg_color));
        }
        egui::ScrollArea::vertical().id_salt("stac_queryables_list").max_height(220.0).show(ui, |ui| {
            egui::Grid::new("stac_queryables_grid").striped(true).num_columns(3).show(ui, |ui| {
                for queryable in &result.queryables {
                    let picked = view.pick.as_deref() == Some(queryable.name.as_str());
                    if ui.selectable_label(picked, &queryable.name).on_hover_text("Add a condition on this property").clicked() {
                        view.pick = Some(queryable.name.clone());
                        view.pick_value.clear();
                    }
                    ui.label(RichText::new(queryable.kind.as_deref().unwrap_or("any")).monospace());
                    let mut about = queryable.title.clone().unwrap_or_default();
                    if let Some(values) = &queryable.allowed {
                        let values: Vec<String> = values.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect();
                        about = format!("{about} [{}]", values.join(", "));
                    }
                    if queryable.minimum.is_some() || queryable.maximum.is_some() {
                        let bound = |b: Option<f64>| b.map(|v| v.to_string()).unwrap_or_default();
                        about = format!("{about} {}..{}", bound(queryable.minimum), bound(queryable.maximum));
                    }
                    ui.label(about.trim());
                    ui.end_row();
                }
            });
        });
        let Some(queryable) = view.pick.as_ref().and_then(|name| result.queryables.iter().find(|q| &q.name == name)).cloned() else {
            return;
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new(&queryable.name).strong());
            egui::ComboBox::from_id_salt("stac_pick_op").selected_text(view.pick_op).width(40.0).show_ui(ui, |ui| {
                for op in ["=", "!=", "<", "<=", ">", ">="] {
                    ui.selectable_value(&mut view.pick_op, op, op);
                }
            });
            match &queryable.allowed {
                Some(values) => {
                    let shown = if view.pick_value.is_empty() { "choose…".to_owned() } else { view.pick_value.clone() };
                    egui::ComboBox::from_id_salt("stac_pick_value").selected_text(shown).show_ui(ui, |ui| {
                        for value in values {
                            let text = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
                            ui.selectable_value(&mut view.pick_value, text.clone(), text);
                        }
                    });
                }
                None => {
                    let hint = queryable.kind.clone().unwrap_or_else(|| "value".to_owned());
                    ui.add(egui::TextEdit::singleline(&mut view.pick_value).hint_text(hint).desired_width(140.0));
                }
            }
            ui.selectable_value(&mut view.pick_as_filter, false, "query");
            ui.selectable_value(&mut view.pick_as_filter, true, "filter");
            if ui.button("Add condition").clicked() {
                view.add_condition(&queryable);
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queryable(name: &str, kind: &str, format: Option<&str>) -> Queryable {
        Queryable { name: name.into(), title: None, kind: Some(kind.into()), allowed: None, minimum: None, maximum: None, format: format.map(str::to_owned) }
    }

    #[test]
    fn conditions_from_queryables_become_query_and_filter() {
        let mut view = StacSearchView { cloud_max: "30".into(), ..Default::default() };
        view.pick_op = "<";
        view.pick_value = "0.5".into();
        view.add_condition(&queryable("eo:cloud_cover", "number", None));
        view.pick_op = "=";
        view.pick_value = "sentinel-2a".into();
        view.add_condition(&queryable("platform", "string", None));
        assert_eq!(view.query, "eo:cloud_cover<0.5, platform=sentinel-2a");
        let params = view.params().unwrap();
        let query = Value::Object(params.query.unwrap());
        assert_eq!(query, serde_json::json!({"eo:cloud_cover": {"lte": 30.0, "lt": 0.5}, "platform": {"eq": "sentinel-2a"}}));

        view.pick_as_filter = true;
        view.pick_op = ">=";
        view.pick_value = "2023-01-01T00:00:00Z".into();
        view.add_condition(&queryable("datetime", "string", Some("date-time")));
        view.pick_op = "!=";
        view.pick_value = "it's".into();
        view.add_condition(&queryable("platform", "string", None));
        view.pick_op = "<";
        view.pick_value = "20".into();
        view.add_condition(&queryable("eo:cloud_cover", "number", None));
        assert_eq!(view.filter, "datetime >= TIMESTAMP('2023-01-01T00:00:00Z') AND platform <> 'it''s' AND eo:cloud_cover < 20");
        let filter = view.params().unwrap().filter.unwrap();
        assert_eq!(filter["op"], "and", "{filter}");
        assert_eq!(filter["args"].as_array().unwrap().len(), 3, "{filter}");
        view.pick_value.clear();
        view.add_condition(&queryable("gsd", "number", None));
        assert!(view.form_error.as_deref().unwrap().contains("gsd"));
    }
}
