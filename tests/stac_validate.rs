//! STAC validation (`meshlake stac validate`, `engine::stac::validate`) on real documents: the STAC
//! 1.0.0 / 1.1.0 spec examples (from the rustac fixtures) against the shipped core schemas, offline; the
//! stac-spec 1.1.0-beta.1 examples against that version's schemas from the fixtures, served over HTTP on
//! 127.0.0.1; deliberately broken copies; an extension schema fetched over HTTP, cached, and missing. Each
//! verdict is compared with the Python `jsonschema` package on the same documents and schemas.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use meshlake::engine::jobs::CancelToken;
use meshlake::engine::stac::validate::{SchemaSource, StacValidation, bundled_schema_urls, core_schema_url, validate_value};
use serde_json::{Value, json};

/// `python -m http.server` serving `dir`, and its base URL with a trailing slash.
fn http_server(python: &Path, dir: &Path) -> (common::servers::Server, String) {
    let server = common::servers::http_server(python, dir);
    let base = format!("{}/", server.url);
    (server, base)
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn validate(document: &Value, mappings: Vec<(String, String)>) -> StacValidation {
    let mut source = SchemaSource::offline(mappings);
    block_on(validate_value("test", document, &mut source, &CancelToken::default())).unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// All `.json` files under `dir`.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The shipped schema files by URL (`assets/stac-schemas`).
fn shipped_schema_files() -> Vec<(String, PathBuf)> {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/stac-schemas");
    bundled_schema_urls()
        .map(|url| {
            let file = if let Some(name) = url.strip_prefix("https://geojson.org/schema/") {
                assets.join("geojson").join(name)
            } else {
                let version = url.trim_start_matches("https://schemas.stacspec.org/").split('/').next().unwrap();
                assets.join(version).join(url.rsplit('/').next().unwrap())
            };
            assert!(file.is_file(), "{}", file.display());
            (url.to_owned(), file)
        })
        .collect()
}

/// The distinct JSON pointers Python `jsonschema` (Draft 7, formats checked) reports for each
/// `(document, schema URL)`, with `schemas` (URL → file) as the registry.
fn python_problem_paths(python: &Path, schemas: &[(String, PathBuf)], checks: &[(Value, String)]) -> Vec<BTreeSet<String>> {
    let spec = json!({
        "schemas": schemas.iter().map(|(u, f)| (u.clone(), json!(f))).collect::<serde_json::Map<_, _>>(),
        "checks": checks.iter().map(|(doc, url)| json!({"doc": doc, "schema": url})).collect::<Vec<_>>(),
    });
    let dir = tempfile::tempdir().unwrap();
    let spec_file = dir.path().join("spec.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let code = r#"
import json, sys
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
spec = json.load(open(sys.argv[1]))
schemas = {url: json.load(open(f)) for url, f in spec["schemas"].items()}
registry = Registry().with_resources(
    [(url, Resource.from_contents(s, default_specification=DRAFT7)) for url, s in schemas.items()])
def pointer(path):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)
out = []
for check in spec["checks"]:
    validator = Draft7Validator(schemas[check["schema"]], registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)
    out.append(sorted({pointer(e.absolute_path) for e in validator.iter_errors(check["doc"])}))
print(json.dumps(out))
"#;
    let out = common::run_python(python, code, &[spec_file.to_str().unwrap()]);
    let lists: Vec<Vec<String>> = serde_json::from_str(out.trim()).unwrap();
    lists.into_iter().map(|l| l.into_iter().collect()).collect()
}

/// The distinct JSON pointers of the problems `schema` raised.
fn paths_from(report: &StacValidation, schema: &str) -> BTreeSet<String> {
    report.problems.iter().filter(|p| p.schema.as_deref() == Some(schema)).map(|p| p.path.clone()).collect()
}

fn is_unfetched_extension(problem: &meshlake::engine::stac::validate::ValidationProblem) -> bool {
    problem.message.starts_with("extension schema ") && problem.message.contains("could not be fetched")
}

fn kind_of(document: &Value) -> &'static str {
    match document["type"].as_str() {
        Some("Feature") => "item",
        Some("Collection") => "collection",
        _ => "catalog",
    }
}

#[test]
fn spec_examples_1_0_and_1_1_are_valid_against_the_shipped_core_schemas_offline() {
    let Some(fixtures) = common::fixtures() else { return };
    let Some(python) = common::python() else { return };
    // Extension schemas cannot be had here (an empty folder stands for the network): they must be reported.
    let empty = tempfile::tempdir().unwrap();
    let offline = vec![("https://stac-extensions.github.io/".to_owned(), empty.path().display().to_string())];
    let mut checks = Vec::new();
    for version in ["v1.0.0", "v1.1.0"] {
        let files = json_files(&fixtures.join("rustac/spec-examples").join(version));
        assert!(files.len() >= 8, "{version}: {files:?}");
        for file in files {
            let document = read(&file);
            if document.get("stac_version").is_none() {
                continue;
            }
            let report = validate(&document, offline.clone());
            let core = core_schema_url(&version[1..], kind_of(&document));
            assert_eq!(report.schemas[0], core);
            assert!(paths_from(&report, &core).is_empty(), "{}: {:#?}", file.display(), report.problems);
            let extensions = document.get("stac_extensions").and_then(Value::as_array).map_or(0, Vec::len);
            assert_eq!(report.problems.len(), extensions, "{}: one problem per unfetchable extension: {:#?}", file.display(), report.problems);
            assert!(report.problems.iter().all(is_unfetched_extension), "{:#?}", report.problems);
            assert_eq!(report.valid, extensions == 0);
            checks.push((document, core));
        }
    }
    let python_paths = python_problem_paths(&python, &shipped_schema_files(), &checks);
    assert!(python_paths.iter().all(BTreeSet::is_empty), "Python jsonschema disagrees: {python_paths:?}");
}

/// Broken copies of real items: (what was broken, the document, the JSON pointer expected among the problems).
fn broken_copies(item: &Value) -> Vec<(&'static str, Value, &'static str)> {
    let mut missing_id = item.clone();
    missing_id.as_object_mut().unwrap().remove("id");
    let mut bbox_string = item.clone();
    bbox_string["bbox"] = json!("172.91,1.34,172.95,1.36");
    let mut bad_datetime = item.clone();
    bad_datetime["properties"]["datetime"] = json!("2020-13-45T25:61:00Z");
    vec![("missing id", missing_id, ""), ("bbox as a string", bbox_string, "/bbox"), ("bad datetime", bad_datetime, "/properties/datetime")]
}

#[test]
fn broken_copies_report_the_expected_problems_like_python_jsonschema() {
    let Some(fixtures) = common::fixtures() else { return };
    let Some(python) = common::python() else { return };
    let mut checks = Vec::new();
    let mut ours = Vec::new();
    for version in ["v1.0.0", "v1.1.0"] {
        let item = read(&fixtures.join("rustac/spec-examples").join(version).join("simple-item.json"));
        let core = core_schema_url(&version[1..], "item");
        for (what, document, expected) in broken_copies(&item) {
            let report = validate(&document, Vec::new());
            assert!(!report.valid, "{version} {what}");
            let paths = paths_from(&report, &core);
            assert!(paths.contains(expected), "{version} {what}: {expected:?} not in {paths:?}: {:#?}", report.problems);
            if what == "missing id" {
                assert!(report.problems.iter().any(|p| p.path.is_empty() && p.message.contains("\"id\"")), "{:#?}", report.problems);
            }
            ours.push(paths);
            checks.push((document, core.clone()));
        }
    }
    let theirs = python_problem_paths(&python, &shipped_schema_files(), &checks);
    assert_eq!(ours, theirs, "problem paths differ from Python jsonschema");

    // The CLI: JSON report, non-zero exit when invalid, zero when valid.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken-item.json");
    std::fs::write(&broken, checks[4].0.to_string()).unwrap();
    let cache = dir.path().join("cache");
    let (ok, stdout, stderr) = common::run_meshlake(&["stac", "validate", broken.to_str().unwrap(), "--json"], &[("MESHLAKE_CACHE_DIR", &cache)]);
    assert!(!ok, "invalid must fail: {stdout} {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["valid"], false);
    assert!(report["problems"].as_array().unwrap().iter().any(|p| p["path"] == "/bbox" && p["message"].is_string()), "{report}");
    let good = fixtures.join("rustac/spec-examples/v1.1.0/simple-item.json");
    let (ok, stdout, stderr) = common::run_meshlake(&["stac", "validate", good.to_str().unwrap(), "--json"], &[("MESHLAKE_CACHE_DIR", &cache)]);
    assert!(ok, "{stdout} {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["problems"], json!([]));
}

#[test]
fn stac_spec_beta_examples_validate_against_their_schemas_served_over_http() {
    let Some(fixtures) = common::fixtures() else { return };
    let Some(python) = common::python() else { return };
    let spec = fixtures.join("stac-spec");
    let (_server, base) = http_server(&python, &spec);
    // 1.1.0-beta.1 is not shipped: its schemas come over HTTP (the fixtures' json-schema folders); the
    // extensions' URLs are mapped to a folder of the same server that does not exist (404).
    let map = format!("https://schemas.stacspec.org/v1.1.0-beta.1/={base};https://stac-extensions.github.io/={base}no-such-folder/");
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let files = json_files(&spec.join("examples"));
    assert!(files.len() >= 8, "{files:?}");
    let mut checks = Vec::new();
    for file in &files {
        let document = read(file);
        if document.get("stac_version").is_none() {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_meshlake"))
            .args(["stac", "validate", file.to_str().unwrap(), "--json"])
            .env("RUST_LOG", "error")
            .env("MESHLAKE_CACHE_DIR", &cache)
            .env("MESHLAKE_STAC_SCHEMA_MAP", &map)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{}: {e}: {}", file.display(), String::from_utf8_lossy(&out.stderr)));
        let core = core_schema_url("1.1.0-beta.1", kind_of(&document));
        let problems = report["problems"].as_array().unwrap();
        let extensions = document.get("stac_extensions").and_then(Value::as_array).map_or(0, Vec::len);
        assert_eq!(problems.len(), extensions, "{}: {report:#}", file.display());
        for problem in problems {
            let message = problem["message"].as_str().unwrap();
            assert!(message.starts_with("extension schema ") && message.contains("could not be fetched") && message.contains("404"), "{message}");
        }
        assert_eq!(out.status.success(), extensions == 0, "{}: exit code follows the verdict", file.display());
        checks.push((document, core));
    }
    assert!(checks.iter().any(|(d, _)| d.get("stac_extensions").is_none()), "some examples have no extensions");
    let mut schemas = Vec::new();
    for part in ["item-spec", "catalog-spec", "collection-spec"] {
        for file in json_files(&spec.join(part).join("json-schema")) {
            let name = file.file_name().unwrap().to_str().unwrap().to_owned();
            schemas.push((format!("https://schemas.stacspec.org/v1.1.0-beta.1/{part}/json-schema/{name}"), file));
        }
    }
    schemas.extend(shipped_schema_files().into_iter().filter(|(u, _)| u.starts_with("https://geojson.org/")));
    let python_paths = python_problem_paths(&python, &schemas, &checks);
    assert!(python_paths.iter().all(BTreeSet::is_empty), "Python jsonschema disagrees: {python_paths:?}");
}

/// A small extension schema in the form the stac-extensions template uses (draft 7, `stac_extensions`
/// must list it, fields in `properties`), with a `$ref` to the 1.1.0 core `datetime.json` (shipped).
fn extension_schema(url: &str) -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": url,
        "title": "Test extension",
        "type": "object",
        "required": ["stac_extensions", "properties"],
        "properties": {
            "stac_extensions": {"type": "array", "contains": {"const": url}},
            "properties": {
                "type": "object",
                "required": ["test:level"],
                "properties": {
                    "test:level": {"type": "integer", "minimum": 0},
                    "test:observed": {"$ref": "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/datetime.json#/properties/created"}
                }
            }
        }
    })
}

#[test]
fn extension_schemas_are_fetched_over_http_cached_and_reported_when_missing() {
    let Some(fixtures) = common::fixtures() else { return };
    let Some(python) = common::python() else { return };
    let served = tempfile::tempdir().unwrap();
    let (server, base) = http_server(&python, served.path());
    let url = format!("{base}test-extension/v1.0.0/schema.json");
    let schema = extension_schema(&url);
    std::fs::create_dir_all(served.path().join("test-extension/v1.0.0")).unwrap();
    std::fs::write(served.path().join("test-extension/v1.0.0/schema.json"), schema.to_string()).unwrap();

    let mut item = read(&fixtures.join("rustac/spec-examples/v1.1.0/simple-item.json"));
    item["stac_extensions"] = json!([url]);
    item["properties"]["test:level"] = json!(3);
    item["properties"]["test:observed"] = json!("2020-12-11T22:38:32Z");
    let mut negative = item.clone();
    negative["properties"]["test:level"] = json!(-1);
    let mut missing = item.clone();
    missing["properties"].as_object_mut().unwrap().remove("test:level");
    let mut bad_time = item.clone();
    bad_time["properties"]["test:observed"] = json!("yesterday");

    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path
    };
    let run = |path: &Path| -> (bool, Value) {
        let (ok, stdout, stderr) = common::run_meshlake(&["stac", "validate", path.to_str().unwrap(), "--json"], &[("MESHLAKE_CACHE_DIR", &cache)]);
        (ok, serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}")))
    };
    let cases = [("valid", &item, None), ("negative", &negative, Some("/properties/test:level")), ("missing", &missing, Some("/properties")), ("bad time", &bad_time, Some("/properties/test:observed"))];
    let mut ours = Vec::new();
    for (what, document, expected) in &cases {
        let (ok, report) = run(&write(&format!("{what}.json"), document));
        assert_eq!(ok, expected.is_none(), "{what}: {report:#}");
        assert_eq!(report["schemas"], json!([core_schema_url("1.1.0", "item"), url]), "{what}");
        let paths: BTreeSet<String> =
            report["problems"].as_array().unwrap().iter().filter(|p| p["schema"] == json!(url)).map(|p| p["path"].as_str().unwrap().to_owned()).collect();
        if let Some(expected) = expected {
            assert!(paths.contains(*expected), "{what}: {paths:?}");
        }
        ours.push(paths);
    }
    // Python jsonschema on the same documents and the same extension schema.
    let schema_file = served.path().join("test-extension/v1.0.0/schema.json");
    let mut schemas = shipped_schema_files();
    schemas.push((url.clone(), schema_file));
    let checks: Vec<(Value, String)> = cases.iter().map(|(_, d, _)| ((*d).clone(), url.clone())).collect();
    assert_eq!(ours, python_problem_paths(&python, &schemas, &checks));

    // The schema was kept in the cache: with the server gone, validation still applies it.
    let cached: Vec<_> = std::fs::read_dir(cache.join("stac-schemas")).unwrap().collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    drop(server);
    let (ok, report) = run(&write("negative-again.json", &negative));
    assert!(!ok);
    assert!(report["problems"].as_array().unwrap().iter().any(|p| p["path"] == "/properties/test:level"), "{report:#}");

    // No cache and no server: a clear problem, not a crash and not a pass.
    std::fs::remove_dir_all(&cache).unwrap();
    let started = Instant::now();
    let (ok, report) = run(&write("offline.json", &item));
    assert!(!ok);
    assert!(started.elapsed() < Duration::from_secs(20), "bounded retries");
    assert_eq!(report["valid"], false);
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report:#}");
    let message = problems[0]["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("extension schema {url} could not be fetched: ")), "{message}");
}
