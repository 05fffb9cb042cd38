//! Item thumbnails over HTTP: a local server (tests/peers/stac_test_server.py `files`) serves a PNG
//! written here and the real JPEG preview from the fixtures; the thumbnail loads through the STAC
//! client (User-Agent), is cached on disk so the second load makes no request, a 404 is a clear
//! error; and in the GUI the item detail of a search result shows the thumbnail (its texture) or
//! the error in its place.

mod common;

use common::servers::{Server, stac_test_server};

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::engine::jobs::CancelToken;
use meshlake::engine::stac::api::{ApiOptions, RetryPolicy};
use meshlake::engine::stac::search::SearchParams;
use meshlake::engine::stac::thumbnail::{ThumbnailError, cache_file, load_thumbnail};
use meshlake::ui::MeshlakeApp;
use meshlake::ui::commands::Command;
use meshlake::ui::model::Pane;
use meshlake::ui::panels::stac_search::ThumbnailState;
use serde_json::{Value, json};

/// A folder with `thumb.png` (300×200, written with the image crate) and the fixtures' real
/// Sentinel-2 `preview.jpg`, served over HTTP.
fn serve_images(python: &Path, fixtures: &Path, dir: &Path) -> Server {
    let png = image::RgbaImage::from_fn(300, 200, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255]));
    png.save(dir.join("thumb.png")).unwrap();
    std::fs::copy(fixtures.join("rasters/rio-tiler-legacy-sentinel2-19UDP/preview.jpg"), dir.join("preview.jpg")).unwrap();
    stac_test_server(python, &[Path::new("files"), Path::new("0"), dir])
}

/// The requests the server saw: (path, user agent).
fn requests(url: &str) -> Vec<(String, String)> {
    use std::io::{Read, Write};
    let host = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET /__log HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    let log: Value = serde_json::from_str(body).unwrap();
    log.as_array().unwrap().iter().map(|r| (r["path"].as_str().unwrap().to_owned(), r["user_agent"].as_str().unwrap().to_owned())).collect()
}

fn fast() -> ApiOptions {
    ApiOptions { retry: RetryPolicy { max_attempts: 2, base_delay: Duration::from_millis(50), max_delay: Duration::from_secs(1) }, ..ApiOptions::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbnails_load_over_http_are_cached_and_a_404_is_a_clear_error() {
    let (Some(fixtures), Some(python)) = (common::fixtures(), common::python()) else { return };
    let served = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = serve_images(&python, &fixtures, served.path());
    let cancel = CancelToken::default();

    let png = format!("{}/thumb.png", server.url);
    let first = load_thumbnail(&png, true, Some(cache.path()), fast(), &cancel).await.unwrap();
    assert_eq!((first.width, first.height, first.from_cache), (300, 200, false));
    assert_eq!(first.rgba.len(), 300 * 200 * 4);
    assert_eq!(&first.rgba[..4], &[0, 0, 90, 255]);
    let cached = cache_file(cache.path(), &png);
    assert_eq!(first.cache_file.as_deref(), Some(cached.as_path()));
    assert_eq!(std::fs::read(&cached).unwrap(), std::fs::read(served.path().join("thumb.png")).unwrap());
    let second = load_thumbnail(&png, true, Some(cache.path()), fast(), &cancel).await.unwrap();
    assert!(second.from_cache);
    assert_eq!(second.rgba, first.rgba);
    let seen = requests(&server.url);
    assert_eq!(seen.iter().filter(|(path, _)| path == "/thumb.png").count(), 1, "the second load read the cache: {seen:?}");
    assert!(seen.iter().all(|(_, agent)| agent.starts_with("meshlake/")), "{seen:?}");

    // The real JPEG preview (a Sentinel-2 scene): decoded and scaled to at most 512 px a side.
    let jpeg = format!("{}/preview.jpg", server.url);
    let decoded = load_thumbnail(&jpeg, true, Some(cache.path()), fast(), &cancel).await.unwrap();
    let original = image::open(served.path().join("preview.jpg")).unwrap();
    let scale = (512.0 / original.width().max(original.height()) as f64).min(1.0);
    assert_eq!(decoded.width, (original.width() as f64 * scale).round() as u32, "{}x{}", original.width(), original.height());
    assert!(decoded.width <= 512 && decoded.height <= 512);

    // A cache file that is not an image any more is fetched again.
    std::fs::write(&cached, b"garbage").unwrap();
    let refetched = load_thumbnail(&png, true, Some(cache.path()), fast(), &cancel).await.unwrap();
    assert!(!refetched.from_cache);
    assert_eq!(requests(&server.url).iter().filter(|(path, _)| path == "/thumb.png").count(), 2);

    let missing = format!("{}/missing.png", server.url);
    let err = load_thumbnail(&missing, true, Some(cache.path()), fast(), &cancel).await.unwrap_err();
    assert!(matches!(err, ThumbnailError::Fetch { .. }), "{err}");
    let text = meshlake::engine::jobs::error_chain(&err);
    assert!(text.contains(&missing) && text.contains("404") && text.contains("no file missing.png"), "{text}");
    assert!(!cache_file(cache.path(), &missing).exists(), "errors are not cached");
}

fn write_items(dir: &Path, server: &str) -> PathBuf {
    let item = |id: &str, x: f64, thumb: &str| {
        json!({
            "type": "Feature", "stac_version": "1.0.0", "id": id, "collection": "scenes",
            "geometry": {"type": "Polygon", "coordinates": [[[x, 45.0], [x + 0.1, 45.0], [x + 0.1, 45.1], [x, 45.1], [x, 45.0]]]},
            "bbox": [x, 45.0, x + 0.1, 45.1],
            "properties": {"datetime": "2024-05-01T10:00:00Z"},
            "assets": {"thumbnail": {"href": thumb, "type": "image/png", "roles": ["thumbnail"]}},
            "links": []
        })
    };
    let features = vec![item("with-thumbnail", 5.0, &format!("{server}/thumb.png")), item("broken-thumbnail", 6.0, &format!("{server}/gone.png"))];
    let path = dir.join("items.json");
    std::fs::write(&path, json!({"type": "FeatureCollection", "features": features}).to_string()).unwrap();
    path
}

#[test]
fn the_item_detail_shows_the_thumbnail_or_the_error() {
    let (Some(fixtures), Some(python)) = (common::fixtures(), common::python()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let server = serve_images(&python, &fixtures, &served);
    let items = write_items(tmp.path(), &server.url);
    let data = tmp.path().join("data");
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(10_000)
        .build_eframe(|cc| MeshlakeApp::new(cc, common::ui::options(&data)).expect("app starts"));
    harness.state_mut().queue_command(Command::FocusPane(Pane::Catalog));
    harness.step();
    harness.get_by_label("STAC search").click();
    harness.step();
    let source = items.display().to_string();
    harness.state_mut().queue_command(Command::StacSearch { source, params: SearchParams::default() });
    common::ui::step_until(&mut harness, Duration::from_secs(60), "the search", |app| !app.model.stac.running && app.model.stac.items.len() == 2);

    harness.get_by_label("with-thumbnail").click();
    let png = format!("{}/thumb.png", server.url);
    common::ui::step_until(&mut harness, Duration::from_secs(60), "the thumbnail", |app| {
        matches!(app.model.stac.thumbnails.get(&png), Some(ThumbnailState::Ready { .. }))
    });
    let Some(ThumbnailState::Ready { texture, from_cache }) = harness.state().model.stac.thumbnails.get(&png) else { unreachable!() };
    assert_eq!((texture.size(), *from_cache), ([300, 200], false));
    let cached = cache_file(&data.join("cache"), &png);
    assert!(cached.is_file(), "cached under the app's cache dir: {}", cached.display());
    assert!(harness.query_all_by_label_contains("Thumbnail not shown").next().is_none());

    harness.get_by_label("broken-thumbnail").click();
    let gone = format!("{}/gone.png", server.url);
    common::ui::step_until(&mut harness, Duration::from_secs(60), "the thumbnail error", |app| {
        matches!(app.model.stac.thumbnails.get(&gone), Some(ThumbnailState::Failed(_)))
    });
    let Some(ThumbnailState::Failed(error)) = harness.state().model.stac.thumbnails.get(&gone) else { unreachable!() };
    assert!(error.contains("404") && error.contains(&gone), "{error}");
    // Shown in place of the thumbnail.
    harness.get_by_label(&format!("Thumbnail not shown: {error}"));
    assert_eq!(requests(&server.url).iter().filter(|(path, _)| path == "/thumb.png").count(), 1);
}

/// `meshlake stac thumbnail URL --json`: fetched once, then read from MESHLAKE_CACHE_DIR; --out writes the PNG;
/// a 404 fails with the server's words.
#[test]
fn the_cli_loads_and_caches_a_thumbnail() {
    let (Some(fixtures), Some(python)) = (common::fixtures(), common::python()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let server = serve_images(&python, &fixtures, &served);
    let run = |href: &str, out: &Path| {
        Process::new(env!("CARGO_BIN_EXE_meshlake"))
            .args(["stac", "thumbnail", href, "--json", "--out"])
            .arg(out)
            .env("MESHLAKE_CACHE_DIR", tmp.path().join("cache"))
            .output()
            .unwrap()
    };
    let jpeg = format!("{}/preview.jpg", server.url);
    let out = tmp.path().join("t.png");
    let first = run(&jpeg, &out);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["from_cache"], false);
    let written = image::open(&out).unwrap();
    assert_eq!((written.width() as u64, written.height() as u64), (first["width"].as_u64().unwrap(), first["height"].as_u64().unwrap()));
    let second: Value = serde_json::from_slice(&run(&jpeg, &out).stdout).unwrap();
    assert_eq!(second["from_cache"], true);
    assert_eq!(second["cache_file"], first["cache_file"]);
    assert_eq!(requests(&server.url).iter().filter(|(path, _)| path == "/preview.jpg").count(), 1);
    let missing = run(&format!("{}/nothing.jpg", server.url), &out);
    assert!(!missing.status.success());
    let error = String::from_utf8_lossy(&missing.stdout).to_string() + &String::from_utf8_lossy(&missing.stderr);
    assert!(error.contains("404") && error.contains("no file nothing.jpg"), "{error}");
}
