//! Iceberg REST catalogs: a small client for the Iceberg REST catalog OpenAPI spec.
//!
//! What it does: `GET {base}/v1/config` (its `defaults`, then its `overrides`, give the catalog
//! properties, among them the `prefix` every other route sits under), list namespaces (with
//! `parent` for nested ones) and tables, both paged with `pageToken` / `next-page-token`, and load
//! a table (`metadata-location` + `metadata`). Multipart namespaces travel joined with the unit
//! separator (`%1F`), as the spec says.
//!
//! Requests carry a `User-Agent` naming meshlake and its version, time out, and are retried a few
//! times when the connection fails or the server answers 503 (GETs only: a later table commit,
//! `POST …/namespaces/{ns}/tables/{table}` with requirements and updates, goes through
//! [`RestCatalogClient::send`] too and must not be repeated blindly). A bearer token is taken from
//! [`TOKEN_ENV`] when set; it is marked sensitive and never logged. Server errors in the spec's
//! `{"error": {"message", "type", "code"}}` shape are surfaced as they are.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use ::iceberg::spec::TableMetadata;
use futures::StreamExt;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::LakeError;
use crate::engine::jobs::CancelToken;

/// Environment variable with an optional bearer token for REST catalogs.
pub const TOKEN_ENV: &str = "MESHLAKE_ICEBERG_TOKEN";
/// How many table loads (or table listings) run at once when a whole catalog is resolved.
pub const LOAD_CONCURRENCY: usize = 10;
/// How deep nested namespaces are followed when a catalog is browsed.
pub const MAX_NAMESPACE_DEPTH: usize = 8;
/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for one whole request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per GET (the first one included) when the connection fails or the server answers 503.
const MAX_ATTEMPTS: u32 = 3;
/// Wait before the first retry; doubled for each further one.
const RETRY_DELAY: Duration = Duration::from_millis(200);
/// Pages followed per listing at most (a server repeating its page token would loop forever).
const MAX_PAGES: usize = 10_000;
/// How the spec joins the parts of a multipart namespace in paths and in `parent`.
const NAMESPACE_SEPARATOR: &str = "\u{1f}";

/// The spec's error model: `{"error": {"message", "type", "code"}}`.
#[derive(Debug, Clone, Deserialize)]
struct ErrorResponse {
    error: ErrorModel,
}

#[derive(Debug, Clone, Deserialize)]
struct ErrorModel {
    message: String,
    #[serde(rename = "type")]
    kind: String,
    code: u16,
}

/// `GET /v1/config`.
#[derive(Debug, Default, Deserialize)]
struct ConfigResponse {
    #[serde(default)]
    defaults: HashMap<String, String>,
    #[serde(default)]
    overrides: HashMap<String, String>,
}

/// `GET /v1/{prefix}/namespaces`.
#[derive(Debug, Deserialize)]
struct ListNamespacesResponse {
    #[serde(default)]
    namespaces: Vec<Vec<String>>,
    #[serde(rename = "next-page-token", default)]
    next_page_token: Option<String>,
}

/// One table identifier in `GET /v1/{prefix}/namespaces/{ns}/tables`.
#[derive(Debug, Deserialize)]
struct TableIdentifier {
    #[serde(default)]
    namespace: Vec<String>,
    name: String,
}

/// `GET /v1/{prefix}/namespaces/{ns}/tables`.
#[derive(Debug, Deserialize)]
struct ListTablesResponse {
    #[serde(default)]
    identifiers: Vec<TableIdentifier>,
    #[serde(rename = "next-page-token", default)]
    next_page_token: Option<String>,
}

/// `GET /v1/{prefix}/namespaces/{ns}/tables/{table}` as sent.
#[derive(Debug, Deserialize)]
struct LoadTableResponse {
    #[serde(rename = "metadata-location", default)]
    metadata_location: Option<String>,
    metadata: serde_json::Value,
    #[serde(default)]
    config: HashMap<String, String>,
}

/// A table as the catalog loaded it.
#[derive(Debug, Clone)]
pub struct LoadedTable {
    /// Where the catalog says the current metadata file is (absent for tables staged but not created).
    pub metadata_location: Option<String>,
    /// The current table metadata.
    pub metadata: TableMetadata,
    /// Table-specific configuration the catalog sent (storage credentials etc.; never logged).
    pub config: HashMap<String, String>,
}

/// A request that got an HTTP error answer, kept apart so callers can act on 404s.
#[derive(Debug)]
struct HttpFailure {
    url: String,
    status: StatusCode,
    error: Option<ErrorModel>,
    body: String,
}

impl HttpFailure {
    /// The error's `type` (e.g. `NoSuchTableException`), when the server sent the spec's shape.
    fn kind(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.kind.as_str())
    }

    fn into_lake(self, action: &'static str, token_set: bool) -> LakeError {
        let message = match &self.error {
            Some(error) => format!(
                "HTTP {} ({} {}): {}",
                self.status.as_u16(),
                error.kind,
                error.code,
                error.message
            ),
            None if self.body.trim().is_empty() => format!("HTTP {}", self.status),
            None => format!("HTTP {}: {}", self.status, truncate(self.body.trim(), 300)),
        };
        let hint = match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if token_set => {
                format!("; the catalog refused the bearer token in {TOKEN_ENV}: check it")
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                format!("; the catalog wants credentials: set {TOKEN_ENV} to a bearer token")
            }
            StatusCode::NOT_FOUND => {
                "; is this an Iceberg REST catalog, and is the base path (before /v1) right?"
                    .to_string()
            }
            status if status.is_server_error() => {
                "; the catalog server failed: its own log says why".to_string()
            }
            _ => String::new(),
        };
        LakeError::RestCatalog {
            url: self.url,
            action,
            message,
            hint,
        }
    }
}

/// Why a request did not give what was asked.
#[derive(Debug)]
enum RequestError {
    Lake(LakeError),
    Http(HttpFailure),
}

/// `text` cut to at most `max` characters (with `…`).
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The reasons an HTTP client error gives, outermost first, without repeats.
fn describe_transport_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!(
            "no answer within {} s (connect timeout {} s)",
            REQUEST_TIMEOUT.as_secs(),
            CONNECT_TIMEOUT.as_secs()
        );
    }
    crate::engine::jobs::error_causes(err)
}

/// `a.b` → `["a", "b"]`.
pub fn namespace_parts(dotted: &str) -> Vec<String> {
    dotted.split('.').map(str::to_string).collect()
}

/// What a table commit came to.
#[derive(Clone, Debug, PartialEq)]
pub enum CommitOutcome {
    /// The catalog took the commit.
    Committed {
        /// The new metadata file, when the catalog says.
        metadata_location: Option<String>,
    },
    /// A requirement failed (HTTP 409): someone else committed first; the catalog's message.
    Conflict(String),
}

/// A client for one REST catalog, configured from its `/v1/config`.
#[derive(Clone)]
pub struct RestCatalogClient {
    /// The base URL as the reference gives it (`http(s)://host:port[/path]`, no trailing `/`).
    base_url: String,
    http: reqwest::Client,
    /// Bearer token (never logged; `Debug` leaves it out).
    token: Option<String>,
    /// Catalog properties: the config's `defaults`, then its `overrides`.
    properties: HashMap<String, String>,
}

impl fmt::Debug for RestCatalogClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestCatalogClient")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("prefix", &self.prefix())
            .finish()
    }
}

impl RestCatalogClient {
    /// Connect to the catalog at `base_url` (`http(s)://host:port[/path]`, the part before `/v1`)
    /// and read its configuration. The token comes from [`TOKEN_ENV`] when set.
    pub async fn connect(base_url: &str) -> Result<Self, LakeError> {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty());
        Self::connect_with_token(base_url, token).await
    }

    /// [`RestCatalogClient::connect`] with an explicit token.
    pub async fn connect_with_token(
        base_url: &str,
        token: Option<String>,
    ) -> Result<Self, LakeError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .user_agent(concat!("meshlake/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| LakeError::RestCatalogUnreachable {
                url: base_url.clone(),
                reason: format!(
                    "the HTTP client cannot be set up: {}",
                    describe_transport_error(&e)
                ),
            })?;
        let mut client = Self {
            base_url,
            http,
            token,
            properties: HashMap::new(),
        };
        let url = client.url(false, &["config"])?;
        let config: ConfigResponse = client
            .get_json(url, "read the catalog configuration")
            .await?;
        client.properties = config.defaults;
        client.properties.extend(config.overrides);
        tracing::debug!(catalog = %client.base_url, prefix = ?client.prefix(), "REST catalog configured");
        Ok(client)
    }

    /// The base URL (without `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The `prefix` catalog property (from the config's overrides or defaults), when set.
    pub fn prefix(&self) -> Option<&str> {
        self.properties
            .get("prefix")
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
    }

    /// `{base}/v1[/{prefix}]/{segments…}`, each segment percent-encoded (a namespace joined with
    /// the unit separator becomes `a%1Fb`).
    fn url(&self, with_prefix: bool, segments: &[&str]) -> Result<Url, LakeError> {
        let mut url = Url::parse(&self.base_url).map_err(|e| LakeError::BadReference {
            reference: self.base_url.clone(),
            reason: format!("not a valid catalog URL: {e}"),
        })?;
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| LakeError::BadReference {
                    reference: self.base_url.clone(),
                    reason: "the catalog URL cannot have a path".to_string(),
                })?;
            path.pop_if_empty().push("v1");
            if with_prefix && let Some(prefix) = self.prefix() {
                path.extend(prefix.split('/'));
            }
            path.extend(segments);
        }
        Ok(url)
    }

    /// Send one request and read its answer; retries connection failures (and, for GETs, 503s)
    /// up to [`MAX_ATTEMPTS`] times. Any other HTTP error status becomes [`RequestError::Http`].
    /// A later table commit (`POST`, JSON body) goes through here too.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes, RequestError> {
        let mut attempt = 1;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(token) = &self.token {
                // bearer_auth marks the header sensitive.
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let retry_delay = RETRY_DELAY * 2u32.pow(attempt - 1);
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::SERVICE_UNAVAILABLE
                        && method == Method::GET
                        && attempt < MAX_ATTEMPTS
                    {
                        tracing::debug!(url = %url, attempt, "REST catalog answered 503; retrying");
                        tokio::time::sleep(retry_delay).await;
                        attempt += 1;
                        continue;
                    }
                    let bytes = response.bytes().await.map_err(|e| {
                        RequestError::Lake(LakeError::RestCatalogUnreachable {
                            url: url.to_string(),
                            reason: format!(
                                "the answer broke off: {}",
                                describe_transport_error(&e)
                            ),
                        })
                    })?;
                    if status.is_success() {
                        return Ok(bytes);
                    }
                    let body = String::from_utf8_lossy(&bytes).into_owned();
                    let error = serde_json::from_str::<ErrorResponse>(&body)
                        .ok()
                        .map(|r| r.error);
                    return Err(RequestError::Http(HttpFailure {
                        url: url.to_string(),
                        status,
                        error,
                        body,
                    }));
                }
                Err(err) if err.is_connect() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(url = %url, attempt, "REST catalog connection failed; retrying");
                    tokio::time::sleep(retry_delay).await;
                    attempt += 1;
                }
                Err(err) => {
                    return Err(RequestError::Lake(LakeError::RestCatalogUnreachable {
                        url: url.to_string(),
                        reason: describe_transport_error(&err),
                    }));
                }
            }
        }
    }

    /// GET `url` as JSON of type `T`; HTTP errors are kept apart.
    async fn try_get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        action: &'static str,
    ) -> Result<T, RequestError> {
        let bytes = self.send(Method::GET, url.clone(), None).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            RequestError::Lake(LakeError::RestCatalog {
                url: url.to_string(),
                action,
                message: format!(
                    "the answer is not what the Iceberg REST spec describes: {e} (it starts with {:?})",
                    truncate(&String::from_utf8_lossy(&bytes), 120)
                ),
                hint: "; is this an Iceberg REST catalog, and is the base path (before /v1) right?".to_string(),
            })
        })
    }

    /// GET `url` as JSON of type `T`; every failure as a [`LakeError`].
    async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
        action: &'static str,
    ) -> Result<T, LakeError> {
        self.try_get_json(url, action)
            .await
            .map_err(|e| self.lake_error(e, action))
    }

    fn lake_error(&self, err: RequestError, action: &'static str) -> LakeError {
        match err {
            RequestError::Lake(err) => err,
            RequestError::Http(failure) => failure.into_lake(action, self.token.is_some()),
        }
    }

    /// The namespaces directly under `parent` (top-level ones for `None`), every page.
    pub async fn list_namespaces(
        &self,
        parent: Option<&[String]>,
    ) -> Result<Vec<Vec<String>>, LakeError> {
        let mut namespaces = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self.url(true, &["namespaces"])?;
            {
                let mut query = url.query_pairs_mut();
                if let Some(parent) = parent {
                    query.append_pair("parent", &parent.join(NAMESPACE_SEPARATOR));
                }
                if let Some(token) = &page_token {
                    query.append_pair("pageToken", token);
                }
            }
            if url.query() == Some("") {
                url.set_query(None);
            }
            let page: ListNamespacesResponse = self.get_json(url, "list namespaces").await?;
            namespaces.extend(page.namespaces);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != page_token.as_ref() => page_token = Some(next),
                _ => return Ok(namespaces),
            }
        }
        Ok(namespaces)
    }

    /// Every namespace, nested ones included (down to [`MAX_NAMESPACE_DEPTH`] levels), sorted.
    pub async fn list_all_namespaces(&self) -> Result<Vec<Vec<String>>, LakeError> {
        let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
        let mut level: Vec<Vec<String>> = self.list_namespaces(None).await?;
        // Servers that ignore `parent` repeat what they sent; only strictly deeper children count.
        level.retain(|ns| !ns.is_empty());
        for _ in 0..MAX_NAMESPACE_DEPTH {
            let new: Vec<Vec<String>> = level
                .into_iter()
                .filter(|ns| found.insert(ns.clone()))
                .collect();
            if new.is_empty() {
                break;
            }
            let lists = new.into_iter().map(|parent| async move {
                let children = self.list_namespaces(Some(&parent)).await?;
                Ok::<_, LakeError>(
                    children
                        .into_iter()
                        .filter(|child| child.len() > parent.len() && child.starts_with(&parent))
                        .collect::<Vec<_>>(),
                )
            });
            let children: Vec<Result<Vec<Vec<String>>, LakeError>> = futures::stream::iter(lists)
                .buffer_unordered(LOAD_CONCURRENCY)
                .collect()
                .await;
            level = Vec::new();
            for result in children {
                level.extend(result?);
            }
        }
        Ok(found.into_iter().collect())
    }

    /// The table names in `namespace`, every page, sorted.
    pub async fn list_tables(&self, namespace: &[String]) -> Result<Vec<String>, LakeError> {
        self.try_list_tables(namespace)
            .await
            .map_err(|e| self.lake_error(e, "list tables"))
    }

    async fn try_list_tables(&self, namespace: &[String]) -> Result<Vec<String>, RequestError> {
        let joined = namespace.join(NAMESPACE_SEPARATOR);
        let mut tables = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut url = self
                .url(true, &["namespaces", &joined, "tables"])
                .map_err(RequestError::Lake)?;
            if let Some(token) = &page_token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let page: ListTablesResponse = self.try_get_json(url, "list tables").await?;
            tables.extend(
                page.identifiers
                    .into_iter()
                    .filter(|id| id.namespace.is_empty() || id.namespace == namespace)
                    .map(|id| id.name),
            );
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) != page_token.as_ref() => page_token = Some(next),
                _ => break,
            }
        }
        tables.sort();
        tables.dedup();
        Ok(tables)
    }

    /// Every `(namespace, table)` of the catalog (namespaces dot-joined), sorted; the namespaces'
    /// tables are listed [`LOAD_CONCURRENCY`] at a time, stopping early when `cancel` is set.
    pub async fn list_catalog_tables(
        &self,
        cancel: &CancelToken,
    ) -> Result<Vec<(String, String)>, LakeError> {
        let namespaces = self.list_all_namespaces().await?;
        let lists = namespaces.into_iter().map(|namespace| async move {
            if cancel.is_cancelled() {
                return Ok(Vec::new());
            }
            let tables = self.list_tables(&namespace).await?;
            let dotted = namespace.join(".");
            Ok::<_, LakeError>(
                tables
                    .into_iter()
                    .map(|t| (dotted.clone(), t))
                    .collect::<Vec<_>>(),
            )
        });
        let listed: Vec<Result<Vec<(String, String)>, LakeError>> = futures::stream::iter(lists)
            .buffer_unordered(LOAD_CONCURRENCY)
            .collect()
            .await;
        let mut all = Vec::new();
        for result in listed {
            all.extend(result?);
        }
        all.sort();
        Ok(all)
    }

    /// Load `namespace.table` (namespace dot-separated): its metadata location and metadata. A
    /// table the catalog does not have is reported with the tables its namespace has (or, when
    /// the namespace is missing too, with the namespaces there are).
    pub async fn load_table(&self, namespace: &str, table: &str) -> Result<LoadedTable, LakeError> {
        let parts = namespace_parts(namespace);
        let joined = parts.join(NAMESPACE_SEPARATOR);
        let url = self.url(true, &["namespaces", &joined, "tables", table])?;
        let action = "load the table";
        let response: LoadTableResponse = match self.try_get_json(url.clone(), action).await {
            Ok(response) => response,
            Err(RequestError::Http(failure)) if failure.status == StatusCode::NOT_FOUND => {
                return Err(self
                    .table_not_found(&parts, namespace, table, &failure)
                    .await);
            }
            Err(err) => return Err(self.lake_error(err, action)),
        };
        let metadata: TableMetadata =
            serde_json::from_value(response.metadata).map_err(|e| LakeError::RestCatalog {
                url: url.to_string(),
                action,
                message: format!("the table metadata in the answer cannot be read: {e}"),
                hint: String::new(),
            })?;
        Ok(LoadedTable {
            metadata_location: response.metadata_location,
            metadata,
            config: response.config,
        })
    }

    /// Commit `updates` to `namespace.table` if `requirements` hold (the spec's
    /// `POST …/namespaces/{ns}/tables/{table}`). A failed requirement (409) is a
    /// [`CommitOutcome::Conflict`], not an error: nothing changed and the caller may rebuild on the
    /// new table state.
    pub async fn commit_table(
        &self,
        namespace: &str,
        table: &str,
        requirements: &[::iceberg::TableRequirement],
        updates: &[::iceberg::TableUpdate],
    ) -> Result<CommitOutcome, LakeError> {
        let parts = namespace_parts(namespace);
        let joined = parts.join(NAMESPACE_SEPARATOR);
        let url = self.url(true, &["namespaces", &joined, "tables", table])?;
        let action = "commit to the table";
        let body = serde_json::json!({
            "identifier": {"namespace": parts, "name": table},
            "requirements": requirements,
            "updates": updates,
        });
        match self.send(Method::POST, url.clone(), Some(&body)).await {
            Ok(bytes) => {
                let answer: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| LakeError::RestCatalog {
                    url: url.to_string(),
                    action,
                    message: format!("the answer cannot be read: {e}"),
                    hint: String::new(),
                })?;
                Ok(CommitOutcome::Committed {
                    metadata_location: answer.get("metadata-location").and_then(|l| l.as_str()).map(str::to_string),
                })
            }
            Err(RequestError::Http(failure)) if failure.status == StatusCode::CONFLICT => Ok(CommitOutcome::Conflict(
                failure.error.as_ref().map(|e| e.message.clone()).unwrap_or_else(|| truncate(&failure.body, 300)),
            )),
            Err(err) => Err(self.lake_error(err, action)),
        }
    }

    /// The error for a 404 on a table: what the namespace (or the catalog) has instead.
    async fn table_not_found(
        &self,
        parts: &[String],
        namespace: &str,
        table: &str,
        failure: &HttpFailure,
    ) -> LakeError {
        let server_said = failure
            .error
            .as_ref()
            .map(|e| format!(" (the catalog said: {}: {})", e.kind, e.message))
            .unwrap_or_default();
        let namespace_missing = failure.kind() == Some("NoSuchNamespaceException");
        let listing = if namespace_missing {
            Err(())
        } else {
            match self.try_list_tables(parts).await {
                Ok(tables) => Ok(tables),
                Err(RequestError::Http(list_failure))
                    if list_failure.status == StatusCode::NOT_FOUND =>
                {
                    Err(())
                }
                Err(err) => {
                    return self.lake_error(
                        err,
                        "list the namespace's tables after a table was not found",
                    );
                }
            }
        };
        let known = match listing {
            Ok(tables) if tables.is_empty() => {
                format!("namespace {namespace} has no tables{server_said}")
            }
            Ok(tables) => format!(
                "tables in namespace {namespace}: {}{server_said}",
                tables
                    .iter()
                    .map(|t| format!("{namespace}.{t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(()) => {
                let namespaces = match self.list_all_namespaces().await {
                    Ok(all) if all.is_empty() => "none".to_string(),
                    Ok(all) => all
                        .iter()
                        .map(|ns| ns.join("."))
                        .collect::<Vec<_>>()
                        .join(", "),
                    Err(err) => format!("(cannot list them: {err})"),
                };
                format!(
                    "the catalog has no namespace {namespace}; its namespaces: {namespaces}{server_said}"
                )
            }
        };
        LakeError::RestTableNotFound {
            catalog: self.base_url.clone(),
            namespace: namespace.to_string(),
            table: table.to_string(),
            known,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str, prefix: Option<&str>) -> RestCatalogClient {
        RestCatalogClient {
            base_url: base.to_string(),
            http: reqwest::Client::new(),
            token: Some("secret-token".to_string()),
            properties: prefix
                .map(|p| HashMap::from([("prefix".to_string(), p.to_string())]))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn urls_follow_the_spec() {
        let plain = client("http://127.0.0.1:8181", None);
        assert_eq!(
            plain.url(false, &["config"]).unwrap().as_str(),
            "http://127.0.0.1:8181/v1/config"
        );
        let nested = ["a", "b"].join(NAMESPACE_SEPARATOR);
        assert_eq!(
            plain
                .url(true, &["namespaces", &nested, "tables", "t x"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8181/v1/namespaces/a%1Fb/tables/t%20x"
        );
        let prefixed = client("https://h/api/catalog", Some("warehouse/one"));
        assert_eq!(
            prefixed.url(false, &["config"]).unwrap().as_str(),
            "https://h/api/catalog/v1/config"
        );
        assert_eq!(
            prefixed.url(true, &["namespaces"]).unwrap().as_str(),
            "https://h/api/catalog/v1/warehouse/one/namespaces"
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let text = format!("{:?}", client("http://h:1", Some("p")));
        assert!(!text.contains("secret-token"), "{text}");
        assert!(text.contains("<set>"), "{text}");
    }

    #[test]
    fn server_errors_are_surfaced_with_type_and_hint() {
        let failure = HttpFailure {
            url: "http://h/v1/x".into(),
            status: StatusCode::UNAUTHORIZED,
            error: Some(ErrorModel {
                message: "Not authorized".into(),
                kind: "NotAuthorizedException".into(),
                code: 401,
            }),
            body: String::new(),
        };
        let text = failure.into_lake("list namespaces", false).to_string();
        assert!(
            text.contains("HTTP 401 (NotAuthorizedException 401): Not authorized"),
            "{text}"
        );
        assert!(text.contains(TOKEN_ENV), "{text}");
        let failure = HttpFailure {
            url: "http://h/v1/x".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: None,
            body: "boom".into(),
        };
        let text = failure.into_lake("load the table", true).to_string();
        assert!(
            text.contains("HTTP 500 Internal Server Error: boom"),
            "{text}"
        );
    }
}
