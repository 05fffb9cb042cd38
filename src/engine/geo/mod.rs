//! Geometry: WKB, GeoParquet metadata, CRS.
//!
//! Everything here is format plumbing shared by the lake tables and the validators: encoding
//! polygons as ISO WKB ([`wkb`]) and reading/writing the GeoParquet `geo` key-value metadata
//! ([`geoparquet`]). Never imports egui, eframe or walkers.

pub mod fuzz;
pub mod geoparquet;
pub mod predicate;
pub mod validate;
pub mod wkb;
pub mod wkb_read;

/// Everything that can go wrong while encoding, decoding or describing geometries.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// A geometry could not be written as WKB.
    #[error("could not encode {what} as WKB: {source}")]
    WkbEncode {
        /// Which geometry (e.g. a parcel id).
        what: String,
        /// What geozero reported.
        #[source]
        source: geozero::error::GeozeroError,
    },
    /// Bytes that should be WKB could not be parsed.
    #[error(
        "could not decode the WKB geometry of {what}: {source}; the bytes are not well-formed ISO WKB"
    )]
    WkbDecode {
        /// Which geometry (e.g. a parcel id or a row number).
        what: String,
        /// What geozero reported.
        #[source]
        source: geozero::error::GeozeroError,
    },
    /// The GeoParquet `geo` metadata could not be built or parsed.
    #[error(
        "GeoParquet `geo` metadata of {context} is not valid: {source}; expected GeoParquet 1.x JSON with `version`, `primary_column` and `columns`"
    )]
    GeoMetadata {
        /// Where the metadata came from (a file or table).
        context: String,
        /// The JSON problem.
        #[source]
        source: serde_json::Error,
    },
}
