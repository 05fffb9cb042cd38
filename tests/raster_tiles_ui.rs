//! Raster tile layers on the Map panel under egui_kittest: a COG preview layer renders tiles in
//! the background and is listed with its controls; a broken one shows its error.

use std::path::Path;
use std::time::{Duration, Instant};

use egui::Vec2;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::engine::raster::GeoGrid;
use meshlake::engine::raster::cog::{CogWriteOptions, write_cog_u16};
use meshlake::ui::map::{MapState, PreviewSource};

/// A 400×400 grid of 20 m pixels in UTM 31N near Leiden (lon 4.5, lat 52.2).
fn grid() -> GeoGrid {
    GeoGrid {
        epsg: 32631,
        origin_x: 600_000.0,
        origin_y: 5_790_000.0,
        pixel_size_x: 20.0,
        pixel_size_y: 20.0,
        width: 400,
        height: 400,
    }
}

fn write_band(dir: &Path, name: &str, value: u16) -> std::path::PathBuf {
    let path = dir.join(name);
    let data = vec![value; 400 * 400];
    write_cog_u16(&path, &grid(), &data, Some(0), &CogWriteOptions::default()).unwrap();
    path
}

fn harness(map: MapState) -> Harness<'static, MapState> {
    Harness::builder()
        .with_size(Vec2::new(1100.0, 720.0))
        .build_ui_state(
            |ui, map: &mut MapState| {
                map.map_ui(ui, &[]);
            },
            map,
        )
}

/// Step (as the event loop would on repaint requests) until `done`, failing after `timeout`.
fn step_until(
    harness: &mut Harness<'_, MapState>,
    timeout: Duration,
    what: &str,
    done: impl Fn(&MapState) -> bool,
) {
    let started = Instant::now();
    while !done(harness.state()) {
        assert!(
            started.elapsed() < timeout,
            "timed out waiting for {what}: {:?}",
            harness.state().raster_tiles("preview")
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.step();
}

#[test]
fn cog_preview_layer_renders_tiles_and_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let source = PreviewSource::FalseColor {
        nir: write_band(tmp.path(), "B08.tif", 3000),
        red: write_band(tmp.path(), "B04.tif", 500),
    };
    let mut map = MapState::default();
    map.http_tiles_enabled = false;
    map.set_raster_tile_layer("preview", "Test scene (B08/B04/B04)", source);
    assert_eq!(map.raster_tile_layer_ids(), ["preview"]);
    map.zoom_to_bbox([4.45, 52.20, 4.58, 52.28]);
    let mut harness = harness(map);
    harness.step();

    step_until(
        &mut harness,
        Duration::from_secs(30),
        "a rendered tile",
        |map| map.rendered_raster_tiles("preview") > 0,
    );
    let tiles = harness.state().raster_tiles("preview").unwrap();
    assert!(tiles.error().is_none(), "{:?}", tiles.error());
    let [w, s, e, n] = tiles.lonlat_bounds().expect("bounds known once rendering");
    assert!(
        w > 4.4 && e < 4.7 && s > 52.1 && n < 52.3,
        "{w} {s} {e} {n}"
    );

    // Listed with its controls.
    assert!(
        harness
            .query_all_by_label_contains("Test scene (B08/B04/B04)")
            .next()
            .is_some()
    );
    assert!(
        harness
            .query_all_by_label_contains("Opacity")
            .next()
            .is_some()
    );
    assert!(
        harness
            .query_all_by_label_contains("tiles rendered")
            .next()
            .is_some()
            || harness
                .query_all_by_label_contains("rendering")
                .next()
                .is_some()
    );

    // Hiding it from the list; replacing keeps one layer; removing drops it.
    harness.get_by_label("Test scene (B08/B04/B04)").click();
    harness.step();
    harness.step();
    assert!(
        !harness
            .state()
            .raster_tile_layer("preview")
            .unwrap()
            .visible
    );
    harness.state_mut().remove_raster_tile_layer("preview");
    harness.step();
    assert!(harness.state().raster_tile_layer_ids().is_empty());
    assert!(harness.state().raster_tiles("preview").is_none());
    assert!(
        harness
            .query_all_by_label_contains("Test scene")
            .next()
            .is_none()
    );
}

#[test]
fn a_broken_raster_layer_shows_its_error_in_the_layers_list() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.tif");
    let mut map = MapState::default();
    map.http_tiles_enabled = false;
    map.set_raster_tile_layer(
        "preview",
        "Broken",
        PreviewSource::SingleBand {
            path: missing,
            min: 0.0,
            max: 1.0,
        },
    );
    map.set_view([4.5, 52.2], 10.0);
    let mut harness = harness(map);
    step_until(&mut harness, Duration::from_secs(30), "the error", |map| {
        map.raster_tiles("preview")
            .is_some_and(|t| t.error().is_some())
    });
    harness.step();
    assert!(
        harness
            .query_all_by_label_contains("missing.tif")
            .next()
            .is_some(),
        "the error names the file"
    );
    assert_eq!(harness.state().rendered_raster_tiles("preview"), 0);
}
