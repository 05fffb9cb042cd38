//! The demo workspace as the Python peers see it: every band is a valid COG (rio-cogeo), the static
//! catalog loads in pystac with all items and assets, and both tables read in deltalake / pyiceberg.

mod common;

use std::process::Command;

#[test]
fn peers_read_the_whole_demo_workspace() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_meshlake")).args(["demo", "--dir"]).arg(&dir).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let code = r#"
import json, sys, glob, os
import pystac, rasterio
from pystac.extensions.projection import ProjectionExtension
from rio_cogeo.cogeo import cog_validate
from deltalake import DeltaTable
from pyiceberg.catalog.sql import SqlCatalog

summary = json.loads(sys.argv[1])
report = {}
catalog = pystac.Catalog.from_file(summary["stac_catalog"])
items = list(catalog.get_items(recursive=True))
report["items"] = len(items)
report["dates"] = sorted({i.datetime.date().isoformat() for i in items})
bands = 0
for item in items:
    # pystac migrates projection v1.1 (`proj:epsg`, as written) to v2 (`proj:code`); ask the extension.
    proj = ProjectionExtension.ext(item)
    assert "eo:cloud_cover" in item.properties and proj.epsg, item.id
    for key in ("B04", "B08"):
        href = item.assets[key].get_absolute_href()
        valid, errors, warnings = cog_validate(href)
        assert valid and not errors, (href, errors)
        with rasterio.open(href) as src:
            assert src.dtypes[0] == "uint16" and src.nodata == 0, href
            assert src.crs.to_epsg() == proj.epsg, (href, src.crs)
            assert src.overviews(1), href
            assert src.profile.get("compress", "").lower() == "deflate", src.profile
            left, bottom, right, top = src.bounds
            assert [left, bottom, right, top] == list(proj.bbox), (src.bounds, proj.bbox)
        bands += 1
    assert os.path.isfile(item.assets["thumbnail"].get_absolute_href())
report["bands"] = bands
dt = DeltaTable(summary["delta_tables"][0])
report["delta_rows"] = dt.to_pyarrow_table().num_rows
report["delta_version"] = dt.version()
db = summary["iceberg_catalog"]
warehouse = os.path.dirname(db) + "/warehouse"
cat = SqlCatalog("default", uri="sqlite:///" + db, warehouse="file://" + warehouse)
table = cat.load_table("demo.parcels")
report["iceberg_rows"] = table.scan().to_arrow().num_rows
report["iceberg_snapshots"] = len(table.snapshots())
print(json.dumps(report))
"#;
    let report: serde_json::Value =
        serde_json::from_str(&common::run_python(&python, code, &[&summary.to_string()])).unwrap();
    assert!(report["items"].as_u64().unwrap() >= 4, "{report}");
    assert!(report["dates"].as_array().unwrap().len() >= 2, "{report}");
    assert_eq!(report["bands"].as_u64().unwrap(), 2 * report["items"].as_u64().unwrap());
    assert!(report["delta_version"].as_u64().unwrap() >= 5, "many small commits: {report}");
    assert_eq!(report["delta_rows"], report["iceberg_rows"], "{report}");
    assert!(report["iceberg_snapshots"].as_u64().unwrap() >= 3, "{report}");
}
