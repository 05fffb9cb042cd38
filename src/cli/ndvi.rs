//! `meshlake ndvi`: arguments → an NDVI `JobSpec`, and the product printed as the JSON.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::engine::jobs::JobSpec;
use crate::engine::ndvi::{DEFAULT_CHUNK, ItemFilter, NdviProduct, NdviRequest, NdviSource};

/// Compute an NDVI product (Zarr) from STAC items' red/NIR COGs.
#[derive(Debug, clap::Args)]
pub struct NdviArgs {
    /// STAC item JSON files, or catalog/collection JSON files (all their items are candidates).
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// Only these item ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub items: Vec<String>,
    /// Only items of these collections (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub collections: Vec<String>,
    /// lon/lat bbox: MIN_LON,MIN_LAT,MAX_LON,MAX_LAT.
    #[arg(long, value_delimiter = ',', num_args = 4, allow_negative_numbers = true)]
    pub bbox: Option<Vec<f64>>,
    /// A datetime range A/B (RFC 3339 or YYYY-MM-DD; `..` for open ends).
    #[arg(long)]
    pub datetime: Option<String>,
    /// Only items with eo:cloud_cover below this percentage.
    #[arg(long = "cloud-lt")]
    pub cloud_lt: Option<f64>,
    /// At most this many items (the earliest, after filtering).
    #[arg(long = "max-items")]
    pub max_items: Option<usize>,
    /// Asset key of the red band (default: B04, red, or eo:bands common name "red").
    #[arg(long)]
    pub red: Option<String>,
    /// Asset key of the near-infrared band (default: B08, nir, or common name "nir").
    #[arg(long)]
    pub nir: Option<String>,
    /// Output CRS, EPSG:N (default: the first item's).
    #[arg(long)]
    pub crs: Option<String>,
    /// Output pixel size in CRS units (default: the first item's).
    #[arg(long)]
    pub resolution: Option<f64>,
    /// Chunk side in pixels (256..=1024 unless --force-chunk).
    #[arg(long, default_value_t = DEFAULT_CHUNK)]
    pub chunk: u32,
    #[arg(long = "force-chunk")]
    pub force_chunk: bool,
    /// The product to write (a new folder, e.g. PRODUCT.zarr).
    #[arg(long)]
    pub out: PathBuf,
    /// Publish a STAC item for the product into this local catalog folder.
    #[arg(long)]
    pub publish: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// The job for these arguments, and whether to print JSON.
pub fn ndvi_spec(args: NdviArgs) -> anyhow::Result<(JobSpec, bool)> {
    let datetime = args
        .datetime
        .as_deref()
        .map(crate::engine::ndvi::items::parse_datetime_range)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--datetime: {e}"))?;
    let crs_epsg = args
        .crs
        .as_deref()
        .map(|c| crate::engine::crs::epsg_code(c).with_context(|| format!("--crs {c:?} is not EPSG:N")))
        .transpose()?;
    let filter = ItemFilter {
        ids: args.items,
        collections: args.collections,
        bbox: args.bbox.map(|b| [b[0], b[1], b[2], b[3]]),
        datetime,
        cloud_lt: args.cloud_lt,
        max_items: args.max_items,
    };
    let request = NdviRequest {
        source: NdviSource::Paths(args.sources),
        filter,
        red: args.red,
        nir: args.nir,
        crs_epsg,
        resolution: args.resolution,
        chunk: args.chunk,
        force_chunk: args.force_chunk,
        out: args.out,
        publish: args.publish,
    };
    Ok((JobSpec::Ndvi(Box::new(request)), args.json))
}

/// Human-readable summary lines.
pub fn describe(product: &NdviProduct) -> String {
    let mut text = format!(
        "NDVI written to {}\n  shape (time, y, x): {:?}, chunks {:?}, {}\n  items: {}\n  valid: {:.1}%\n",
        product.zarr.display(),
        product.shape,
        product.chunks,
        product.crs,
        product.items_used.join(", "),
        product.valid_fraction * 100.0
    );
    if let Some(item) = &product.stac_item {
        text.push_str(&format!("  STAC item: {}\n", item.display()));
    }
    text
}
