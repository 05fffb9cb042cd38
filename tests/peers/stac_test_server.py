"""A small STAC API for resilience tests (stdlib only), on 127.0.0.1 at a free port.

Usage: stac_test_server.py MODE [N]. Prints "PORT <port>" once listening.
Modes:
  flaky   /search answers 429 N times (the first with `Retry-After: 1`, the rest without), then 200
  down    /search always answers 503
  huge    /search streams a 200 MB body (chunked, no Content-Length)
  getonly the landing page offers GET search only; POST /search answers 405; 25 items, pages of 10 by GET `next` hrefs
  evil    /search answers one item whose `next` link points at file:///etc/passwd
  queryables  (argv[3]: the recorded pystac-client responses folder) the landing page declares CQL2 filter and
          links /queryables; /queryables and /collections/landsat-c2-l2/queryables answer the recorded Planetary
          Computer queryables (pc-queryables-02.json), /collections/landsat-c2-l2 the recorded collection
          (pc-queryables-01.json, its hrefs moved to this server); other collections 404
  files   (argv[3]: a folder) GET /NAME answers the file NAME of that folder (image/png, image/jpeg by its
          extension), a missing one 404 with a plain-text body
GET /__log answers the requests seen so far: [{method, path, user_agent, t}].
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

MODE = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 3
RECORDED = sys.argv[3] if len(sys.argv) > 3 else None
PC_ROOT = "https://planetarycomputer.microsoft.com/api/stac/v1"
LOG = []
STATE = {"failures": 0}


def item(i):
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": f"item-{i:03d}", "collection": "c",
        "geometry": {"type": "Point", "coordinates": [i * 0.1, 45.0]}, "bbox": [i * 0.1, 45.0, i * 0.1, 45.0],
        "properties": {"datetime": "2024-01-01T00:00:00Z", "eo:cloud_cover": float(i)},
        "assets": {}, "links": [],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, value, headers=()):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def base(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def recorded(self, name):
        with open(f"{RECORDED}/{name}") as f:
            return json.loads(f.read().replace(PC_ROOT, self.base()))

    def landing(self):
        if MODE == "queryables":
            b = self.base()
            return {"type": "Catalog", "id": "test", "description": "test server", "stac_version": "1.0.0",
                    "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search",
                                   "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
                                   "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"],
                    "links": [{"rel": "self", "href": b + "/"}, {"rel": "data", "href": b + "/collections"},
                              {"rel": "search", "href": b + "/search", "method": "POST", "type": "application/geo+json"},
                              {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "href": b + "/queryables",
                               "type": "application/schema+json"}]}
        methods = ["GET"] if MODE == "getonly" else ["GET", "POST"]
        links = [{"rel": "self", "href": self.base() + "/"}]
        links += [{"rel": "search", "href": self.base() + "/search", "method": m, "type": "application/geo+json"} for m in methods]
        return {"type": "Catalog", "id": "test", "description": "test server", "stac_version": "1.0.0",
                "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"],
                "links": links}

    def handle_any(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urlparse(self.path)
        if url.path == "/__log":
            return self.send_json(200, LOG)
        LOG.append({"method": method, "path": url.path, "query": url.query,
                    "user_agent": self.headers.get("User-Agent", ""), "t": time.time()})
        if url.path == "/":
            return self.send_json(200, self.landing())
        if MODE == "files":
            name = url.path.lstrip("/")
            path = f"{RECORDED}/{name}"
            if "/" in name or not name or not os.path.isfile(path):
                body = f"no file {name}".encode()
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            with open(path, "rb") as f:
                body = f.read()
            kind = "image/png" if name.endswith(".png") else "image/jpeg"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if MODE == "queryables":
            if url.path in ("/queryables", "/collections/landsat-c2-l2/queryables"):
                return self.send_json(200, self.recorded("pc-queryables-02.json"))
            if url.path == "/collections/landsat-c2-l2":
                return self.send_json(200, self.recorded("pc-queryables-01.json"))
            return self.send_json(404, {"code": "NotFoundError", "description": f"No collection at {url.path}"})
        if url.path != "/search":
            return self.send_json(404, {"code": "NotFound", "description": f"no route {url.path}"})
        if MODE == "flaky":
            if STATE["failures"] < N:
                STATE["failures"] += 1
                headers = [("Retry-After", "1")] if STATE["failures"] == 1 else []
                return self.send_json(429, {"code": "TooManyRequests", "description": "slow down"}, headers)
            return self.send_json(200, {"type": "FeatureCollection", "features": [item(i) for i in range(3)], "links": []})
        if MODE == "down":
            return self.send_json(503, {"code": "Unavailable", "description": "down for maintenance"})
        if MODE == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * (1 << 20)
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (1, b"{"))
                for _ in range(200):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if MODE == "getonly":
            if method == "POST":
                return self.send_json(405, {"code": "MethodNotAllowed", "description": "use GET"})
            q = parse_qs(url.query)
            limit = int(q.get("limit", ["10"])[0])
            limit = min(limit, 10)
            start = int(q.get("start", ["0"])[0])
            feats = [item(i) for i in range(start, min(start + limit, 25))]
            links = []
            if start + limit < 25:
                links.append({"rel": "next", "href": f"/search?limit={limit}&start={start + limit}", "type": "application/geo+json"})
            return self.send_json(200, {"type": "FeatureCollection", "features": feats, "links": links, "numberMatched": 25})
        if MODE == "evil":
            return self.send_json(200, {"type": "FeatureCollection", "features": [item(0)],
                                        "links": [{"rel": "next", "href": "file:///etc/passwd"}]})
        return self.send_json(500, {"description": "unknown mode"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
