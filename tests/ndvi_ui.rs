//! NDVI in the GUI: on the demo workspace, "Compute NDVI…" on the demo collection runs the job, the product
//! appears as a red-yellow-green raster tile layer whose tiles render, with legend, time slider and histogram.

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
        .with_size(egui::vec2(1500.0, 950.0))
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
}
