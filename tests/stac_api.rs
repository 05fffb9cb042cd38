//! STAC API search against real servers on 127.0.0.1: `rustac serve` loaded with real Earth Search /
//! Planetary Computer items from the fixtures (results compared with pystac-client on the same
//! server), thousands of generated items paged through, a stdlib test server for 429/503/huge/GET-only
//! answers, and the recorded real API responses of pystac-client and rustac.

mod common;

use common::servers::{rustac_serve, stac_test_server};

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshlake::engine::jobs::CancelToken;
use meshlake::engine::stac::api::{
    ApiOptions, PageRequest, RetryPolicy, StacApiClient, StacApiError, parse_page, server_message,
};
use meshlake::engine::stac::search::SearchParams;
use serde_json::{Value, json};

fn setup() -> Option<(PathBuf, PathBuf)> {
    let fixtures = common::fixtures()?;
    let python = common::python()?;
    Some((fixtures, python))
}

/// The real items: Earth Search `sentinel-2-c1-l2a` (collection + 10 items), Planetary Computer
/// `sentinel-2-l2a` (100 from stac-geoparquet; `two-sentinel-2-items.json` repeats two of them), Earth Search S2 L2A and Landsat items.
fn real_items(fixtures: &Path) -> Vec<PathBuf> {
    let r = fixtures.join("rustac/crates");
    let p = fixtures.join("pystac-client/extracted-items");
    vec![
        r.join("server/data/sentinel-2/collection.json"),
        r.join("server/data/sentinel-2/item-collection.json"),
        r.join("duckdb/data/100-sentinel-2-items.parquet"),
        p.join("earth-search-v1_sentinel-2-l2a_S2A_13TDE_20231008_0_L2A.json"),
        p.join("earth-search-v1_sentinel-2-l2a_S2B_24MVV_20250731_0_L2A.json"),
        p.join("earth-search-v1_landsat-c2-l2_LC08_L2SP_033032_20231008_02_T1.json"),
    ]
}

/// `meshlake stac search URL ARGS --json`.
fn meshlake_search(source: &str, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_meshlake"))
        .args(["stac", "search", source, "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "meshlake failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn ids(result: &Value) -> Vec<String> {
    result["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

/// What pystac-client gets for `kwargs` (see tests/peers/pystac_search.py).
fn pystac(python: &Path, url: &str, kwargs: Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pystac_search.py");
    let out = Command::new(python).arg(script).arg(url).arg(kwargs.to_string()).output().unwrap();
    assert!(out.status.success(), "pystac-client failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn pystac_ids(value: &Value) -> Vec<String> {
    value["ids"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_owned()).collect()
}

#[test]
fn searches_equal_pystac_client_on_rustac_serve() {
    let Some((fixtures, python)) = setup() else { return };
    let server = rustac_serve(&python, &real_items(&fixtures));
    let url = server.url.as_str();

    let everything = meshlake_search(url, &[]);
    let all = ids(&everything);
    assert!(all.len() >= 110, "real items loaded: {}", all.len());
    assert_eq!(all, pystac_ids(&pystac(&python, url, json!({}))));
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len(), "each item once");

    let cases: Vec<(Vec<&str>, Value)> = vec![
        (vec!["--collections", "sentinel-2-l2a"], json!({"collections": ["sentinel-2-l2a"]})),
        (vec!["--collections", "sentinel-2-c1-l2a,landsat-c2-l2"], json!({"collections": ["sentinel-2-c1-l2a", "landsat-c2-l2"]})),
        (vec!["--bbox", "-105.5,39.5,-105.0,40.0"], json!({"bbox": [-105.5, 39.5, -105.0, 40.0]})),
        (
            vec!["--datetime", "2024-04-01T00:00:00Z/2024-04-15T00:00:00Z"],
            json!({"datetime": "2024-04-01T00:00:00Z/2024-04-15T00:00:00Z"}),
        ),
        // Date-only ends are whole days, as pystac-client expands them.
        (vec!["--datetime", "2024-04-01/2024-04-14"], json!({"datetime": "2024-04-01/2024-04-14"})),
        (vec!["--limit", "7", "--max-items", "23"], json!({"limit": 7, "max_items": 23})),
        (
            vec!["--collections", "sentinel-2-l2a", "--bbox", "-106,39,-104,41", "--datetime", "2024-06-01T00:00:00Z/..", "--limit", "5", "--max-items", "12"],
            json!({"collections": ["sentinel-2-l2a"], "bbox": [-106, 39, -104, 41], "datetime": "2024-06-01T00:00:00Z/..", "limit": 5, "max_items": 12}),
        ),
    ];
    for (args, kwargs) in cases {
        let ours = meshlake_search(url, &args);
        let theirs = pystac(&python, url, kwargs.clone());
        let got = ids(&ours);
        assert!(!got.is_empty(), "{args:?} found nothing");
        assert_eq!(got, pystac_ids(&theirs), "{args:?} vs pystac-client {kwargs}");
        assert_eq!(ours["returned"].as_u64().unwrap() as usize, got.len());
    }
    let limited = meshlake_search(url, &["--limit", "7", "--max-items", "23"]);
    assert_eq!(limited["returned"], 23);
    assert_eq!(limited["truncated"], true);
    assert_eq!(limited["pages"], 4, "23 items at 7 a page");

    // rustac's memory backend declares neither query nor filter (and answers no item to a filter or a
    // query it is sent): both are evaluated here, and the result says so. pystac-client fetches the
    // items unfiltered and the same predicate is applied in Python.
    let ours = meshlake_search(url, &["--query", "eo:cloud_cover<20"]);
    assert_eq!(ours["query"], "local");
    let theirs = pystac(&python, url, json!({"local_lt": {"property": "eo:cloud_cover", "value": 20}}));
    assert!(!ids(&ours).is_empty() && ids(&ours).len() < all.len());
    assert_eq!(ids(&ours), pystac_ids(&theirs));

    let filter = r#"{"op":"and","args":[{"op":"<","args":[{"property":"eo:cloud_cover"},20]},{"op":"=","args":[{"property":"collection"},"sentinel-2-l2a"]}]}"#;
    let ours = meshlake_search(url, &["--filter", filter]);
    assert_eq!(ours["filter"], "local");
    let where_ = r#"i["properties"].get("eo:cloud_cover") is not None and i["properties"]["eo:cloud_cover"] < 20 and i["collection"] == "sentinel-2-l2a""#;
    let theirs = pystac(&python, url, json!({"local_where": where_}));
    assert!(!ids(&ours).is_empty());
    assert_eq!(ids(&ours), pystac_ids(&theirs));
    // CQL2 text is accepted too and gives the same items.
    let text = meshlake_search(url, &["--filter", "\"eo:cloud_cover\" < 20 AND collection = 'sentinel-2-l2a'"]);
    assert_eq!(ids(&text), ids(&ours));

    // sortby is not declared either: the final list is sorted here.
    let sorted = meshlake_search(url, &["--collections", "sentinel-2-c1-l2a", "--sortby", "-properties.eo:cloud_cover"]);
    assert_eq!(sorted["sortby"], "local");
    let clouds: Vec<f64> = sorted["items"].as_array().unwrap().iter().map(|i| i["cloud_cover"].as_f64().unwrap()).collect();
    assert!(clouds.windows(2).all(|w| w[0] >= w[1]), "{clouds:?}");
}

/// `n` generated items in two collections, as one FeatureCollection file.
fn write_generated_items(dir: &Path, n: usize) -> PathBuf {
    let features: Vec<Value> = (0..n)
        .map(|i| {
            let (x, y) = (-10.0 + (i % 100) as f64 * 0.2, 35.0 + (i / 100) as f64 * 0.2);
            json!({
                "type": "Feature", "stac_version": "1.0.0", "id": format!("gen-{i:05}"),
                "collection": if i % 2 == 0 { "gen-even" } else { "gen-odd" },
                "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]]},
                "bbox": [x, y, x + 0.1, y + 0.1],
                "properties": {"datetime": format!("2024-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60), "eo:cloud_cover": (i % 100) as f64},
                "assets": {"data": {"href": format!("https://example.com/{i}.tif"), "roles": ["data"]}},
                "links": []
            })
        })
        .collect();
    let path = dir.join("generated.json");
    std::fs::write(&path, json!({"type": "FeatureCollection", "features": features}).to_string()).unwrap();
    path
}

#[test]
fn paging_through_thousands_of_items_returns_each_once() {
    let Some((_, python)) = setup() else { return };
    let dir = tempfile::tempdir().unwrap();
    let generated = write_generated_items(dir.path(), 3000);
    let server = rustac_serve(&python, &[generated.clone()]);
    let result = meshlake_search(&server.url, &["--limit", "100", "--max-items", "100000"]);
    let got = ids(&result);
    assert_eq!(got.len(), 3000);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 3000, "every item exactly once");
    assert!(result["pages"].as_u64().unwrap() >= 30, "{}", result["pages"]);
    assert_eq!(result["truncated"], false);
    assert_eq!(got, pystac_ids(&pystac(&python, &server.url, json!({"limit": 100}))));

    // The same search over the file itself (a local source) finds the same items.
    let local = meshlake_search(generated.to_str().unwrap(), &["--collections", "gen-odd", "--query", "eo:cloud_cover<10"]);
    assert_eq!(local["method"], "local");
    let remote = meshlake_search(&server.url, &["--collections", "gen-odd", "--query", "eo:cloud_cover<10"]);
    assert_eq!(ids(&local).into_iter().collect::<HashSet<_>>(), ids(&remote).into_iter().collect::<HashSet<_>>());
    assert_eq!(ids(&local).len(), 150);
}

fn fast_options() -> ApiOptions {
    ApiOptions {
        retry: RetryPolicy { max_attempts: 4, base_delay: Duration::from_millis(50), max_delay: Duration::from_secs(5) },
        ..ApiOptions::default()
    }
}

async fn search_all(url: &str, options: ApiOptions, params: SearchParams) -> Result<(Vec<String>, String, u64), StacApiError> {
    let cancel = CancelToken::default();
    let client = StacApiClient::connect(url, options, &cancel).await?;
    let mut pager = client.search(&params)?;
    let mut ids = Vec::new();
    while let Some(page) = pager.next_page(&cancel).await? {
        ids.extend(page.into_iter().map(|i| i.id));
    }
    Ok((ids, pager.summary().method.clone(), pager.summary().pages))
}

fn server_log(url: &str) -> Vec<Value> {
    let body = reqwest::blocking_get(&format!("{url}/__log"));
    serde_json::from_str::<Value>(&body).unwrap().as_array().unwrap().clone()
}

mod reqwest {
    /// A tiny blocking GET over std (the tests do not need an HTTP client of their own).
    pub fn blocking_get(url: &str) -> String {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_then_ok_completes_honouring_retry_after() {
    let Some((_, python)) = setup() else { return };
    let server = stac_test_server(&python, &["flaky", "3"]);
    let (ids, _, _) = search_all(&server.url, fast_options(), SearchParams::default()).await.unwrap();
    assert_eq!(ids, ["item-000", "item-001", "item-002"]);
    let log = server_log(&server.url);
    let searches: Vec<&Value> = log.iter().filter(|r| r["path"] == "/search").collect();
    assert_eq!(searches.len(), 4, "three 429s, then the answer");
    assert!(log.iter().all(|r| r["user_agent"].as_str().unwrap().starts_with("meshlake/")), "{log:?}");
    let gap = searches[1]["t"].as_f64().unwrap() - searches[0]["t"].as_f64().unwrap();
    assert!(gap >= 0.95, "Retry-After: 1 was not honoured (waited {gap} s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stays_down_fails_clearly_after_bounded_retries() {
    let Some((_, python)) = setup() else { return };
    let server = stac_test_server(&python, &["down", "0"]);
    let err = search_all(&server.url, fast_options(), SearchParams::default()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StacApiError::RetriesExhausted { attempts: 4, .. }), "{text}");
    assert!(text.contains("503") && text.contains("down for maintenance"), "{text}");
    let searches = server_log(&server.url).into_iter().filter(|r| r["path"] == "/search").count();
    assert_eq!(searches, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_response_is_refused() {
    let Some((_, python)) = setup() else { return };
    let server = stac_test_server(&python, &["huge", "0"]);
    let err = search_all(&server.url, fast_options(), SearchParams::default()).await.unwrap_err();
    assert!(matches!(err, StacApiError::TooLarge { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_only_servers_are_searched_and_paged_by_get() {
    let Some((_, python)) = setup() else { return };
    let server = stac_test_server(&python, &["getonly", "0"]);
    let params = SearchParams { limit: Some(10), ..Default::default() };
    let (ids, method, pages) = search_all(&server.url, fast_options(), params).await.unwrap();
    assert_eq!(method, "GET");
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 25);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 25);
    assert!(server_log(&server.url).iter().all(|r| r["method"] == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_a_local_file_is_refused() {
    let Some((_, python)) = setup() else { return };
    let server = stac_test_server(&python, &["evil", "0"]);
    let err = search_all(&server.url, fast_options(), SearchParams::default()).await.unwrap_err();
    assert!(matches!(err, StacApiError::LocalHref { .. }), "{err}");
}

#[test]
fn a_4xx_carries_the_servers_message() {
    let Some((_, python)) = setup() else { return };
    let server = stac_test_server(&python, &["getonly", "0"]);
    let out = Command::new(env!("CARGO_BIN_EXE_meshlake"))
        .args(["stac", "search", &format!("{}/nowhere", server.url), "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("404") && stderr.contains("no route /nowhere"), "{stderr}");
}

fn request(method: &str, url: &str, body: Option<Value>) -> PageRequest {
    PageRequest {
        method: method.parse().unwrap(),
        url: url.parse().unwrap(),
        body,
        headers: Vec::new(),
    }
}

#[test]
fn recorded_real_responses_parse() {
    let Some(fixtures) = common::fixtures() else { return };
    let responses = fixtures.join("pystac-client/responses");
    let read = |name: &str| std::fs::read(responses.join(name)).unwrap();
    let es = "https://earth-search.aws.element84.com/v1/search";

    // Earth Search: POST `next` with a body token (merge: false), then an empty page that ends paging.
    let first = request("POST", es, Some(json!({"collections": ["sentinel-2-l2a", "landsat-c2-l2"]})));
    let page = parse_page(&read("earth-search-v1-search-s2l2a-landsat-paged-01.json"), &first).unwrap();
    assert_eq!(page.features.len(), 2);
    let next = page.next.unwrap();
    assert_eq!(next.method.as_str(), "POST");
    assert!(next.body.as_ref().unwrap().get("next").is_some(), "{:?}", next.body);
    assert!(next.body.as_ref().unwrap().get("collections").is_some(), "the whole body travels with the token");
    let last = parse_page(&read("earth-search-v1-search-s2l2a-landsat-paged-02.json"), &next).unwrap();
    assert!(last.features.is_empty());

    // CQL2 pages: the token carries over from page to page.
    let page1 = parse_page(&read("earth-search-v1-search-cql2-filter-paged-01.json"), &first).unwrap();
    assert_eq!(page1.features.len(), 10);
    let next1 = page1.next.unwrap();
    let page2 = parse_page(&read("earth-search-v1-search-cql2-filter-paged-02.json"), &next1).unwrap();
    assert_eq!(page2.features.len(), 10);
    assert_ne!(page2.next.unwrap().body.unwrap()["next"], next1.body.unwrap()["next"]);

    let matched = parse_page(&read("earth-search-v1-search-limit1-matched-01.json"), &first).unwrap();
    assert_eq!(matched.matched, Some(26450));
    parse_page(&read("earth-search-v1-search-fields-ext-01.json"), &first).unwrap();

    // Planetary Computer: `next` and `previous`, POST with a token.
    let pc = "https://planetarycomputer.microsoft.com/api/stac/v1/search";
    let page = parse_page(&read("pc-search-naip-next-previous-02.json"), &request("POST", pc, Some(json!({"limit": 10})))).unwrap();
    assert!(page.next.is_some() && page.previous.is_some());
    parse_page(&read("pc-search-limit1-02.json"), &request("POST", pc, None)).unwrap();

    // 404 bodies: the server's own message.
    assert_eq!(server_message(&read("earth-search-v1-collection-404-01.json")), "NotFound: Not Found");
    assert_eq!(
        server_message(&read("pc-get-item-05.json")),
        "NotFoundError: Item for-sure-not-a-real-id in Collection aster-l1t does not exist."
    );

    // rustac's mocks: Planetary Computer /search and /items pages with next + previous links.
    let mocks = fixtures.join("rustac/crates/io/mocks");
    for (file, url) in [
        ("search-page-1.json", pc),
        ("search-page-2.json", pc),
        ("items-page-1.json", "https://planetarycomputer.microsoft.com/api/stac/v1/collections/sentinel-2-l2a/items"),
        ("items-page-2.json", "https://planetarycomputer.microsoft.com/api/stac/v1/collections/sentinel-2-l2a/items"),
    ] {
        let page = parse_page(&std::fs::read(mocks.join(file)).unwrap(), &request("GET", url, None)).unwrap();
        assert_eq!(page.features.len(), 1, "{file}");
        assert!(page.next.is_some(), "{file}");
        if file.ends_with("2.json") {
            assert!(page.previous.is_some(), "{file}");
        }
    }
    assert!(!server_message(&std::fs::read(mocks.join("not-a-collection.json")).unwrap()).is_empty());
}

#[test]
fn static_catalogs_are_searched_locally() {
    let Some(fixtures) = common::fixtures() else { return };
    let catalog = fixtures.join("pystac-client/static-catalog-test-case-1/catalog.json");
    let all = meshlake_search(catalog.to_str().unwrap(), &[]);
    assert_eq!(all["method"], "local");
    let n = all["returned"].as_u64().unwrap();
    assert!(n > 0);
    let first = &all["items"][0];
    let [minx, miny, maxx, maxy] = [0, 1, 2, 3].map(|i| first["bbox"][i].as_f64().unwrap());
    let bbox = format!("{minx},{miny},{maxx},{maxy}");
    let some = meshlake_search(catalog.to_str().unwrap(), &["--bbox", &bbox, "--max-items", "1000"]);
    assert!(ids(&some).contains(&first["id"].as_str().unwrap().to_owned()));
    assert!(some["returned"].as_u64().unwrap() <= n);
}
