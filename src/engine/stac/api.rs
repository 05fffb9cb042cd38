//! STAC API client: landing page, conformance, collections and item search with paging.
//!
//! Search is `POST /search` when the landing page offers it (else `GET /search?…`, and a `405` to
//! the POST switches the search to GET). `query`, `filter` and `sortby` are sent only when the
//! server declares the matching conformance class; otherwise `query`/`filter` are evaluated over the
//! streamed items here and `sortby` is applied to the final list ([`SearchSummary`] says which).
//! Pages follow `next` links in every form the spec allows: a GET href, a POST with a `body`
//! (a token) that replaces the request body or, with `merge: true`, is merged into it, and `headers`.
//!
//! Resilience: a `User-Agent` naming meshlake and its version; time limits on connecting and on each
//! request; retries with exponential backoff plus jitter on 429/502/503/504, timeouts and broken
//! connections, honouring `Retry-After` (seconds or an HTTP date), a bounded number of attempts;
//! 4xx answers become errors carrying the server's own message; a response larger than
//! [`ApiOptions::max_response_bytes`] is refused while it streams in; links and asset hrefs from the
//! server must be http(s) (a remote catalog may not point at local files).

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde_json::{Map, Value};

use super::queryables::QUERYABLES_REL;
use super::search::{Applied, LocalMatcher, SearchParamError, SearchParams, StacItemSummary};
use crate::engine::jobs::CancelToken;

/// Items per page asked for when the search does not say.
pub const DEFAULT_PAGE_LIMIT: u64 = 250;
/// Pages followed at most (a server repeating itself is also caught by the repeated-request check).
pub const MAX_PAGES: u64 = 100_000;

/// Problems talking to a STAC API.
#[derive(Debug, thiserror::Error)]
pub enum StacApiError {
    #[error("{url} is not a usable URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered HTTP {status}: {message}")]
    Http { url: String, status: u16, message: String },
    #[error("{url} kept failing after {attempts} attempts (last: {last}); the server may be overloaded, try again later")]
    RetriesExhausted { url: String, attempts: u32, last: String },
    #[error("{url}: the response is larger than {limit_bytes} bytes and was refused (ask for a smaller `limit`)")]
    TooLarge { url: String, limit_bytes: u64 },
    #[error("{url}: the answer is not the JSON a STAC API sends: {reason}")]
    NotJson { url: String, reason: String },
    #[error("{url} does not offer item search (no `search` link and no item-search conformance class)")]
    NoSearch { url: String },
    #[error("{href}: a remote STAC API may not point at a local file or a non-HTTP address")]
    LocalHref { href: String },
    #[error(transparent)]
    Params(#[from] SearchParamError),
    #[error("cancelled")]
    Cancelled,
}

/// How failed requests are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one (plus up to 50 % jitter).
    pub base_delay: Duration,
    /// No single wait is longer than this, whatever `Retry-After` asks for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(30) }
    }
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// A response body larger than this is refused.
    pub max_response_bytes: u64,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// One collection of an API.
#[derive(Clone, Debug, Serialize)]
pub struct CollectionSummary {
    pub id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub bbox: Option<[f64; 4]>,
    /// `[start, end]` of the first temporal extent (either may be open).
    pub interval: [Option<String>; 2],
}

/// What an API's landing page, conformance and collections say.
#[derive(Clone, Debug, Serialize)]
pub struct ApiInfo {
    pub url: String,
    pub id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub conformance: Vec<String>,
    /// `POST`, `GET` or both.
    pub search_methods: Vec<String>,
    pub supports_query: bool,
    pub supports_filter: bool,
    pub supports_sort: bool,
    pub collections: Vec<CollectionSummary>,
}

/// A request to make: method, URL, JSON body, extra headers.
#[derive(Clone, Debug, PartialEq)]
pub struct PageRequest {
    pub method: Method,
    pub url: Url,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl PageRequest {
    fn key(&self) -> String {
        format!("{} {} {}", self.method, self.url, self.body.as_ref().map(Value::to_string).unwrap_or_default())
    }
}

/// One page of an item search response, parsed.
#[derive(Debug)]
pub struct ParsedPage {
    pub features: Vec<Value>,
    pub matched: Option<u64>,
    pub next: Option<PageRequest>,
    /// The `prev` / `previous` link, when the server sends one.
    pub previous: Option<PageRequest>,
}

/// `base` with one more path segment (`…/collections` + `id` → `…/collections/id`), whatever
/// `base` ends with.
pub fn child_url(base: &Url, segment: &str) -> Result<Url, StacApiError> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| StacApiError::BadUrl { url: base.to_string(), reason: "it cannot have a path".into() })?
        .pop_if_empty()
        .push(segment);
    Ok(url)
}

/// A link href resolved against the URL of the document it is in; only http(s) is accepted.
pub fn resolve_remote_href(base: &Url, href: &str) -> Result<Url, StacApiError> {
    let url = base.join(href).map_err(|e| StacApiError::BadUrl { url: href.to_owned(), reason: e.to_string() })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        _ => Err(StacApiError::LocalHref { href: href.to_owned() }),
    }
}

/// Turn a `next`/`previous` link into the request that fetches it. `current` is the request that
/// got the page (a `merge: true` body is merged into its body).
fn link_request(link: &Value, base: &Url, current: &PageRequest) -> Result<PageRequest, StacApiError> {
    let href = link.get("href").and_then(Value::as_str).unwrap_or_default();
    let url = resolve_remote_href(base, href)?;
    let method = match link.get("method").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
        Some("POST") => Method::POST,
        _ => Method::GET,
    };
    let headers = link
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| h.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let body = if method == Method::POST {
        let link_body = link.get("body").cloned().unwrap_or(Value::Object(Map::new()));
        let merge = link.get("merge").and_then(Value::as_bool).unwrap_or(false);
        match (merge, current.body.clone(), link_body) {
            (true, Some(Value::Object(mut base_body)), Value::Object(extra)) => {
                base_body.extend(extra);
                Some(Value::Object(base_body))
            }
            (_, _, body) => Some(body),
        }
    } else {
        None
    };
    Ok(PageRequest { method, url, body, headers })
}

/// Parse one item search (or items) response.
pub fn parse_page(bytes: &[u8], current: &PageRequest) -> Result<ParsedPage, StacApiError> {
    let not_json = |reason: String| StacApiError::NotJson { url: current.url.to_string(), reason };
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| not_json(e.to_string()))?;
    let Some(object) = value.as_object_mut() else { return Err(not_json("not a JSON object".into())) };
    let features = match object.remove("features") {
        Some(Value::Array(features)) => features,
        _ => return Err(not_json("no `features` array (is this an item search response?)".into())),
    };
    let matched = object
        .get("numberMatched")
        .and_then(Value::as_u64)
        .or_else(|| object.get("context").and_then(|c| c.get("matched")).and_then(Value::as_u64));
    let links = object.get("links").and_then(Value::as_array).cloned().unwrap_or_default();
    let find = |rels: &[&str]| links.iter().find(|l| l.get("rel").and_then(Value::as_str).is_some_and(|r| rels.contains(&r)));
    let next = find(&["next"]).map(|l| link_request(l, &current.url, current)).transpose()?;
    let previous = find(&["prev", "previous"]).map(|l| link_request(l, &current.url, current)).transpose()?;
    Ok(ParsedPage { features, matched, next, previous })
}

/// A transport error with its causes (`timed out`, `connection refused`, …).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "no answer in time (timeout)".to_owned();
    }
    crate::engine::jobs::error_causes(err)
}

fn jitter_fraction() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9);
    (hasher.finish() % 1000) as f64 / 1000.0
}

/// `Retry-After`: delay seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The server's own words from an error body: `description`, `message`, `detail`, `error.message`, or the text.
pub fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        for pointer in ["/description", "/message", "/detail", "/error/message", "/error", "/title"] {
            if let Some(message) = value.pointer(pointer).and_then(Value::as_str) {
                let code = value.get("code").and_then(Value::as_str).map(|c| format!("{c}: ")).unwrap_or_default();
                return format!("{code}{message}");
            }
        }
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        "(empty body)".to_owned()
    } else {
        trimmed.chars().take(300).collect()
    }
}

/// Sleep, waking every 100 ms to see whether the search was cancelled.
async fn sleep_cancellable(wait: Duration, cancel: &CancelToken) -> Result<(), StacApiError> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        if cancel.is_cancelled() {
            return Err(StacApiError::Cancelled);
        }
        let now = tokio::time::Instant::now();
        if now >= until {
            return Ok(());
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(100))).await;
    }
}

/// A connected STAC API.
#[derive(Clone, Debug)]
pub struct StacApiClient {
    http: reqwest::Client,
    options: ApiOptions,
    root: Url,
    landing: Map<String, Value>,
    conformance: Vec<String>,
}

impl StacApiClient {
    /// Read the landing page at `url` (and `/conformance` when the landing page has no `conformsTo`).
    pub async fn connect(url: &str, options: ApiOptions, cancel: &CancelToken) -> Result<Self, StacApiError> {
        let root = Url::parse(url).map_err(|e| StacApiError::BadUrl { url: url.to_owned(), reason: e.to_string() })?;
        if !matches!(root.scheme(), "http" | "https") {
            return Err(StacApiError::BadUrl { url: url.to_owned(), reason: "a STAC API URL starts with http:// or https://".into() });
        }
        let mut client = Self::without_landing(root.clone(), options)?;
        let request = PageRequest { method: Method::GET, url: root.clone(), body: None, headers: Vec::new() };
        let landing: Value = client.get_json(&request, cancel).await?;
        let Value::Object(landing) = landing else {
            return Err(StacApiError::NotJson { url: url.to_owned(), reason: "the landing page is not a JSON object".into() });
        };
        client.landing = landing;
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
        };
        client.conformance = strings(client.landing.get("conformsTo"));
        if client.conformance.is_empty()
            && let Some(href) = client.link_href("conformance")
        {
            let url = resolve_remote_href(&root, &href)?;
            let request = PageRequest { method: Method::GET, url, body: None, headers: Vec::new() };
            let conformance: Value = client.get_json(&request, cancel).await?;
            client.conformance = strings(conformance.get("conformsTo"));
        }
        Ok(client)
    }

    /// A client for plain documents under `root` (no landing page read): [`Self::send`] with the same
    /// User-Agent, retries and size cap as a connected API (used to fetch JSON schemas and remote STAC files).
    pub fn without_landing(root: Url, options: ApiOptions) -> Result<Self, StacApiError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("meshlake/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .build()
            .map_err(|e| StacApiError::Unreachable { url: root.to_string(), reason: format!("HTTP client setup: {e}") })?;
        Ok(Self { http, options, root, landing: Map::new(), conformance: Vec::new() })
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    fn links(&self) -> impl Iterator<Item = &Value> {
        self.landing.get("links").and_then(Value::as_array).into_iter().flatten()
    }

    fn link_href(&self, rel: &str) -> Option<String> {
        self.links()
            .find(|l| l.get("rel").and_then(Value::as_str) == Some(rel))
            .and_then(|l| l.get("href")?.as_str().map(str::to_owned))
    }

    fn conforms(&self, needles: &[&str]) -> bool {
        self.conformance.iter().any(|c| needles.iter().any(|n| c.contains(n)))
    }

    /// The server declares the query extension for item search.
    pub fn supports_query(&self) -> bool {
        self.conforms(&["item-search#query"])
    }

    /// The server declares CQL2 filtering of item search.
    pub fn supports_filter(&self) -> bool {
        self.conforms(&["item-search#filter", "ogcapi-features-3/1.0/conf/filter", "ogcapi-features-3/1.0/conf/features-filter"])
    }

    /// The server declares sorting of item search.
    pub fn supports_sort(&self) -> bool {
        self.conforms(&["item-search#sort"])
    }

    /// The search endpoint and the methods it is offered with (`POST` preferred).
    fn search_endpoint(&self) -> Result<(Url, Vec<Method>), StacApiError> {
        let mut url = None;
        let mut methods = Vec::new();
        for link in self.links().filter(|l| l.get("rel").and_then(Value::as_str) == Some("search")) {
            let Some(href) = link.get("href").and_then(Value::as_str) else { continue };
            // Only JSON search endpoints (not an HTML search page).
            if link.get("type").and_then(Value::as_str).is_some_and(|t| t.contains("html")) {
                continue;
            }
            url.get_or_insert(resolve_remote_href(&self.root, href)?);
            let method = match link.get("method").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
                Some("POST") => Method::POST,
                _ => Method::GET,
            };
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        if url.is_none() && self.conforms(&["item-search"]) {
            url = Some(resolve_remote_href(&self.root, "search")?);
            methods = vec![Method::POST, Method::GET];
        }
        let Some(url) = url else { return Err(StacApiError::NoSearch { url: self.root.to_string() }) };
        methods.sort_by_key(|m| if *m == Method::POST { 0 } else { 1 });
        Ok((url, methods))
    }

    /// Landing page, conformance and every collection (following `next` links of `/collections`).
    pub async fn info(&self, cancel: &CancelToken) -> Result<ApiInfo, StacApiError> {
        let text = |key: &str| self.landing.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut collections = Vec::new();
        let href = self.link_href("data").unwrap_or_else(|| "collections".to_owned());
        let mut next = Some(PageRequest { method: Method::GET, url: resolve_remote_href(&self.root, &href)?, body: None, headers: Vec::new() });
        let mut seen = HashSet::new();
        while let Some(request) = next.take() {
            if !seen.insert(request.key()) || seen.len() > 1000 {
                break;
            }
            let page: Value = self.get_json(&request, cancel).await?;
            for c in page.get("collections").and_then(Value::as_array).into_iter().flatten() {
                let s = |key: &str| c.get(key).and_then(Value::as_str).map(str::to_owned);
                let interval = c.pointer("/extent/temporal/interval/0");
                let at = |i: usize| interval.and_then(|v| v.get(i)).and_then(Value::as_str).map(str::to_owned);
                collections.push(CollectionSummary {
                    id: s("id").unwrap_or_default(),
                    title: s("title"),
                    description: s("description"),
                    bbox: c.pointer("/extent/spatial/bbox/0").and_then(|b| {
                        let n: Vec<f64> = b.as_array()?.iter().filter_map(Value::as_f64).collect();
                        (n.len() >= 4).then(|| if n.len() == 6 { [n[0], n[1], n[3], n[4]] } else { [n[0], n[1], n[2], n[3]] })
                    }),
                    interval: [at(0), at(1)],
                });
            }
            next = page
                .get("links")
                .and_then(Value::as_array)
                .and_then(|links| links.iter().find(|l| l.get("rel").and_then(Value::as_str) == Some("next")))
                .map(|l| link_request(l, &request.url, &request))
                .transpose()?;
        }
        let search_methods = self.search_endpoint().map(|(_, m)| m.iter().map(|m| m.to_string()).collect()).unwrap_or_default();
        Ok(ApiInfo {
            url: self.root.to_string(),
            id: text("id").unwrap_or_default(),
            title: text("title"),
            description: text("description"),
            conformance: self.conformance.clone(),
            search_methods,
            supports_query: self.supports_query(),
            supports_filter: self.supports_filter(),
            supports_sort: self.supports_sort(),
            collections,
        })
    }

    /// Where the queryables of the API (or of `collection`) are, when the API declares them: the link
    /// with rel [`QUERYABLES_REL`] of the landing page (or of the collection's document), else
    /// `…/queryables` when the API declares CQL2 filtering (which requires it); None otherwise.
    pub async fn queryables_url(&self, collection: Option<&str>, cancel: &CancelToken) -> Result<Option<Url>, StacApiError> {
        let rel_href = |links: Option<&Value>| -> Option<String> {
            links?
                .as_array()?
                .iter()
                .find(|l| l.get("rel").and_then(Value::as_str) == Some(QUERYABLES_REL))
                .and_then(|l| l.get("href")?.as_str().map(str::to_owned))
        };
        let Some(collection) = collection else {
            if let Some(href) = rel_href(self.landing.get("links")) {
                return resolve_remote_href(&self.root, &href).map(Some);
            }
            return if self.supports_filter() { child_url(&self.root, "queryables").map(Some) } else { Ok(None) };
        };
        let collections = resolve_remote_href(&self.root, &self.link_href("data").unwrap_or_else(|| "collections".to_owned()))?;
        let collection_url = child_url(&collections, collection)?;
        let request = PageRequest { method: Method::GET, url: collection_url.clone(), body: None, headers: Vec::new() };
        let document = self.get_json(&request, cancel).await?;
        if let Some(href) = rel_href(document.get("links")) {
            return resolve_remote_href(&collection_url, &href).map(Some);
        }
        if self.supports_filter() { child_url(&collection_url, "queryables").map(Some) } else { Ok(None) }
    }

    /// GET a JSON document (same retries, size cap and User-Agent as the search).
    pub async fn fetch_json(&self, url: &Url, cancel: &CancelToken) -> Result<Value, StacApiError> {
        let request = PageRequest { method: Method::GET, url: url.clone(), body: None, headers: Vec::new() };
        self.get_json(&request, cancel).await
    }

    async fn get_json(&self, request: &PageRequest, cancel: &CancelToken) -> Result<Value, StacApiError> {
        let bytes = self.send(request, cancel).await?;
        serde_json::from_slice(&bytes).map_err(|e| StacApiError::NotJson { url: request.url.to_string(), reason: e.to_string() })
    }

    /// Send a request with retries; the body of a 2xx answer, read up to the size cap.
    pub async fn send(&self, request: &PageRequest, cancel: &CancelToken) -> Result<Vec<u8>, StacApiError> {
        let policy = &self.options.retry;
        let url = request.url.to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if cancel.is_cancelled() {
                return Err(StacApiError::Cancelled);
            }
            let backoff = policy.base_delay.saturating_mul(1 << (attempt - 1).min(16));
            let backoff = backoff.mul_f64(1.0 + 0.5 * jitter_fraction()).min(policy.max_delay);
            let failure: (String, Option<Duration>) = match self.attempt(request, cancel).await {
                Ok(Ok(bytes)) => return Ok(bytes),
                Ok(Err((status, headers, body))) => {
                    let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
                    if !retryable {
                        return Err(StacApiError::Http { url, status: status.as_u16(), message: server_message(&body) });
                    }
                    (format!("HTTP {}: {}", status.as_u16(), server_message(&body)), retry_after(&headers))
                }
                Err(AttemptError::Fatal(err)) => return Err(err),
                Err(AttemptError::Transient(reason)) => (reason, None),
            };
            if attempt >= policy.max_attempts {
                return Err(StacApiError::RetriesExhausted { url, attempts: attempt, last: failure.0 });
            }
            let wait = failure.1.map(|w| w.min(policy.max_delay)).unwrap_or(backoff);
            tracing::debug!(url = %url, attempt, wait_ms = wait.as_millis() as u64, "STAC API request failed ({}); retrying", failure.0);
            sleep_cancellable(wait, cancel).await?;
        }
    }

    /// One try: `Ok(Ok(body))` on success, `Ok(Err(..))` for an HTTP error status.
    #[allow(clippy::type_complexity)]
    async fn attempt(
        &self,
        request: &PageRequest,
        cancel: &CancelToken,
    ) -> Result<Result<Vec<u8>, (StatusCode, reqwest::header::HeaderMap, Vec<u8>)>, AttemptError> {
        let url = request.url.to_string();
        let mut builder = self.http.request(request.method.clone(), request.url.clone());
        if !request.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("accept")) {
            builder = builder.header(reqwest::header::ACCEPT, "application/geo+json, application/json");
        }
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode() {
                AttemptError::Transient(describe(&e))
            } else {
                AttemptError::Fatal(StacApiError::Unreachable {
                    url: url.clone(),
                    reason: describe(&e),
                })
            }
        };
        let mut response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let limit = self.options.max_response_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(AttemptError::Fatal(StacApiError::TooLarge { url, limit_bytes: limit }));
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(AttemptError::Fatal(StacApiError::TooLarge { url, limit_bytes: limit }));
            }
            body.extend_from_slice(&chunk);
            if cancel.is_cancelled() {
                return Err(AttemptError::Fatal(StacApiError::Cancelled));
            }
        }
        if status.is_success() { Ok(Ok(body)) } else { Ok(Err((status, headers, body))) }
    }

    /// Start an item search; pull its pages with [`SearchPager::next_page`].
    pub fn search(&self, params: &SearchParams) -> Result<SearchPager<'_>, StacApiError> {
        let (url, methods) = self.search_endpoint()?;
        let query_mode = params.query.as_ref().map(|_| if self.supports_query() { Applied::Server } else { Applied::Local });
        let filter_mode = params.filter.as_ref().map(|_| if self.supports_filter() { Applied::Server } else { Applied::Local });
        let sort_mode = (!params.sortby.is_empty()).then(|| if self.supports_sort() { Applied::Server } else { Applied::Local });
        let local = LocalMatcher::only(params, query_mode == Some(Applied::Local), filter_mode == Some(Applied::Local))?;
        let mut sent = params.clone();
        if query_mode == Some(Applied::Local) {
            sent.query = None;
        }
        if filter_mode == Some(Applied::Local) {
            sent.filter = None;
        }
        if sort_mode == Some(Applied::Local) {
            sent.sortby.clear();
        }
        let limit = params.limit.unwrap_or_else(|| match (params.max_items, local.is_empty()) {
            (Some(max), true) => max.clamp(1, DEFAULT_PAGE_LIMIT),
            _ => DEFAULT_PAGE_LIMIT,
        });
        sent.limit = Some(limit);
        let method = methods.first().cloned().unwrap_or(Method::POST);
        let first = first_request(&url, &method, &sent)?;
        Ok(SearchPager {
            client: self,
            url,
            sent,
            next: Some(first),
            seen: HashSet::new(),
            local,
            max_items: params.max_items,
            summary: SearchSummary {
                method: method.to_string(),
                query: query_mode,
                filter: filter_mode,
                sortby: sort_mode,
                ..SearchSummary::default()
            },
        })
    }
}

enum AttemptError {
    Transient(String),
    Fatal(StacApiError),
}

/// The first request of a search: a JSON body for POST, query parameters for GET.
fn first_request(url: &Url, method: &Method, params: &SearchParams) -> Result<PageRequest, StacApiError> {
    if *method == Method::POST {
        let mut body = Map::new();
        if !params.collections.is_empty() {
            body.insert("collections".into(), params.collections.clone().into());
        }
        if !params.ids.is_empty() {
            body.insert("ids".into(), params.ids.clone().into());
        }
        if let Some(bbox) = params.bbox {
            body.insert("bbox".into(), bbox.to_vec().into());
        }
        if let Some(geometry) = &params.intersects {
            body.insert("intersects".into(), geometry.clone());
        }
        if let Some(datetime) = &params.datetime {
            body.insert("datetime".into(), datetime.clone().into());
        }
        if let Some(limit) = params.limit {
            body.insert("limit".into(), limit.into());
        }
        if !params.sortby.is_empty() {
            let sortby: Vec<Value> = params
                .sortby
                .iter()
                .map(|s| match s.trim().strip_prefix('-') {
                    Some(field) => serde_json::json!({"field": field, "direction": "desc"}),
                    None => serde_json::json!({"field": s.trim().trim_start_matches('+'), "direction": "asc"}),
                })
                .collect();
            body.insert("sortby".into(), sortby.into());
        }
        if let Some(query) = &params.query {
            body.insert("query".into(), Value::Object(query.clone()));
        }
        if let Some(filter) = &params.filter {
            body.insert("filter".into(), filter.clone());
            body.insert("filter-lang".into(), "cql2-json".into());
        }
        return Ok(PageRequest { method: Method::POST, url: url.clone(), body: Some(Value::Object(body)), headers: Vec::new() });
    }
    let mut url = url.clone();
    {
        let mut pairs = url.query_pairs_mut();
        let join = |v: &[String]| v.join(",");
        if !params.collections.is_empty() {
            pairs.append_pair("collections", &join(&params.collections));
        }
        if !params.ids.is_empty() {
            pairs.append_pair("ids", &join(&params.ids));
        }
        if let Some(bbox) = params.bbox {
            pairs.append_pair("bbox", &bbox.iter().map(f64::to_string).collect::<Vec<_>>().join(","));
        }
        if let Some(geometry) = &params.intersects {
            pairs.append_pair("intersects", &geometry.to_string());
        }
        if let Some(datetime) = &params.datetime {
            pairs.append_pair("datetime", datetime);
        }
        if let Some(limit) = params.limit {
            pairs.append_pair("limit", &limit.to_string());
        }
        if !params.sortby.is_empty() {
            pairs.append_pair("sortby", &join(&params.sortby));
        }
        if let Some(query) = &params.query {
            pairs.append_pair("query", &Value::Object(query.clone()).to_string());
        }
        if let Some(filter) = &params.filter {
            pairs.append_pair("filter", &filter.to_string());
            pairs.append_pair("filter-lang", "cql2-json");
        }
    }
    Ok(PageRequest { method: Method::GET, url, body: None, headers: Vec::new() })
}

/// How a search went: counts and where each part was applied.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SearchSummary {
    /// `numberMatched` (or `context.matched`) of the first page, when the server sends it.
    pub matched: Option<u64>,
    /// Items handed out (after local filtering, at most `max_items`).
    pub returned: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Items received from the server (before local filtering).
    pub scanned: u64,
    /// `POST`, `GET` or `local`.
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<Applied>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Applied>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sortby: Option<Applied>,
    /// The search stopped at `max_items` with more pages left.
    pub truncated: bool,
}

/// A running item search: each call fetches one page.
pub struct SearchPager<'a> {
    client: &'a StacApiClient,
    url: Url,
    sent: SearchParams,
    next: Option<PageRequest>,
    seen: HashSet<String>,
    local: LocalMatcher,
    max_items: Option<u64>,
    summary: SearchSummary,
}

impl SearchPager<'_> {
    pub fn summary(&self) -> &SearchSummary {
        &self.summary
    }

    /// The next page's items (after local filtering), or `None` when the search is done.
    pub async fn next_page(&mut self, cancel: &CancelToken) -> Result<Option<Vec<StacItemSummary>>, StacApiError> {
        loop {
            let Some(request) = self.next.take() else { return Ok(None) };
            if self.max_items.is_some_and(|max| self.summary.returned >= max) || self.summary.pages >= MAX_PAGES {
                self.summary.truncated = true;
                return Ok(None);
            }
            if !self.seen.insert(request.key()) {
                tracing::warn!(url = %request.url, "STAC API repeated a page request; paging stops");
                return Ok(None);
            }
            let bytes = match self.client.send(&request, cancel).await {
                // A server that lists POST but refuses it: the whole search goes over GET.
                Err(StacApiError::Http { status: 405, .. }) if request.method == Method::POST && self.summary.pages == 0 => {
                    self.summary.method = "GET".into();
                    self.next = Some(first_request(&self.url, &Method::GET, &self.sent)?);
                    continue;
                }
                other => other?,
            };
            let page = parse_page(&bytes, &request)?;
            drop(bytes);
            self.summary.pages += 1;
            if self.summary.pages == 1 {
                self.summary.matched = page.matched;
            }
            self.summary.scanned += page.features.len() as u64;
            let empty = page.features.is_empty();
            self.next = if empty { None } else { page.next };
            let base = request.url.clone();
            let resolve = |href: &str| resolve_remote_href(&base, href).ok().map(|u| u.to_string());
            let mut items = Vec::with_capacity(page.features.len());
            for feature in &page.features {
                if let Some(max) = self.max_items
                    && self.summary.returned >= max
                {
                    self.summary.truncated = true;
                    self.next = None;
                    break;
                }
                let summary = StacItemSummary::from_value(feature, &resolve);
                if self.local.is_empty() || self.local.matches(feature, &summary) {
                    self.summary.returned += 1;
                    items.push(summary);
                }
            }
            if self.max_items.is_some_and(|max| self.summary.returned >= max) && self.next.is_some() {
                self.summary.truncated = true;
                self.next = None;
            }
            return Ok(Some(items));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn next_links_in_every_form() {
        let base = Url::parse("https://api.example/search").unwrap();
        let current = PageRequest { method: Method::POST, url: base.clone(), body: Some(json!({"limit": 5, "collections": ["a"]})), headers: vec![] };
        let get = link_request(&json!({"rel": "next", "href": "?page=2"}), &base, &current).unwrap();
        assert_eq!((get.method, get.url.as_str(), get.body), (Method::GET, "https://api.example/search?page=2", None));
        let post = link_request(&json!({"rel": "next", "href": "./search", "method": "POST", "body": {"next": "tok"}}), &base, &current).unwrap();
        assert_eq!(post.body, Some(json!({"next": "tok"})));
        let merged = link_request(&json!({"href": "/search", "method": "POST", "body": {"token": "t"}, "merge": true, "headers": {"X-A": "1"}}), &base, &current).unwrap();
        assert_eq!(merged.body, Some(json!({"limit": 5, "collections": ["a"], "token": "t"})));
        assert_eq!(merged.headers, vec![("X-A".to_owned(), "1".to_owned())]);
        assert!(matches!(link_request(&json!({"href": "file:///etc/passwd"}), &base, &current), Err(StacApiError::LocalHref { .. })));
    }

    #[test]
    fn server_messages_are_found() {
        assert_eq!(server_message(br#"{"code":"NotFoundError","description":"No collection with id 'foo' found!"}"#), "NotFoundError: No collection with id 'foo' found!");
        assert_eq!(server_message(b"plain"), "plain");
    }
}
