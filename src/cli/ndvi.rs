//! `meshlake ndvi`: arguments → an NDVI `JobSpec`, and the product printed as the JSON;
//! `meshlake ndvi stats`: the histogram and statistics of a product's (or any float Zarr array's) area.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::engine::jobs::JobSpec;
use crate::engine::ndvi::stats::{AreaStats, AreaStatsRequest};
use crate::engine::ndvi::{DEFAULT_CHUNK, ItemFilter, NdviProduct, NdviRequest, NdviSource};

/// `meshlake ndvi SOURCE… --out PRODUCT.zarr` computes a product; `meshlake ndvi stats PRODUCT.zarr`
/// reads one back.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct NdviCommandArgs {
    #[command(subcommand)]
    pub command: Option<NdviSubcommand>,
    #[command(flatten)]
    pub compute: NdviArgs,
}

impl NdviCommandArgs {
    pub fn json(&self) -> bool {
        match &self.command {
            Some(NdviSubcommand::Stats(args)) => args.json,
            None => self.compute.json,
        }
    }

    /// The job for these arguments, and whether to print JSON.
    pub fn spec(self) -> anyhow::Result<(JobSpec, bool)> {
        match self.command {
            Some(NdviSubcommand::Stats(args)) => stats_spec(args),
            None => ndvi_spec(self.compute),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum NdviSubcommand {
    /// Histogram (40 bins over [-1, 1]), valid and NaN counts, min, max and mean of one time slice of a
    /// Zarr float array, under a lon/lat bbox or over the whole array; reads only the chunks under the bbox.
    Stats(NdviStatsArgs),
}

#[derive(Debug, clap::Args)]
pub struct NdviStatsArgs {
    /// The Zarr store (e.g. products/ndvi.zarr).
    pub zarr: PathBuf,
    /// lon/lat bbox W,S,E,N (default: the whole array); a western longitude may lead: `--bbox -70.2,48.1,-69.9,48.4`.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub bbox: Option<Vec<f64>>,
    /// Time index (0 = the earliest slice).
    #[arg(long, default_value_t = 0)]
    pub time: usize,
    /// The array in the store.
    #[arg(long, default_value = "ndvi")]
    pub variable: String,
    #[arg(long)]
    pub json: bool,
}

fn stats_spec(args: NdviStatsArgs) -> anyhow::Result<(JobSpec, bool)> {
    let bbox = bbox_argument(args.bbox.as_deref())?;
    let request = AreaStatsRequest { zarr: args.zarr, variable: args.variable, time: args.time, bbox };
    Ok((JobSpec::NdviStats(request), args.json))
}

/// `--bbox W,S,E,N` as four numbers (clap splits at the commas).
fn bbox_argument(values: Option<&[f64]>) -> anyhow::Result<Option<[f64; 4]>> {
    match values {
        None => Ok(None),
        Some(&[w, s, e, n]) if w <= e && s <= n && [w, s, e, n].iter().all(|v| v.is_finite()) => Ok(Some([w, s, e, n])),
        Some(other) => anyhow::bail!("--bbox {other:?}: expected four numbers W,S,E,N in degrees with W <= E and S <= N"),
    }
}

/// A bbox that misses the array is an error on the command line (a script asked for pixels that are not there).
pub fn check_overlap(stats: &AreaStats) -> anyhow::Result<()> {
    match (stats.bbox, stats.window) {
        (Some([w, s, e, n]), None) => {
            let [aw, as_, ae, an] = stats.array_bbox;
            anyhow::bail!(
                "no overlap: --bbox {w},{s},{e},{n} does not overlap {}/{} (lon/lat bounds {aw:.5},{as_:.5},{ae:.5},{an:.5}); choose a bbox inside those bounds",
                stats.zarr.display(),
                stats.variable
            )
        }
        _ => Ok(()),
    }
}

/// Human-readable statistics.
pub fn describe_stats(stats: &AreaStats) -> String {
    let area = match stats.bbox {
        Some([w, s, e, n]) => format!("bbox {w},{s},{e},{n}"),
        None => "the whole array".to_owned(),
    };
    let when = stats.time.clone().unwrap_or_else(|| format!("index {}", stats.time_index));
    let mut text = format!("{}/{} at {when}, {area} ({}):\n", stats.zarr.display(), stats.variable, stats.crs);
    match stats.window {
        None => text.push_str("  no overlap with the array\n"),
        Some(w) => {
            let opt = |v: Option<f32>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".to_owned());
            text.push_str(&format!(
                "  pixels: columns {}..{}, rows {}..{} ({} chunk(s) read)\n  valid: {}, NaN: {}\n  min {}, max {}, mean {}\n",
                w.col0,
                w.col0 + w.cols,
                w.row0,
                w.row0 + w.rows,
                stats.chunks_read,
                stats.valid,
                stats.nan,
                opt(stats.min),
                opt(stats.max),
                stats.mean.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".to_owned())
            ));
            for (i, n) in stats.bins.iter().enumerate() {
                if let (Some(a), Some(b)) = (stats.bin_edges.get(i), stats.bin_edges.get(i + 1)) {
                    text.push_str(&format!("  [{a:+.2}, {b:+.2}) {n}\n"));
                }
            }
        }
    }
    text
}

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
    /// lon/lat bbox: MIN_LON,MIN_LAT,MAX_LON,MAX_LAT (a western longitude may lead: `--bbox -70.5,48,-69,49`).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
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
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
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
        bbox: bbox_argument(args.bbox.as_deref())?,
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
        out: args.out.context("--out PRODUCT.zarr is required")?,
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
