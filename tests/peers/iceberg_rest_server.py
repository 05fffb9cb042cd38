"""A small Iceberg REST catalog server for tests, backed by pyiceberg's SqlCatalog (SQLite).

It follows the Iceberg REST catalog OpenAPI spec for what meshlake reads:

- GET  {base}/v1/config                                   -> {"defaults": {}, "overrides": {"prefix": PREFIX}}
- GET  {base}/v1/{prefix}/namespaces[?parent=&pageToken=&pageSize=]
- GET  {base}/v1/{prefix}/namespaces/{namespace}
- GET  {base}/v1/{prefix}/namespaces/{namespace}/tables[?pageToken=&pageSize=]
- GET  {base}/v1/{prefix}/namespaces/{namespace}/tables/{table}  -> {"metadata-location", "metadata", "config"}
- POST {base}/v1/{prefix}/namespaces/{namespace}/tables/{table}  {"requirements": [...], "updates": [...]}
       -> pyiceberg's catalog commit_table -> {"metadata-location", "metadata"}; 409 CommitFailedException
          when a requirement fails (the commit is then not made)

Multipart namespaces travel joined with the unit separator (0x1F, "%1F" in URLs). Listings are paged
(`next-page-token`; the server's page size is small on purpose so clients must follow pages). Errors
use the spec's body: {"error": {"message": ..., "type": ..., "code": ...}} (404 NoSuchTableException /
NoSuchNamespaceException, 400 BadRequestException, 500 for anything unexpected).

Usage: iceberg_rest_server.py --catalog-db PATH --warehouse DIR [--port 0] [--base-path /api]
       [--prefix PREFIX] [--page-size N] [--load-delay SECONDS]
For tests it also answers GET /_test/stats with {"max_concurrent_loads": N, "loads": N} (how many
load-table requests it served at most at once, and in all), and --load-delay SECONDS slows every
load-table answer down so that concurrency shows.

--require-token TOKEN answers 401 (NotAuthorizedException) to requests without
"Authorization: Bearer TOKEN"; --unavailable-first N answers 503 (ServiceUnavailableException) to the
first N requests, as an overloaded catalog would.

Prints "LISTENING http://127.0.0.1:PORT{base}" on stdout once it accepts connections.
"""

import argparse
import json
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchNamespaceError, NoSuchTableError

SEPARATOR = "\x1f"


class ApiError(Exception):
    def __init__(self, code, kind, message):
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.message = message


def decode_namespace(segment):
    parts = unquote(segment).split(SEPARATOR)
    if not parts or any(part == "" for part in parts):
        raise ApiError(400, "BadRequestException", f"malformed namespace {segment!r}")
    return tuple(parts)


def page(items, query, page_size):
    """One page of `items` and the token of the next one (None at the end)."""
    size = page_size
    if "pageSize" in query:
        try:
            size = max(1, int(query["pageSize"][0]))
        except ValueError:
            raise ApiError(400, "BadRequestException", "pageSize must be a positive integer")
    start = 0
    token = query.get("pageToken", [""])[0]
    if token:
        try:
            start = int(token)
        except ValueError:
            raise ApiError(400, "BadRequestException", f"invalid pageToken {token!r}")
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


class LoadStats:
    def __init__(self):
        self.lock = threading.Lock()
        self.current = 0
        self.max = 0
        self.total = 0

    def __enter__(self):
        with self.lock:
            self.current += 1
            self.total += 1
            self.max = max(self.max, self.current)

    def __exit__(self, *exc):
        with self.lock:
            self.current -= 1


def make_handler(catalog, base_path, prefix, page_size, load_delay, required_token, unavailable_first):
    api_root = base_path.rstrip("/") + "/v1"
    stats = LoadStats()
    unavailable = {"left": unavailable_first}
    unavailable_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # keep the test output quiet; errors go to stderr below
            pass

        def send_json(self, code, body):
            data = json.dumps(body).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            try:
                self.send_json(200, self.route())
            except ApiError as err:
                self.send_json(err.code, {"error": {"message": err.message, "type": err.kind, "code": err.code}})
            except Exception as err:  # noqa: BLE001 - a server must answer something
                traceback.print_exc(file=sys.stderr)
                self.send_json(500, {"error": {"message": str(err), "type": type(err).__name__, "code": 500}})

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self.send_json(200, self.route(body))
            except ApiError as err:
                self.send_json(err.code, {"error": {"message": err.message, "type": err.kind, "code": err.code}})
            except Exception as err:  # noqa: BLE001 - a server must answer something
                traceback.print_exc(file=sys.stderr)
                self.send_json(500, {"error": {"message": str(err), "type": type(err).__name__, "code": 500}})

        def commit(self, namespace, name, body):
            from pyiceberg.table import CommitTableRequest

            request = CommitTableRequest.model_validate(
                {
                    "identifier": {"namespace": list(namespace), "name": name},
                    "requirements": body.get("requirements", []),
                    "updates": body.get("updates", []),
                }
            )
            try:
                table = catalog.load_table(namespace + (name,))
            except NoSuchTableError:
                raise ApiError(404, "NoSuchTableException", f"Table does not exist: {'.'.join(namespace)}.{name}")
            try:
                response = catalog.commit_table(table, request.requirements, request.updates)
            except CommitFailedException as err:
                raise ApiError(409, "CommitFailedException", str(err))
            return {"metadata-location": response.metadata_location, "metadata": json.loads(response.metadata.model_dump_json(by_alias=True, exclude_none=True))}

        def route(self, body=None):
            with unavailable_lock:
                if unavailable["left"] > 0:
                    unavailable["left"] -= 1
                    raise ApiError(503, "ServiceUnavailableException", "The catalog is busy; try again")
            if required_token and self.headers.get("Authorization") != f"Bearer {required_token}":
                raise ApiError(401, "NotAuthorizedException", "Not authorized: a valid bearer token is required")
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            # Split before decoding: %2F inside a segment is not a path separator.
            path = url.path
            if path == "/_test/stats":
                return {"max_concurrent_loads": stats.max, "loads": stats.total}
            if not path.startswith(api_root + "/"):
                raise ApiError(404, "NotFoundException", f"no route {url.path}")
            segments = path[len(api_root) + 1 :].split("/")
            if segments == ["config"]:
                return {"defaults": {}, "overrides": {"prefix": prefix} if prefix else {}}
            if prefix:
                prefix_parts = prefix.split("/")
                if segments[: len(prefix_parts)] != prefix_parts:
                    raise ApiError(404, "NotFoundException", f"no route {url.path} (prefix is {prefix})")
                segments = segments[len(prefix_parts) :]
            if segments == ["namespaces"]:
                parent = ()
                if query.get("parent", [""])[0]:
                    parent = decode_namespace(query["parent"][0])
                    self.require_namespace(parent)
                children = sorted(
                    ns for ns in catalog.list_namespaces(parent) if len(ns) == len(parent) + 1 and ns[: len(parent)] == parent
                )
                items, token = page([list(ns) for ns in children], query, page_size)
                return {"namespaces": items, "next-page-token": token}
            if len(segments) == 2 and segments[0] == "namespaces":
                namespace = decode_namespace(segments[1])
                self.require_namespace(namespace)
                return {"namespace": list(namespace), "properties": catalog.load_namespace_properties(namespace)}
            if len(segments) == 3 and segments[0] == "namespaces" and segments[2] == "tables":
                namespace = decode_namespace(segments[1])
                self.require_namespace(namespace)
                names = sorted(identifier[-1] for identifier in catalog.list_tables(namespace))
                items, token = page([{"namespace": list(namespace), "name": name} for name in names], query, page_size)
                return {"identifiers": items, "next-page-token": token}
            if len(segments) == 4 and segments[0] == "namespaces" and segments[2] == "tables":
                namespace = decode_namespace(segments[1])
                name = unquote(segments[3])
                self.require_namespace(namespace)
                if body is not None:
                    return self.commit(namespace, name, body)
                with stats:
                    try:
                        table = catalog.load_table(namespace + (name,))
                    except NoSuchTableError:
                        raise ApiError(404, "NoSuchTableException", f"Table does not exist: {'.'.join(namespace)}.{name}")
                    with table.io.new_input(table.metadata_location).open() as f:
                        metadata = json.loads(f.read())
                    time.sleep(load_delay)
                return {"metadata-location": table.metadata_location, "metadata": metadata, "config": {}}
            raise ApiError(404, "NotFoundException", f"no route {url.path}")

        def require_namespace(self, namespace):
            try:
                catalog.load_namespace_properties(namespace)
            except NoSuchNamespaceError:
                raise ApiError(404, "NoSuchNamespaceException", f"Namespace does not exist: {'.'.join(namespace)}")

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--catalog-db", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--base-path", default="")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--page-size", type=int, default=2)
    parser.add_argument("--load-delay", type=float, default=0.0)
    parser.add_argument("--require-token", default="")
    parser.add_argument("--unavailable-first", type=int, default=0)
    args = parser.parse_args()
    catalog = SqlCatalog("default", uri=f"sqlite:///{args.catalog_db}", warehouse=f"file://{args.warehouse}")
    handler = make_handler(catalog, args.base_path, args.prefix.strip("/"), args.page_size, args.load_delay, args.require_token, args.unavailable_first)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    print(f"LISTENING http://127.0.0.1:{server.server_address[1]}{args.base_path.rstrip('/')}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
