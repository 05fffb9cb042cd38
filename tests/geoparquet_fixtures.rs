//! The GeoParquet test data (1.1.0 and 2.0-dev, WKB encoding) read with the bounds-checked WKB reader:
//! every geometry equals the WKT shipped beside it, the `geo` metadata summarises, and the validators'
//! type check accepts each file's declared types.

mod common;

use arrow::array::{Array, AsArray};
use geo::Geometry;
use meshlake::engine::geo::geoparquet::summarize_geo_metadata;
use meshlake::engine::geo::validate::{Expectations, check_value};
use meshlake::engine::geo::wkb_read::decode_wkb;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use wkt::TryFromWkt;

fn csv_rows(text: &str) -> Vec<Option<String>> {
    text.lines()
        .skip(1)
        .map(|line| {
            let (_, rest) = line.split_once(',').expect("col,geometry");
            let rest = rest.trim();
            (!rest.is_empty()).then(|| rest.trim_matches('"').to_string())
        })
        .collect()
}

#[test]
fn wkb_test_data_matches_the_wkt_files() {
    let Some(fixtures) = common::fixtures() else { return };
    let mut checked = 0;
    for version in ["v1.1.0", "main-2.0-dev"] {
        let dir = fixtures.join("geoparquet").join(version).join("test_data");
        for kind in ["point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon"] {
            let parquet = dir.join(format!("data-{kind}-encoding_wkb.parquet"));
            let wkt = csv_rows(&std::fs::read_to_string(dir.join(format!("data-{kind}-wkt.csv"))).unwrap());
            let file = std::fs::File::open(&parquet).unwrap();
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let geo_json = builder.metadata().file_metadata().key_value_metadata().unwrap().iter().find(|kv| kv.key == "geo").unwrap().value.clone().unwrap();
            let columns = summarize_geo_metadata(&geo_json, &parquet.display().to_string()).unwrap();
            assert_eq!(columns[0].name, "geometry");
            let expect = Expectations { geometry_types: columns[0].geometry_types.clone(), lon_lat: false, epsg: None };
            let mut row = 0;
            for batch in builder.build().unwrap() {
                let batch = batch.unwrap();
                let column = batch.column_by_name("geometry").unwrap().as_binary::<i32>().clone();
                for i in 0..column.len() {
                    let expected = &wkt[row];
                    match expected {
                        None => assert!(column.is_null(i), "{version} {kind} row {row}: null"),
                        Some(text) => {
                            let decoded = decode_wkb(column.value(i)).unwrap_or_else(|e| panic!("{version} {kind} row {row}: {e}"));
                            if text.contains("EMPTY") {
                                assert!(decoded.empty, "{version} {kind} row {row}: {text}");
                            } else {
                                let want = Geometry::<f64>::try_from_wkt_str(text).unwrap();
                                assert_eq!(decoded.geometry, want, "{version} {kind} row {row}");
                                let (findings, _) = check_value(Some(column.value(i)), &expect);
                                assert!(findings.iter().all(|f| f.kind != meshlake::engine::geo::validate::ProblemKind::WrongType), "{findings:?}");
                            }
                            checked += 1;
                        }
                    }
                    row += 1;
                }
            }
            assert_eq!(row, wkt.len(), "{version} {kind}: all rows");
        }
    }
    assert!(checked >= 30, "{checked}");
}
