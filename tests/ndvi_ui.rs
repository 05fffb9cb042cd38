//! NDVI in the GUI: on the demo workspace, "Compute NDVI…" on the demo collection runs the job, the product
//! appears as a red-yellow-green raster tile layer whose tiles render, with legend, time slider and the
//! histogram of the visible map area (a job per still view and time slice, "no overlap" away from it), and
//! the product catalog opens in the Catalog panel with the new STAC item.

mod common;

use common::ui::{options, step_until};

use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::engine::stac::NodeKind;
use meshlake::ui::commands::Command;
use meshlake::ui::model::Requested;
use meshlake::ui::MeshlakeApp;

#[test]
fn compute_ndvi_on_the_demo_collection_shows_the_product_on_the_map() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let mut harness = Harness::builder()
        // Tall: the product entry (values, legend, histogram, buttons) sits below the catalog details.
        .with_size(egui::vec2(1500.0, 1800.0))
        .with_max_steps(10_000)
        .build_eframe(move |cc| MeshlakeApp::new(cc, opts).expect("app starts"));
    step_until(&mut harness, Duration::from_secs(180), "the demo catalog", |app| {
        !app.model.catalogs.is_empty() && app.model.catalogs.iter().all(|c| matches!(c.tree, Requested::Ready(_)))
    });
    let tree = harness.state().model.catalogs[0].tree.value().unwrap().clone();
    let collection = tree.nodes.iter().position(|n| n.kind == NodeKind::Collection).unwrap();
    harness.state_mut().queue_command(Command::SelectCatalogNode { catalog: 0, node: collection });
    harness.step();
    harness.step();
    let button = harness.query_all_by_label_contains("Compute NDVI").next().expect("the Compute NDVI button");
    button.click();
    harness.step();
    step_until(&mut harness, Duration::from_secs(300), "the NDVI product", |app| !app.model.ndvi_products.is_empty());

    let view = harness.state().model.ndvi_products[0].clone();
    let products_dir = tmp.path().join("products");
    assert!(view.product.zarr.starts_with(&products_dir), "{}", view.product.zarr.display());
    assert!(view.product.zarr.join("zarr.json").is_file());
    assert_eq!(view.product.shape[0], 5, "five demo scenes");
    assert!(view.product.stac_item.as_ref().is_some_and(|p| p.is_file()));
    assert_eq!(view.time, 4, "the latest slice is shown");
    let layer = harness.state().map.raster_tile_layer(&view.layer_id).expect("the NDVI layer").clone();
    assert!(matches!(&layer.source, meshlake::ui::map::PreviewSource::Zarr { variable, time: 4, .. } if variable == "ndvi"));
    step_until(&mut harness, Duration::from_secs(60), "an NDVI tile to render", |app| {
        app.map.rendered_raster_tiles(&view.layer_id) > 0
    });
    assert!(harness.state().map.raster_tiles(&view.layer_id).and_then(|t| t.error()).is_none());
    assert!(harness.query_all_by_label_contains("NDVI 2025-07-18").next().is_some(), "listed in the layers");

    // The Catalog panel lists the product with its legend and time slider; moving the slider changes the layer.
    harness.state_mut().queue_command(Command::FocusPane(meshlake::ui::model::Pane::Catalog));
    harness.step();
    harness.step();
    assert!(harness.query_all_by_label_contains("NDVI products").next().is_some());
    assert!(harness.query_all_by_label_contains("1 NDVI").next().is_some(), "legend");

    // The product catalog opened in the Catalog panel, with the new STAC item in its tree.
    let product_catalog = products_dir.join("catalog.json");
    let item_id = view.product.stac_item.as_ref().and_then(|p| p.file_stem()).unwrap().to_string_lossy().to_string();
    step_until(&mut harness, Duration::from_secs(60), "the product catalog in the Catalog panel", |app| {
        app.model.catalogs.iter().any(|c| {
            c.path == product_catalog && c.tree.value().is_some_and(|t| t.nodes.iter().any(|n| n.kind == NodeKind::Item && n.id == item_id))
        })
    });

    // The histogram of the visible map area for the shown (latest) time slice, read by a job once the view is still.
    let visible = harness.state().map.visible_bbox().expect("the map was drawn");
    step_until(&mut harness, Duration::from_secs(60), "the visible-area histogram", |app| {
        matches!(&app.model.ndvi_products[0].area, Requested::Ready(s) if s.time_index == 4 && s.bbox == app.map.visible_bbox())
    });
    let stats = harness.state().model.ndvi_products[0].area.value().unwrap().clone();
    assert!(stats.overlaps() && stats.valid > 0, "{stats:?}");
    assert_eq!(stats.bins.iter().sum::<u64>(), stats.valid);
    assert_eq!(stats.bbox, Some(visible), "the map did not move");
    assert!(stats.chunks_read >= 1);
    let label = format!("visible area, 2025-07-18: {} valid pixels, {} NaN", stats.valid, stats.nan);
    assert!(harness.query_all_by_label_contains(&label).next().is_some(), "{label}");
    assert!(harness.query_all_by_label_contains("Open product catalog").next().is_some());
    assert!(
        harness.state().model.jobs.iter().any(|j| j.title.starts_with("NDVI statistics of")),
        "counted by a job: {:#?}",
        harness.state().model.jobs
    );

    // Pixel inspect: the values of every time slice under a map point, read by a job.
    let b = view.product.bbox;
    let (lon, lat) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    harness.state_mut().queue_command(Command::InspectNdvi { lon, lat });
    step_until(&mut harness, Duration::from_secs(30), "the inspected values", |app| app.model.ndvi_products[0].inspected.is_some());
    let px = harness.state().model.ndvi_products[0].inspected.clone().unwrap();
    assert_eq!(px.values.len(), 5);
    assert_eq!(px.values[0].0, view.product.times[0]);
    assert!(px.values.iter().any(|(_, v)| v.is_some_and(|v| (-1.0..=1.0).contains(&v))), "{px:?}");
    assert!(harness.query_all_by_label_contains("NDVI 0.").next().is_some() || harness.query_all_by_label_contains("no data").next().is_some());

    harness.state_mut().queue_command(Command::SetNdviTime { product: 0, time: 1 });
    harness.step();
    let layer = harness.state().map.raster_tile_layer(&view.layer_id).unwrap().clone();
    assert!(matches!(layer.source, meshlake::ui::map::PreviewSource::Zarr { time: 1, .. }));
    assert!(layer.name.contains("2025-05-04"), "{}", layer.name);
    // The time slider recomputes the visible-area histogram for that slice.
    step_until(&mut harness, Duration::from_secs(60), "the histogram of time slice 1", |app| {
        matches!(&app.model.ndvi_products[0].area, Requested::Ready(s) if s.time_index == 1)
    });
    assert!(harness.query_all_by_label_contains("visible area, 2025-05-04:").next().is_some());

    // A view away from the product: the histogram says so instead of counting anything.
    harness.state_mut().map.set_view([-100.0, 40.0], 9.0);
    step_until(&mut harness, Duration::from_secs(60), "no overlap", |app| {
        matches!(&app.model.ndvi_products[0].area, Requested::Ready(s) if !s.overlaps() && s.bbox == app.map.visible_bbox())
    });
    assert_eq!(harness.state().model.ndvi_products[0].area.value().unwrap().chunks_read, 0);
    assert!(harness.query_all_by_label_contains("does not overlap this product").next().is_some());
    // Three requests so far (first view, time slice 1, the view away): the Jobs panel shows the latest one only.
    let stats_rows = harness.state().model.jobs.iter().filter(|j| j.title.starts_with("NDVI statistics of")).count();
    assert_eq!(stats_rows, 1, "{:#?}", harness.state().model.jobs);

    // "Open product catalog" reads the (open) product catalog again.
    let loads = |app: &MeshlakeApp| app.model.jobs.iter().filter(|j| j.title.contains(&product_catalog.display().to_string())).count();
    let before = loads(harness.state());
    common::ui::click(&mut harness, "Open product catalog");
    assert_eq!(loads(harness.state()), before + 1, "one more catalog load");
    step_until(&mut harness, Duration::from_secs(60), "the reloaded product catalog", |app| {
        app.model.catalogs.iter().filter(|c| c.path == product_catalog).all(|c| matches!(c.tree, Requested::Ready(_)))
    });
    assert_eq!(harness.state().model.catalogs.iter().filter(|c| c.path == product_catalog).count(), 1, "reloaded, not opened twice");

    // The product item's Zarr asset previews on the map; the product is shown already, so no second entry.
    let catalog = harness.state().model.catalogs.iter().position(|c| c.path == product_catalog).unwrap();
    let tree = harness.state().model.catalogs[catalog].tree.value().unwrap().clone();
    let item = tree.nodes.iter().position(|n| n.kind == NodeKind::Item && n.id == item_id).unwrap();
    harness.state_mut().queue_command(Command::SelectCatalogNode { catalog, node: item });
    harness.step();
    harness.step();
    common::ui::click(&mut harness, "Show zarr on the map");
    harness.step();
    step_until(&mut harness, Duration::from_secs(30), "the open job to end", |app| app.model.jobs.iter().all(|j| !j.is_running()));
    assert_eq!(harness.state().model.ndvi_products.len(), 1, "shown once");

    // A product on disk that this session did not make (a copy, as after a restart) opens from File ▸ Open:
    // a layer with its times, the visible-area histogram, no valid fraction claimed.
    let copy = tmp.path().join("copied-product.zarr");
    common::copy_dir(&view.product.zarr, &copy);
    harness.state_mut().queue_command(Command::OpenPath(copy.clone()));
    step_until(&mut harness, Duration::from_secs(60), "the opened product", |app| app.model.ndvi_products.len() == 2);
    let opened = harness.state().model.ndvi_products[1].clone();
    assert!(opened.opened);
    assert_eq!((opened.product.shape, opened.product.crs.as_str(), opened.product.bbox), (view.product.shape, view.product.crs.as_str(), view.product.bbox));
    assert_eq!(opened.product.times, view.product.times);
    assert!(harness.state().map.raster_tile_layer(&opened.layer_id).is_some());
    step_until(&mut harness, Duration::from_secs(60), "the opened product's histogram", |app| {
        matches!(&app.model.ndvi_products[1].area, Requested::Ready(s) if s.overlaps() && s.valid > 0)
    });
    assert!(harness.query_all_by_label_contains("opened from disk").next().is_some());
    // A folder that is a Zarr store without a data array: a clear error, and the app goes on.
    let empty = tmp.path().join("empty.zarr");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("zarr.json"), r#"{"zarr_format":3,"node_type":"group","attributes":{}}"#).unwrap();
    harness.state_mut().queue_command(Command::OpenPath(empty));
    step_until(&mut harness, Duration::from_secs(30), "the error", |app| {
        app.model.notices.iter().any(|n| n.text.contains("cannot show the Zarr store") && n.text.contains("no data array"))
    });
    assert_eq!(harness.state().model.ndvi_products.len(), 2);
}
