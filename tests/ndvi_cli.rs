//! `meshlake ndvi` end to end: the demo workspace's scenes → a product and versioned STAC items; a job
//! killed mid-write leaves neither a product nor a STAC item; `--bbox W,S,E,N` (a leading western longitude
//! too) filters the items.

mod common;

use std::path::Path;
use std::process::Command;

fn meshlake() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshlake"))
}

fn demo(dir: &Path) {
    let out = meshlake().args(["demo", "--dir"]).arg(dir).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn demo_scenes_make_a_product_and_each_publish_is_a_new_version() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    demo(&dir);
    let catalog = dir.join("stac/catalog.json");
    let products = tmp.path().join("products");
    let mut versions = Vec::new();
    for name in ["a.zarr", "b.zarr"] {
        let out = meshlake()
            .arg("ndvi")
            .arg(&catalog)
            .args(["--cloud-lt", "90", "--out"])
            .arg(products.join(name))
            .arg("--publish")
            .arg(&products)
            .arg("--json")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.trim().lines().count(), 1, "exactly one JSON object");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(v["variable"], "ndvi");
        assert_eq!(v["crs"], "EPSG:32631");
        assert_eq!(v["chunks"], serde_json::json!([1, 1024, 1024]));
        assert_eq!(v["shape"][0], 5);
        assert_eq!(v["items_used"].as_array().unwrap().len(), 5);
        let valid = v["valid_fraction"].as_f64().unwrap();
        assert!(valid > 0.1 && valid < 0.9, "{valid}");
        assert!(Path::new(v["zarr"].as_str().unwrap()).join("zarr.json").exists());
        versions.push(v["stac_item"].as_str().unwrap().to_owned());
    }
    assert!(versions[0].ends_with("ndvi-20250504-20250718-v1.json"), "{versions:?}");
    assert!(versions[1].ends_with("ndvi-20250504-20250718-v2.json"), "{versions:?}");
    let item: serde_json::Value = serde_json::from_slice(&std::fs::read(&versions[0]).unwrap()).unwrap();
    assert_eq!(item["assets"]["zarr"]["href"], "../../a.zarr", "v1 still points at its own product");
    assert_eq!(item["properties"]["proj:epsg"], 32631);
    assert_eq!(item["properties"]["start_datetime"], "2025-05-04T10:56:21+00:00");
    let derived: Vec<_> = item["links"].as_array().unwrap().iter().filter(|l| l["rel"] == "derived_from").collect();
    assert_eq!(derived.len(), 5);
    for link in derived {
        let target = Path::new(&versions[0]).parent().unwrap().join(link["href"].as_str().unwrap());
        assert!(target.exists(), "{}", target.display());
    }
    let bbox: Vec<f64> = item["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(bbox[0] > 4.0 && bbox[2] < 5.0 && bbox[1] > 52.0 && bbox[3] < 52.5, "{bbox:?}");

    // The product renders as red-yellow-green map tiles (the layer the GUI shows); saved for a look.
    let zarr = products.join("a.zarr");
    let mut renderer = meshlake::engine::raster::preview::PreviewRenderer::open(
        meshlake::engine::raster::preview::PreviewSource::Zarr { path: zarr, variable: "ndvi".into(), time: 2 },
    )
    .unwrap();
    let tile = renderer.render_tile(10, 524, 337).unwrap().expect("the tile overlaps the product");
    let px: Vec<[u8; 4]> = tile.pixels.chunks(4).map(|p| [p[0], p[1], p[2], p[3]]).collect();
    let green = px.iter().filter(|p| p[3] == 255 && p[1] > 120 && p[0] < 120).count();
    let warm = px.iter().filter(|p| p[3] == 255 && p[0] > 200 && p[2] < 150).count();
    assert!(green > 1000 && warm > 100, "green {green}, red/orange/yellow {warm}");
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ndvi-demo-tile-10-524-337.png");
    image::save_buffer(&png, &tile.pixels, tile.width, tile.height, image::ExtendedColorType::Rgba8).unwrap();
    println!("NDVI tile saved to {}", png.display());

    // The product catalog opens as a static catalog with both versions.
    let out = meshlake().arg("scan").arg(&products).arg("--json").output().unwrap();
    assert!(out.status.success());

    // pystac validates the structure (links resolve, items load).
    if let Some(python) = common::python() {
        let code = "import sys, pystac\nc = pystac.Catalog.from_file(sys.argv[1])\nprint(sorted(i.id for i in c.get_items(recursive=True)))";
        let text = common::run_python(&python, code, &[products.join("catalog.json").to_str().unwrap()]);
        assert_eq!(text.trim(), "['ndvi-20250504-20250718-v1', 'ndvi-20250504-20250718-v2']");
    }

    // An existing product is never overwritten.
    let out = meshlake().arg("ndvi").arg(&catalog).arg("--out").arg(products.join("a.zarr")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn a_job_killed_mid_write_leaves_no_product_and_no_stac_item() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    demo(&dir);
    let products = tmp.path().join("products");
    std::fs::create_dir_all(&products).unwrap();
    let mut child = meshlake()
        .arg("ndvi")
        .arg(dir.join("stac/catalog.json"))
        .args(["--chunk", "256", "--out"])
        .arg(products.join("k.zarr"))
        .arg("--publish")
        .arg(&products)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until chunks are being written into the temporary store, then kill -9.
    let partial_has_chunks = || {
        std::fs::read_dir(&products).unwrap().flatten().any(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.starts_with(".k.zarr.partial") && e.path().join("ndvi/c/0").exists()
        })
    };
    let mut seen = false;
    for _ in 0..2000 {
        if partial_has_chunks() {
            seen = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen, "the job finished before it could be killed mid-write");
    assert!(!products.join("k.zarr").exists(), "no partial product under the final name");
    assert!(!products.join("catalog.json").exists() && !products.join("ndvi").exists(), "no STAC item");
}

#[test]
fn the_bbox_filter_takes_w_s_e_n_with_a_leading_western_longitude() {
    let Some(fixtures) = common::fixtures() else { return };
    let s2 = fixtures.join("rasters/rio-tiler-legacy-sentinel2-19UDP");
    let tmp = tempfile::tempdir().unwrap();
    let item = serde_json::json!({
        "type": "Feature", "stac_version": "1.0.0", "id": "S2A_19UDP_20170729", "collection": "s2-test",
        "geometry": null, "bbox": [-70.5, 48.0, -69.0, 49.0], "properties": {"datetime": "2017-07-29T15:30:00Z"},
        "links": [], "assets": {"B04": {"href": s2.join("B04.tif")}, "B08": {"href": s2.join("B08.tif")}}
    });
    let item_path = tmp.path().join("item.json");
    std::fs::write(&item_path, serde_json::to_vec(&item).unwrap()).unwrap();
    let run = |bbox: &str, out: &str| {
        meshlake().arg("ndvi").arg(&item_path).args(["--bbox", bbox, "--force-chunk", "--chunk", "64", "--json", "--out"]).arg(tmp.path().join(out)).output().unwrap()
    };
    let out = run("-70.4,48.1,-69.1,48.9", "over.zarr");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let product: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(product["items_used"], serde_json::json!(["S2A_19UDP_20170729"]));
    let out = run("-60.5,48.1,-60.1,48.9", "away.zarr");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no imagery found matching domain parameters") && stderr.contains("-60.5"), "{stderr}");
    assert!(!tmp.path().join("away.zarr").exists());
    let out = run("-70.4,48.1,-69.1", "three.zarr");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("expected four numbers W,S,E,N"));
}
