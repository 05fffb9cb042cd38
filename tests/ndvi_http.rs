//! NDVI inputs and COG previews over http(s): a small Range-capable HTTP server (std TcpListener, in this
//! test) serves the real Sentinel-2 fixtures and generated multi-tile COGs; the product made from the
//! URLs equals the one made from the local files, a small window fetches only the header and its tiles,
//! and a 404 names the item, the band and the URL.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meshlake::engine::jobs::{JobError, JobResult, JobRuntime, JobSpec, error_chain};
use meshlake::engine::ndvi::zarr_out::ProductReader;
use meshlake::engine::ndvi::{ItemFilter, NdviProduct, NdviRequest, NdviSource};
use meshlake::engine::raster::GeoGrid;
use meshlake::engine::raster::cog::{CogReader, CogWriteOptions, write_cog_u16};
use serde_json::json;

/// Serves the files of `root`, honouring `Range: bytes=a-b`; counts the body bytes it sends.
struct RangeServer {
    base: String,
    sent: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RangeServer {
    fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (sent_c, requests_c) = (sent.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, sent, requests) = (root.clone(), sent_c.clone(), requests_c.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &root, &sent, &requests);
                });
            }
        });
        Self { base, sent, requests }
    }

    fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    fn reset(&self) {
        self.sent.store(0, Ordering::SeqCst);
        self.requests.lock().unwrap().clear();
    }
}

/// One request per connection (`Connection: close`).
fn serve(stream: TcpStream, root: &Path, sent: &AtomicU64, requests: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = value.trim().strip_prefix("bytes=").map(str::to_owned);
            }
        }
    }
    requests.lock().unwrap().push(format!("{path} {}", range.clone().unwrap_or_default()));
    let mut out = stream;
    let Ok(bytes) = std::fs::read(root.join(&path)) else {
        return out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
    };
    let len = bytes.len() as u64;
    let (status, start, end) = match range.as_deref().and_then(|r| r.split_once('-')) {
        Some((a, b)) => {
            let start: u64 = a.parse().unwrap_or(0);
            let end: u64 = b.parse::<u64>().unwrap_or(len - 1).min(len - 1);
            if start >= len {
                let head = format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                return out.write_all(head.as_bytes());
            }
            ("206 Partial Content", start, end)
        }
        None => ("200 OK", 0, len - 1),
    };
    let body = &bytes[start as usize..=end as usize];
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{len}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
        body.len()
    );
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    sent.fetch_add(body.len() as u64, Ordering::SeqCst);
    Ok(())
}

fn write_item(dir: &Path, id: &str, red: &str, nir: &str) -> PathBuf {
    let item = json!({
        "type": "Feature", "stac_version": "1.0.0", "id": id, "geometry": null,
        "properties": {"datetime": "2017-07-29T15:30:00Z"}, "links": [],
        "assets": {"B04": {"href": red, "raster:bands": [{"nodata": 0}]}, "B08": {"href": nir, "raster:bands": [{"nodata": 0}]}}
    });
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_vec(&item).unwrap()).unwrap();
    path
}

fn run(item: PathBuf, out: PathBuf) -> Result<NdviProduct, JobError> {
    let request = NdviRequest {
        source: NdviSource::Paths(vec![item]),
        filter: ItemFilter::default(),
        red: None,
        nir: None,
        crs_epsg: None,
        resolution: None,
        chunk: 256,
        force_chunk: false,
        out,
        publish: None,
    };
    let (runtime, mut events) = JobRuntime::start(2, Arc::new(|| {})).unwrap();
    match runtime.run_to_end(&mut events, JobSpec::Ndvi(Box::new(request)), |_, _, _| {})? {
        JobResult::Ndvi(product) => Ok(*product),
        other => panic!("unexpected result {other:?}"),
    }
}

/// Every value of a product's first time slice, as bits (NaN-exact comparison).
fn product_bits(path: &Path) -> Vec<u32> {
    let reader = ProductReader::open(path, "ndvi").unwrap();
    let (w, h) = (reader.grid.width, reader.grid.height);
    reader.read_window(0, 0, 0, w, h).unwrap().iter().map(|v| v.to_bits()).collect()
}

/// Two multi-tile deflate COGs (red, NIR) with a nodata corner, 1000×1000 in 128 px tiles.
fn write_scene(dir: &Path) -> (PathBuf, PathBuf, u64) {
    let grid = GeoGrid { epsg: 32631, origin_x: 600000.0, origin_y: 5800000.0, pixel_size_x: 10.0, pixel_size_y: 10.0, width: 1000, height: 1000 };
    let options = CogWriteOptions { tile_size: 128, ..CogWriteOptions::default() };
    let mut paths = Vec::new();
    for (name, base) in [("red.tif", 900u32), ("nir.tif", 3000u32)] {
        let data: Vec<u16> = (0..1000u32 * 1000)
            .map(|i| {
                let (x, y) = (i % 1000, i / 1000);
                if x < 100 && y < 100 { 0 } else { (base + (x * 7 + y * 13) % 500 + (i.wrapping_mul(2654435761) >> 24)) as u16 }
            })
            .collect();
        let path = dir.join(name);
        write_cog_u16(&path, &grid, &data, Some(0), &options).unwrap();
        paths.push(path);
    }
    let size = std::fs::metadata(&paths[0]).unwrap().len();
    (paths.remove(0), paths.remove(0), size)
}

#[test]
fn ndvi_from_http_cogs_equals_the_local_product() {
    let Some(fixtures) = common::fixtures() else { return };
    let s2 = fixtures.join("rasters/rio-tiler-legacy-sentinel2-19UDP");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(s2.join("B04.tif"), tmp.path().join("B04.tif")).unwrap();
    std::fs::copy(s2.join("B08.tif"), tmp.path().join("B08.tif")).unwrap();
    let (red, nir, _) = write_scene(tmp.path());
    let server = RangeServer::start(tmp.path().to_path_buf());

    // The real Sentinel-2 bands, and the multi-tile scene (several range requests per band).
    for (id, local_red, local_nir, url_red, url_nir) in [
        ("s2", tmp.path().join("B04.tif"), tmp.path().join("B08.tif"), server.url("B04.tif"), server.url("B08.tif")),
        ("scene", red.clone(), nir.clone(), server.url("red.tif"), server.url("nir.tif")),
    ] {
        let local_item = write_item(tmp.path(), &format!("{id}-local"), local_red.to_str().unwrap(), local_nir.to_str().unwrap());
        let http_item = write_item(tmp.path(), &format!("{id}-http"), &url_red, &url_nir);
        let local = run(local_item, tmp.path().join(format!("{id}-local.zarr"))).unwrap();
        server.reset();
        let remote = run(http_item, tmp.path().join(format!("{id}-http.zarr"))).unwrap();
        assert!(server.sent.load(Ordering::SeqCst) > 0, "nothing was fetched over http");
        assert_eq!(remote.shape, local.shape);
        assert_eq!(remote.grid, local.grid);
        assert_eq!(remote.valid_fraction, local.valid_fraction);
        assert!(local.valid_fraction > 0.5, "{}", local.valid_fraction);
        assert_eq!(product_bits(&remote.zarr), product_bits(&local.zarr), "{id}: the http product differs from the local one");
    }
}

#[test]
fn a_small_window_fetches_the_header_and_its_tiles_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (red, _, size) = write_scene(tmp.path());
    let server = RangeServer::start(tmp.path().to_path_buf());
    let url = server.url("red.tif");
    let mut local = CogReader::open(&red).unwrap();
    let mut remote = CogReader::open(Path::new(&url)).unwrap();
    assert_eq!(remote.info(), local.info());
    let header = server.sent.load(Ordering::SeqCst);
    // A 64×64 window inside one 128 px tile: the header plus that tile.
    let window = remote.read_window_u16(0, 300, 420, 64, 64).unwrap();
    assert_eq!(window, local.read_window_u16(0, 300, 420, 64, 64).unwrap());
    let fetched = server.sent.load(Ordering::SeqCst);
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one request for the header, one for the tile: {requests:?}");
    assert!(fetched < size / 10, "fetched {fetched} of {size} bytes (header {header})");
    // An overview level over http too.
    assert_eq!(remote.read_level_u16(2).unwrap(), local.read_level_u16(2).unwrap());
}

#[test]
fn a_404_asset_names_the_item_the_band_and_the_url() {
    let Some(fixtures) = common::fixtures() else { return };
    let s2 = fixtures.join("rasters/rio-tiler-legacy-sentinel2-19UDP");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(s2.join("B04.tif"), tmp.path().join("B04.tif")).unwrap();
    let server = RangeServer::start(tmp.path().to_path_buf());
    let missing = server.url("gone/B08.tif");
    let item = write_item(tmp.path(), "remote-404", &server.url("B04.tif"), &missing);
    let out = tmp.path().join("x.zarr");
    let err = error_chain(&run(item, out.clone()).unwrap_err());
    assert!(err.contains("item remote-404, band nir") && err.contains(&missing) && err.contains("404"), "{err}");
    assert!(!out.exists());
}
