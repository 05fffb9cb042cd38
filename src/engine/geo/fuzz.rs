//! The fuzz target of the geometry readers, shared by the cargo-fuzz crate (`tests/fuzz`) and the
//! deterministic mutation test of the normal suite (`tests/geo_fuzz.rs`).
//!
//! One input is fed to every reader of untrusted geometry bytes and metadata: the WKB reader
//! ([`decode_wkb`]), the validator built on it ([`check_value`], with a lon/lat CRS, an EPSG code and a
//! declared type so that every check runs), and — read as UTF-8 text — the GeoParquet `geo` metadata
//! summary, the contract `geo` comparison and the contract parser. None may panic; each rejection is
//! counted.

use serde_json::json;

use super::geoparquet::summarize_geo_metadata;
use super::validate::{Expectations, ProblemKind, check_value};
use super::wkb_read::decode_wkb;
use crate::engine::lake::contract::{Contract, check_geo};

/// What the readers made of one input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuzzVerdict {
    /// The WKB reader accepted the bytes.
    pub wkb_ok: bool,
    /// The validator found the bytes malformed (`invalid_wkb`); equals `!wkb_ok`.
    pub invalid_wkb: bool,
    /// Other validation findings (type, validity, CRS area, SRID).
    pub findings: usize,
    /// The bytes were UTF-8 and the `geo` metadata summary accepted them.
    pub geo_ok: bool,
    /// Problems the contract comparison reported for them as a file's `geo` metadata.
    pub geo_problems: usize,
    /// The contract parser accepted them.
    pub contract_ok: bool,
}

/// Run every reader over `data`.
pub fn geo_readers(data: &[u8]) -> FuzzVerdict {
    let mut verdict = FuzzVerdict { wkb_ok: decode_wkb(data).is_ok(), ..Default::default() };
    let expect = Expectations { geometry_types: vec!["Polygon".into(), "MultiPolygon".into()], lon_lat: true, epsg: Some(4326) };
    let (findings, _bbox) = check_value(Some(data), &expect);
    verdict.invalid_wkb = findings.iter().any(|f| f.kind == ProblemKind::InvalidWkb);
    verdict.findings = findings.iter().filter(|f| f.kind != ProblemKind::InvalidWkb).count();
    if let Ok(text) = std::str::from_utf8(data) {
        verdict.geo_ok = summarize_geo_metadata(text, "fuzz").is_ok();
        let wanted = json!({"version": "1.1.0", "primary_column": "geometry",
            "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"]}}});
        verdict.geo_problems = check_geo(&wanted, Some(text)).len();
        verdict.contract_ok = Contract::parse(text, false, "fuzz").is_ok() || Contract::parse(text, true, "fuzz").is_ok();
    }
    verdict
}
