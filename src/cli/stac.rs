//! `meshlake stac …`: item search over a STAC API or a static catalog; validation of one STAC document.

use std::io::Write;

use anyhow::Context as _;
use clap::Subcommand;

use crate::engine::jobs::JobSpec;
use crate::engine::stac::job::StacSearchResult;
use crate::engine::stac::queryables::QueryablesResult;
use crate::engine::stac::thumbnail::Thumbnail;
use crate::engine::stac::validate::StacValidation;
use crate::engine::stac::search::{SearchParams, normalize_datetime, parse_bbox, parse_filter, parse_query};

#[derive(Debug, Subcommand)]
pub enum StacCommand {
    /// Item search. SOURCE: a STAC API URL (http/https), a static catalog (catalog.json, a folder) or an
    /// item collection JSON file. `query`/`filter` the server does not declare are applied locally
    /// (the JSON says where: "query": "server"|"local").
    Search {
        source: String,
        /// Comma-separated collection ids.
        #[arg(long, value_delimiter = ',')]
        collections: Vec<String>,
        /// Comma-separated item ids.
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        /// MINX,MINY,MAXX,MAXY in lon/lat.
        #[arg(long, conflicts_with = "intersects", allow_hyphen_values = true)]
        bbox: Option<String>,
        /// A GeoJSON geometry (text, or @FILE).
        #[arg(long)]
        intersects: Option<String>,
        /// An RFC 3339 instant or interval A/B (`..` for open ends).
        #[arg(long)]
        datetime: Option<String>,
        /// Query extension: `eo:cloud_cover<20`, several joined with commas, or the JSON object.
        #[arg(long)]
        query: Option<String>,
        /// CQL2 filter: JSON (or CQL2 text), or @FILE.
        #[arg(long)]
        filter: Option<String>,
        /// Sort fields, comma-separated, `-` for descending: -properties.datetime.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        sortby: Vec<String>,
        /// Items per page asked of the server.
        #[arg(long)]
        limit: Option<u64>,
        /// Items returned overall at most.
        #[arg(long, default_value_t = 10_000)]
        max_items: u64,
        #[arg(long)]
        json: bool,
    },
    /// Validate a STAC item, collection or catalog JSON (path or http(s) URL) against the core schema of its
    /// `stac_version` and the extension schemas in its `stac_extensions`; exits non-zero when invalid.
    /// JSON: {"valid", "problems": [{"path", "message", "schema"}], "schemas", "stac_version", "kind", "href"}.
    Validate {
        href: String,
        #[arg(long)]
        json: bool,
    },
    /// The properties a search can filter on. SOURCE as for `search`. From a STAC API that declares
    /// queryables (`/queryables`, `/collections/ID/queryables`); otherwise derived from the properties present
    /// in the items (all items of a local source, a sample of an API's) with "derived": true.
    /// JSON: {"source", "collection", "derived", "queryables": [{"name", "title", "type", "enum", "minimum", "maximum"}]}.
    Queryables {
        source: String,
        /// The queryables of this collection.
        #[arg(long)]
        collection: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Load an item thumbnail (PNG/JPEG, http(s) URL or local file) as the GUI does: through the STAC HTTP
    /// client, cached under the cache dir (MESHLAKE_CACHE_DIR) so a second load makes no request.
    /// JSON: {"href", "width", "height", "from_cache", "cache_file", "bytes"} (width/height after scaling
    /// to at most 512 px a side); --out writes that image as PNG.
    Thumbnail {
        href: String,
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn text_or_file(value: &str) -> anyhow::Result<String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(value.to_owned()),
    }
}

impl StacCommand {
    pub fn json(&self) -> bool {
        match self {
            StacCommand::Search { json, .. } | StacCommand::Validate { json, .. } | StacCommand::Queryables { json, .. }
            | StacCommand::Thumbnail { json, .. } => *json,
        }
    }

    pub fn spec(self) -> anyhow::Result<(JobSpec, bool)> {
        match self {
            StacCommand::Search {
                source,
                collections,
                ids,
                bbox,
                intersects,
                datetime,
                query,
                filter,
                sortby,
                limit,
                max_items,
                json,
            } => {
                let intersects = intersects
                    .map(|text| -> anyhow::Result<serde_json::Value> {
                        serde_json::from_str(&text_or_file(&text)?).context("--intersects is not GeoJSON")
                    })
                    .transpose()?;
                let params = SearchParams {
                    collections,
                    ids,
                    bbox: bbox.as_deref().map(parse_bbox).transpose()?,
                    intersects,
                    datetime: datetime.as_deref().map(normalize_datetime).transpose()?,
                    query: query.as_deref().map(parse_query).transpose()?,
                    filter: filter.map(|f| text_or_file(&f)).transpose()?.as_deref().map(parse_filter).transpose()?,
                    sortby: sortby.into_iter().filter(|s| !s.trim().is_empty()).collect(),
                    limit,
                    max_items: Some(max_items),
                };
                Ok((JobSpec::StacSearch { source, params }, json))
            }
            StacCommand::Validate { href, json } => Ok((JobSpec::StacValidate { href }, json)),
            StacCommand::Queryables { source, collection, json } => Ok((JobSpec::StacQueryables { source, collection }, json)),
            StacCommand::Thumbnail { href, json, .. } => {
                let cache_dir = crate::engine::settings::AppPaths::from_env().ok().map(|p| p.cache_dir);
                Ok((JobSpec::StacThumbnail { href, remote_source: false, cache_dir }, json))
            }
        }
    }
}

pub fn print_search(out: &mut impl Write, result: &StacSearchResult) -> anyhow::Result<()> {
    let s = &result.summary;
    let matched = s.matched.map(|m| m.to_string()).unwrap_or_else(|| "unknown".into());
    writeln!(out, "{}: {} items returned ({} matched, {} pages, {})", result.source, s.returned, matched, s.pages, s.method)?;
    for (part, applied) in [("query", s.query), ("filter", s.filter), ("sortby", s.sortby)] {
        if let Some(applied) = applied {
            writeln!(out, "  {part} applied: {}", applied.as_str())?;
        }
    }
    if s.truncated {
        writeln!(out, "  stopped at --max-items; more items match")?;
    }
    for item in &result.items {
        let cloud = item.cloud_cover.map(|c| format!("{c:.1}")).unwrap_or_default();
        writeln!(
            out,
            "{:<48} {:<22} {:<28} {:>6}",
            item.id,
            item.collection.as_deref().unwrap_or(""),
            item.datetime.as_deref().unwrap_or(""),
            cloud
        )?;
    }
    Ok(())
}

pub fn print_validation(out: &mut impl Write, report: &StacValidation) -> anyhow::Result<()> {
    let kind = report.kind.as_deref().unwrap_or("document");
    let version = report.stac_version.as_deref().unwrap_or("unknown version");
    let verdict = if report.valid { "valid" } else { "INVALID" };
    writeln!(out, "{}: {verdict} ({kind}, STAC {version}, {} schema(s))", report.href, report.schemas.len())?;
    for problem in &report.problems {
        let path = if problem.path.is_empty() { "/" } else { problem.path.as_str() };
        writeln!(out, "  {path}: {}", problem.message)?;
    }
    Ok(())
}

pub fn print_queryables(out: &mut impl Write, result: &QueryablesResult) -> anyhow::Result<()> {
    let of = result.collection.as_deref().map(|c| format!(" (collection {c})")).unwrap_or_default();
    let origin = match (&result.url, result.items_scanned) {
        (Some(url), _) => format!("from {url}"),
        (None, Some(n)) => format!("derived from the properties of {n} items"),
        (None, None) => "derived from the items".to_owned(),
    };
    writeln!(out, "{}{of}: {} queryables, {origin}", result.source, result.queryables.len())?;
    if let Some(note) = &result.note {
        writeln!(out, "  note: {note}")?;
    }
    for q in &result.queryables {
        let mut extra = Vec::new();
        if let Some(values) = &q.allowed {
            extra.push(format!("one of {}", values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")));
        }
        match (q.minimum, q.maximum) {
            (None, None) => {}
            (min, max) => extra.push(format!(
                "range {}..{}",
                min.map(|v| v.to_string()).unwrap_or_default(),
                max.map(|v| v.to_string()).unwrap_or_default()
            )),
        }
        writeln!(
            out,
            "{:<32} {:<16} {:<32} {}",
            q.name,
            q.kind.as_deref().unwrap_or("-"),
            q.title.as_deref().unwrap_or(""),
            extra.join("; ")
        )?;
    }
    Ok(())
}

/// `--out` of `stac thumbnail`: the decoded (scaled) thumbnail as PNG.
pub fn thumbnail_out(command: &StacCommand) -> Option<std::path::PathBuf> {
    match command {
        StacCommand::Thumbnail { out, .. } => out.clone(),
        _ => None,
    }
}

pub fn save_thumbnail(thumbnail: &Thumbnail, out: &std::path::Path) -> anyhow::Result<()> {
    let image = image::RgbaImage::from_raw(thumbnail.width, thumbnail.height, thumbnail.rgba.clone())
        .context("the decoded thumbnail has an unexpected size")?;
    image.save_with_format(out, image::ImageFormat::Png).with_context(|| format!("writing {}", out.display()))
}

pub fn print_thumbnail(out: &mut impl Write, thumbnail: &Thumbnail) -> anyhow::Result<()> {
    let origin = if thumbnail.from_cache { "from the cache" } else { "fetched" };
    writeln!(out, "{}: {}x{} px, {} bytes, {origin}", thumbnail.href, thumbnail.width, thumbnail.height, thumbnail.bytes)?;
    if let Some(file) = &thumbnail.cache_file {
        writeln!(out, "  cached at {}", file.display())?;
    }
    Ok(())
}
