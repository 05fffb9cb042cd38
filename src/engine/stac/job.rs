//! The STAC jobs: connect to an API, and search an API or a local source, streaming pages.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::api::{ApiInfo, ApiOptions, SearchSummary, StacApiClient, StacApiError};
use super::queryables::{DERIVE_SAMPLE_ITEMS, QueryablesResult, derive_queryables, parse_queryables};
use super::search::{LocalMatcher, SearchParams, StacItemSummary, sort_items};
use super::{StacError, resolve_href};
use crate::engine::jobs::{JobContext, JobError, JobResult};

/// Items per partial result when a local source is searched.
const LOCAL_PAGE_ITEMS: usize = 500;

/// A finished search: counts, where each part was applied, and the items.
#[derive(Clone, Debug, Serialize)]
pub struct StacSearchResult {
    pub source: String,
    #[serde(flatten)]
    pub summary: SearchSummary,
    pub items: Vec<StacItemSummary>,
}

/// One page of a running search (a partial result).
#[derive(Clone, Debug, Serialize)]
pub struct StacSearchPage {
    pub page: u64,
    pub matched: Option<u64>,
    pub items: Vec<StacItemSummary>,
}

/// Whether a source is an API (`http(s)://`) or a local file/folder.
pub fn is_remote(source: &str) -> bool {
    let lower = source.trim().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn api_error(err: StacApiError) -> JobError {
    match err {
        StacApiError::Cancelled => JobError::Cancelled,
        other => StacError::from(other).into(),
    }
}

/// Landing page, conformance and collections of a STAC API.
pub async fn connect_api(url: &str, ctx: &JobContext) -> Result<ApiInfo, JobError> {
    let client = StacApiClient::connect(url, ApiOptions::default(), &ctx.cancel).await.map_err(api_error)?;
    client.info(&ctx.cancel).await.map_err(api_error)
}

/// Search `source` (a STAC API URL, a static catalog or an item collection file), sending every page
/// as a partial result as it arrives.
pub async fn run_search(source: &str, params: &SearchParams, ctx: &JobContext) -> Result<StacSearchResult, JobError> {
    if is_remote(source) {
        search_api(source, params, ApiOptions::default(), ctx).await
    } else {
        search_local(Path::new(source), params, ctx).await
    }
}

/// Search a STAC API with explicit client options.
pub async fn search_api(
    url: &str,
    params: &SearchParams,
    options: ApiOptions,
    ctx: &JobContext,
) -> Result<StacSearchResult, JobError> {
    let client = StacApiClient::connect(url, options, &ctx.cancel).await.map_err(api_error)?;
    let mut pager = client.search(params).map_err(api_error)?;
    let mut items = Vec::new();
    while let Some(page) = pager.next_page(&ctx.cancel).await.map_err(api_error)? {
        ctx.cancel.check()?;
        let summary = pager.summary();
        let total = params.max_items.or(summary.matched).unwrap_or(0).max(summary.returned);
        ctx.progress.report(summary.returned, total, format!("{} items, page {}", summary.returned, summary.pages));
        if !page.is_empty() {
            ctx.progress
                .partial(JobResult::StacSearchPage(StacSearchPage {
                    page: summary.pages,
                    matched: summary.matched,
                    items: page.clone(),
                }))
                .await;
        }
        items.extend(page);
    }
    let summary = pager.summary().clone();
    if summary.sortby.is_some() && summary.sortby != Some(super::search::Applied::Server) {
        sort_items(&mut items, &params.sortby);
    }
    Ok(StacSearchResult { source: url.to_owned(), summary, items })
}

/// Every item of a local source as JSON, with the file it came from.
async fn local_items(path: &Path, ctx: &JobContext) -> Result<Vec<(PathBuf, Value)>, JobError> {
    let read = |p: &Path| -> Result<Value, StacError> {
        let bytes = std::fs::read(p).map_err(|source| StacError::Io { path: p.to_path_buf(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| StacError::Json { path: p.to_path_buf(), source })
    };
    if super::geoparquet::is_parquet_path(path) {
        let owned = path.to_path_buf();
        let items = ctx.cpu(move || super::geoparquet::read_items(&owned, super::MAX_CATALOG_NODES * 20)).await??;
        return Ok(items.into_iter().map(|item| (path.to_path_buf(), item)).collect());
    }
    if path.is_file() {
        let value = read(path)?;
        if value.get("type").and_then(Value::as_str) == Some("FeatureCollection") {
            let features = value.get("features").and_then(Value::as_array).cloned().unwrap_or_default();
            return Ok(features.into_iter().map(|f| (path.to_path_buf(), f)).collect());
        }
    }
    let root = if path.is_dir() { path.join("catalog.json") } else { path.to_path_buf() };
    let tree = super::load_static_catalog(&root, ctx).await?;
    let mut out = Vec::new();
    for (_, node) in tree.items() {
        ctx.cancel.check()?;
        out.push((node.path.clone(), read(&node.path)?));
    }
    Ok(out)
}

/// Search a static catalog or an item collection file: everything is evaluated here.
pub async fn search_local(path: &Path, params: &SearchParams, ctx: &JobContext) -> Result<StacSearchResult, JobError> {
    let matcher = LocalMatcher::all(params).map_err(StacError::from)?;
    let items = local_items(path, ctx).await?;
    let scanned = items.len() as u64;
    let mut found: Vec<StacItemSummary> = Vec::new();
    for (file, item) in &items {
        let resolve = |href: &str| Some(resolve_href(file, href));
        let summary = StacItemSummary::from_value(item, &resolve);
        if matcher.matches(item, &summary) {
            found.push(summary);
        }
    }
    drop(items);
    sort_items(&mut found, &params.sortby);
    let matched = found.len() as u64;
    let mut truncated = false;
    if let Some(max) = params.max_items
        && found.len() as u64 > max
    {
        found.truncate(max as usize);
        truncated = true;
    }
    let mut pages = 0;
    for chunk in found.chunks(LOCAL_PAGE_ITEMS) {
        ctx.cancel.check()?;
        pages += 1;
        ctx.progress
            .partial(JobResult::StacSearchPage(StacSearchPage { page: pages, matched: None, items: chunk.to_vec() }))
            .await;
    }
    let local = |set: bool| set.then_some(super::search::Applied::Local);
    let summary = SearchSummary {
        matched: Some(matched),
        returned: found.len() as u64,
        pages: pages.max(1),
        scanned,
        method: "local".into(),
        query: local(params.query.is_some()),
        filter: local(params.filter.is_some()),
        sortby: local(!params.sortby.is_empty()),
        truncated,
    };
    Ok(StacSearchResult { source: path.display().to_string(), summary, items: found })
}

/// The queryables of `source` (of `collection` when given): read from an API that declares them,
/// otherwise derived from the properties of the items (all of a local source's, a sample of an API's).
pub async fn queryables(source: &str, collection: Option<&str>, ctx: &JobContext) -> Result<QueryablesResult, JobError> {
    queryables_with(source, collection, ApiOptions::default(), ctx).await
}

/// [`queryables`] with explicit client options. A declared queryables document that cannot be read
/// (a link to a host that is gone, a broken schema) does not stop it: the queryables are derived from
/// the items instead and `note` says why.
pub async fn queryables_with(
    source: &str,
    collection: Option<&str>,
    options: ApiOptions,
    ctx: &JobContext,
) -> Result<QueryablesResult, JobError> {
    let collection = collection.map(str::trim).filter(|c| !c.is_empty());
    if is_remote(source) {
        let client = StacApiClient::connect(source, options, &ctx.cancel).await.map_err(api_error)?;
        let mut note = None;
        if let Some(url) = client.queryables_url(collection, &ctx.cancel).await.map_err(api_error)? {
            let read = match client.fetch_json(&url, &ctx.cancel).await {
                Ok(schema) => parse_queryables(url.as_str(), &schema).map_err(|e| e.to_string()),
                Err(StacApiError::Cancelled) => return Err(JobError::Cancelled),
                Err(err) => Err(err.to_string()),
            };
            match read {
                Ok(queryables) => {
                    return Ok(QueryablesResult {
                        source: source.to_owned(),
                        collection: collection.map(str::to_owned),
                        derived: false,
                        url: Some(url.to_string()),
                        items_scanned: None,
                        note: None,
                        queryables,
                    });
                }
                Err(reason) => {
                    tracing::warn!("declared queryables unreadable, deriving them from items: {reason}");
                    note = Some(format!("the declared queryables could not be read ({reason}); derived from the items instead"));
                }
            }
        }
        let params = SearchParams {
            collections: collection.map(|c| vec![c.to_owned()]).unwrap_or_default(),
            max_items: Some(DERIVE_SAMPLE_ITEMS),
            ..SearchParams::default()
        };
        let mut pager = client.search(&params).map_err(api_error)?;
        let mut items = Vec::new();
        while let Some(page) = pager.next_page(&ctx.cancel).await.map_err(api_error)? {
            ctx.cancel.check()?;
            items.extend(page);
        }
        return Ok(QueryablesResult {
            source: source.to_owned(),
            collection: collection.map(str::to_owned),
            derived: true,
            url: None,
            items_scanned: Some(items.len() as u64),
            note,
            queryables: derive_queryables(items.iter().map(|i| &i.properties)),
        });
    }
    let items = local_items(Path::new(source), ctx).await?;
    let wanted = |item: &Value| collection.is_none_or(|c| item.get("collection").and_then(Value::as_str) == Some(c));
    let properties: Vec<&serde_json::Map<String, Value>> =
        items.iter().map(|(_, item)| item).filter(|item| wanted(item)).filter_map(|item| item.get("properties")?.as_object()).collect();
    Ok(QueryablesResult {
        source: source.to_owned(),
        collection: collection.map(str::to_owned),
        derived: true,
        url: None,
        items_scanned: Some(properties.len() as u64),
        note: None,
        queryables: derive_queryables(properties),
    })
}
