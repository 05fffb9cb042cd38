//! UI tests of the Map panel with egui_kittest (no GPU: queries the AccessKit tree and the
//! panel's state).

use std::time::{Duration, Instant};

use egui::{Color32, Event, Key, Modifiers, PointerButton, Pos2, Vec2, vec2};
use egui_kittest::{
    Harness,
    kittest::{NodeT as _, Queryable},
};
use geo::{BoundingRect, Geometry, polygon};
use meshlake::ui::map::basemap_layer::basemap_blocking;
use meshlake::ui::map::{DrawTool, MapAction, MapFeature, MapLayer, MapState, RasterOverlay};

/// The panel's state plus what the app would hold.
struct Fixture {
    map: MapState,
    layers: Vec<MapLayer>,
    actions: Vec<MapAction>,
}

/// One footprint around the Netherlands.
fn footprints() -> MapLayer {
    MapLayer {
        id: "footprints".into(),
        name: "Footprints".into(),
        color: Color32::from_rgb(230, 120, 20),
        features: vec![MapFeature::new(
            "Tile A",
            polygon![
                (x: 4.0, y: 51.5), (x: 6.0, y: 51.5), (x: 6.0, y: 53.0), (x: 4.0, y: 53.0), (x: 4.0, y: 51.5)
            ]
            .into(),
        )],
    }
}

fn harness_with(map: MapState) -> Harness<'static, Fixture> {
    Harness::builder()
        .with_size(Vec2::new(1100.0, 720.0))
        .with_max_steps(12)
        .build_ui_state(
            |ui, fixture: &mut Fixture| {
                let actions = fixture.map.map_ui(ui, &fixture.layers);
                fixture.actions.extend(actions);
            },
            Fixture {
                map,
                layers: vec![footprints()],
                actions: Vec::new(),
            },
        )
}

/// A panel looking at Europe, without HTTP tiles (tests must not touch the network).
fn harness() -> Harness<'static, Fixture> {
    let mut map = MapState::default();
    map.http_tiles_enabled = false;
    map.set_view([0.0, 40.0], 3.0);
    let mut harness = harness_with(map);
    harness.run_ok();
    harness
}

/// Text of the one label containing `contains` (AccessKit keeps a label's text in `value`).
fn label_of(harness: &Harness<'_, Fixture>, contains: &str) -> String {
    let node = harness.get_by_label_contains(contains).accesskit_node();
    node.value()
        .or_else(|| node.label().map(|l| l.to_string()))
        .unwrap_or_default()
}

fn press(harness: &Harness<'_, Fixture>, pos: Pos2, pressed: bool) {
    harness.event(Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    });
}

#[test]
fn layer_is_listed_and_can_be_hidden() {
    let mut harness = harness();
    assert!(harness.state().map.is_layer_visible("footprints"));
    harness.get_by_label("Footprints").click();
    harness.run_ok();
    assert!(!harness.state().map.is_layer_visible("footprints"));
    harness.get_by_label("Footprints").click();
    harness.run_ok();
    assert!(harness.state().map.is_layer_visible("footprints"));
}

#[test]
fn zoom_to_layer_moves_the_map_onto_the_layer() {
    let mut harness = harness();
    let [lon, lat] = harness.state().map.center();
    assert!(!(4.0..=6.0).contains(&lon) || !(51.5..=53.0).contains(&lat));
    let zoom_before = harness.state().map.zoom();

    harness.get_by_label("Zoom to layer").click();
    harness.run_ok();

    let [lon, lat] = harness.state().map.center();
    assert!((4.0..=6.0).contains(&lon), "lon {lon}");
    assert!((51.5..=53.0).contains(&lat), "lat {lat}");
    let zoom = harness.state().map.zoom();
    assert!(zoom > zoom_before + 2.0, "zoom {zoom_before} -> {zoom}");
    // The whole layer is in view.
    let map = &harness.state().map;
    let rect = map.map_rect().unwrap();
    for (lon, lat) in [(4.0, 51.5), (6.0, 53.0)] {
        let p = map.screen_pos_of(lon, lat).unwrap();
        assert!(rect.contains(p), "{p:?} outside {rect:?}");
    }
}

#[test]
fn rectangle_tool_draws_by_dragging() {
    let mut harness = harness();
    harness.get_by_label("Rectangle").click();
    harness.run_ok();
    assert_eq!(harness.state().map.tool, DrawTool::Rectangle);

    let rect = harness.state().map.map_rect().unwrap();
    let start = rect.center() - vec2(120.0, 80.0);
    let end = rect.center() + vec2(100.0, 60.0);
    let (lon0, lat0) = harness.state().map.lon_lat_at(start).unwrap();
    let (lon1, lat1) = harness.state().map.lon_lat_at(end).unwrap();
    let center_before = harness.state().map.center();

    harness.hover_at(start);
    press(&harness, start, true);
    for t in [0.25, 0.5, 0.75, 1.0] {
        harness.hover_at(start + (end - start) * t);
    }
    press(&harness, end, false);
    harness.run_ok();

    let state = harness.state();
    assert_eq!(state.map.center(), center_before, "the map must not pan");
    let Some(Geometry::Polygon(polygon)) = &state.map.drawn_geometry else {
        panic!("no polygon drawn: {:?}", state.map.drawn_geometry);
    };
    let bounds = polygon.bounding_rect().unwrap();
    let tolerance = 0.05; // degrees; a point is ~0.35° at zoom 3
    assert!((bounds.min().x - lon0).abs() < tolerance, "{bounds:?}");
    assert!((bounds.max().x - lon1).abs() < tolerance, "{bounds:?}");
    assert!((bounds.min().y - lat1).abs() < tolerance, "{bounds:?}");
    assert!((bounds.max().y - lat0).abs() < tolerance, "{bounds:?}");
    assert!(
        state
            .actions
            .iter()
            .any(|a| matches!(a, MapAction::GeometryDrawn(Geometry::Polygon(_))))
    );
    let wkt = label_of(&harness, "WKT: ");
    assert!(wkt.starts_with("WKT: POLYGON(("), "{wkt}");

    // Clear removes it.
    harness.get_by_label("Clear").click();
    harness.run_ok();
    assert!(harness.state().map.drawn_geometry.is_none());
    assert!(
        harness
            .state()
            .actions
            .contains(&MapAction::GeometryCleared)
    );
}

#[test]
fn polygon_tool_draws_by_clicking() {
    let mut harness = harness();
    harness.get_by_label("Polygon").click();
    harness.run_ok();
    let rect = harness.state().map.map_rect().unwrap();
    let c = rect.center();
    for p in [
        c + vec2(-80.0, 40.0),
        c + vec2(90.0, 50.0),
        c + vec2(10.0, -70.0),
    ] {
        harness.hover_at(p);
        press(&harness, p, true);
        press(&harness, p, false);
        harness.run_ok();
    }
    assert!(
        harness.state().map.drawn_geometry.is_none(),
        "not finished yet"
    );
    harness.key_press(Key::Enter);
    harness.run_ok();
    let Some(Geometry::Polygon(polygon)) = &harness.state().map.drawn_geometry else {
        panic!("no polygon: {:?}", harness.state().map.drawn_geometry);
    };
    assert_eq!(polygon.exterior().0.len(), 4, "three vertices, closed");

    // Escape cancels an unfinished one.
    let p = c + vec2(30.0, 30.0);
    harness.hover_at(p);
    press(&harness, p, true);
    press(&harness, p, false);
    harness.run_ok();
    harness.key_press(Key::Escape);
    harness.key_press(Key::Enter);
    harness.run_ok();
    assert_eq!(
        harness
            .state()
            .actions
            .iter()
            .filter(|a| matches!(a, MapAction::GeometryDrawn(_)))
            .count(),
        1
    );
}

#[test]
fn status_line_shows_cursor_position_and_zoom() {
    let mut harness = harness();
    let initial = label_of(&harness, "Lon ");
    assert!(initial.contains("Lon -"), "{initial}");
    let rect = harness.state().map.map_rect().unwrap();
    let p = rect.center() + vec2(40.0, -30.0);
    harness.hover_at(p);
    harness.run_ok();
    let (lon, lat) = harness.state().map.lon_lat_at(p).unwrap();
    let text = label_of(&harness, "Lon ");
    assert_eq!(text, format!("Lon {lon:.5}, Lat {lat:.5}"));
    harness.get_by_label("Zoom 3.00");
}

#[test]
fn clicking_a_feature_reports_it() {
    let mut map = MapState::default();
    map.http_tiles_enabled = false;
    map.set_view([5.0, 52.25], 6.0);
    let mut harness = harness_with(map);
    harness.run_ok();
    let p = harness.state().map.screen_pos_of(5.0, 52.25).unwrap();
    harness.hover_at(p);
    press(&harness, p, true);
    press(&harness, p, false);
    harness.run_ok();
    assert!(
        harness
            .state()
            .actions
            .contains(&MapAction::FeatureClicked {
                layer_id: "footprints".into(),
                index: 0
            }),
        "{:?}",
        harness.state().actions
    );
}

#[test]
fn hovering_a_feature_reports_it_and_leaving_it_reports_none() {
    let mut map = MapState::default();
    map.http_tiles_enabled = false;
    map.set_view([5.0, 52.25], 6.0);
    let mut harness = harness_with(map);
    harness.run_ok();
    let p = harness.state().map.screen_pos_of(5.0, 52.25).unwrap();
    harness.hover_at(p);
    harness.run_ok();
    let hovered = MapAction::HoverChanged(Some(("footprints".into(), 0)));
    assert_eq!(harness.state().actions.iter().filter(|a| **a == hovered).count(), 1, "{:?}", harness.state().actions);
    let away = harness.state().map.screen_pos_of(-20.0, 30.0).unwrap();
    harness.hover_at(away);
    harness.run_ok();
    assert_eq!(harness.state().actions.last(), Some(&MapAction::HoverChanged(None)), "{:?}", harness.state().actions);
}

#[test]
fn raster_overlay_is_listed_and_uploaded() {
    let mut harness = harness();
    let image = image::RgbaImage::from_pixel(8, 4, image::Rgba([0, 200, 0, 160]));
    harness
        .state_mut()
        .map
        .set_raster_overlay(RasterOverlay::from_rgba(
            "ndvi",
            "NDVI preview",
            &image,
            [4.0, 51.5, 6.0, 53.0],
        ));
    harness.run_ok();
    assert!(harness.state().map.raster_overlays[0].is_uploaded());
    harness.get_by_label("NDVI preview");
    assert_eq!(harness.get_all_by_label("Zoom to layer").count(), 2);
}

/// Offline (as in CI), the basemap is drawn even with HTTP tiles on; and a rough frame time.
#[test]
fn basemap_is_drawn_offline_and_frames_are_quick() {
    basemap_blocking().expect("the shipped basemap decodes");
    let cache = tempfile::tempdir().unwrap();
    let mut map = MapState::default();
    map.set_tile_cache_dir(cache.path().to_path_buf());
    map.set_view([4.9, 52.37], 2.0);
    let mut harness = harness_with(map);
    harness.run_ok();
    let stats = harness.state().map.basemap_stats();
    assert!(stats.vertices > 1000, "{stats:?}");

    for (center, zoom) in [
        ([10.0, 30.0], 1.5),
        ([4.9, 52.37], 4.0),
        ([4.9, 52.37], 8.0),
    ] {
        harness.state_mut().map.set_view(center, zoom);
        harness.step();
        let frames = 10u32;
        let (mut total, mut widget, mut tessellation) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for _ in 0..frames {
            let started = Instant::now();
            harness.step();
            total += started.elapsed();
            widget += harness.state().map.frame_time().unwrap_or_default();
            let shapes = harness.output().shapes.clone();
            let started = Instant::now();
            let _ = harness.ctx.tessellate(shapes, 1.0);
            tessellation += started.elapsed();
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / frames as f64;
        let stats = harness.state().map.basemap_stats();
        println!(
            "zoom {zoom}: egui frame {:.2} ms (map widget {:.2} ms) + tessellation {:.2} ms; basemap {stats:?}",
            ms(total),
            ms(widget),
            ms(tessellation),
        );
        assert!(stats.vertices > 0, "zoom {zoom}: {stats:?}");
    }
}

#[test]
fn persisted_parts_round_trip_through_serde() {
    let mut map = MapState::default();
    map.tile_url = "https://tiles.example/{z}/{x}/{y}.png".into();
    map.set_view([4.9, 52.37], 7.0);
    map.layer_settings.insert(
        "footprints".into(),
        meshlake::ui::map::LayerSettings {
            visible: false,
            opacity: 0.5,
        },
    );
    map.tool = DrawTool::Polygon;
    map.drawn_geometry = Some(geo::point!(x: 1.0, y: 2.0).into());
    let json = serde_json::to_string(&map).unwrap();
    let back: MapState = serde_json::from_str(&json).unwrap();
    assert_eq!(back.tile_url, map.tile_url);
    assert_eq!(back.center(), [4.9, 52.37]);
    assert_eq!(back.zoom(), 7.0);
    assert!(!back.is_layer_visible("footprints"));
    assert_eq!(back.layer_settings("footprints").opacity, 0.5);
    // Runtime parts are not persisted.
    assert_eq!(back.tool, DrawTool::Pan);
    assert!(back.drawn_geometry.is_none());
    // Older or partial state still loads.
    let partial: MapState = serde_json::from_str(r#"{"zoom": 5.0}"#).unwrap();
    assert_eq!(partial.zoom(), 5.0);
    assert_eq!(partial.tile_url, MapState::default().tile_url);
}

#[test]
fn clicking_away_from_features_reports_the_point() {
    let mut map = MapState::default();
    map.http_tiles_enabled = false;
    map.set_view([5.0, 52.25], 6.0);
    let mut harness = harness_with(map);
    harness.run_ok();
    // Far from the footprint at (5, 52.25): a plain click, reported with its lon/lat (NDVI pixel inspect).
    let p = harness.state().map.screen_pos_of(3.0, 51.0).unwrap();
    harness.hover_at(p);
    press(&harness, p, true);
    press(&harness, p, false);
    harness.run_ok();
    let clicked = harness.state().actions.iter().find_map(|a| match a {
        MapAction::Clicked { lon, lat } => Some((*lon, *lat)),
        _ => None,
    });
    let (lon, lat) = clicked.unwrap_or_else(|| panic!("{:?}", harness.state().actions));
    assert!((lon - 3.0).abs() < 0.05 && (lat - 51.0).abs() < 0.05, "{lon},{lat}");
    assert!(!harness.state().actions.iter().any(|a| matches!(a, MapAction::FeatureClicked { .. })));
}
