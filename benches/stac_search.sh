#!/usr/bin/env bash
# Streaming 10,000 items from a local STAC API (`rustac serve`, 127.0.0.1) with meshlake vs pystac-client's
# item_collection(). Usage: benches/stac_search.sh [MESHLAKE_BINARY] (default: target/release/meshlake).
# Needs MESHLAKE_PYTHON (a Python with rustac and pystac-client). Prints the wall times of 3 runs each.
set -euo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/meshlake}
PY=${MESHLAKE_PYTHON:?set MESHLAKE_PYTHON}
N=${N:-10000}
LIMIT=${LIMIT:-1000}
DIR=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$PY" - "$DIR/items.json" "$N" <<'PYEOF'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
feats = []
for i in range(n):
    x, y = -10 + (i % 100) * 0.2, 35 + (i // 100) * 0.2
    feats.append({"type": "Feature", "stac_version": "1.0.0", "id": f"gen-{i:05}", "collection": "gen",
        "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + .1, y], [x + .1, y + .1], [x, y + .1], [x, y]]]},
        "bbox": [x, y, x + .1, y + .1],
        "properties": {"datetime": "2024-01-01T00:00:00Z", "eo:cloud_cover": i % 100, "platform": "sentinel-2a"},
        "assets": {b: {"href": f"https://example.com/{i}/{b}.tif", "roles": ["data"]} for b in ("B02", "B03", "B04", "B08")},
        "links": []})
json.dump({"type": "FeatureCollection", "features": feats}, open(path, "w"))
PYEOF
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$(dirname "$PY")/rustac" serve --addr "127.0.0.1:$PORT" --create-collections "$DIR/items.json" >/dev/null 2>&1 &
SERVER=$!
until curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do sleep 0.1; done
URL="http://127.0.0.1:$PORT"
for run in 1 2 3; do
  start=$(date +%s.%N)
  "$BIN" stac search "$URL" --limit "$LIMIT" --max-items "$N" --json 2>/dev/null | "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert d["returned"]=='"$N"', d["returned"]'
  end=$(date +%s.%N)
  echo "meshlake      run $run: $(echo "$end - $start" | bc) s"
done
for run in 1 2 3; do
  start=$(date +%s.%N)
  "$PY" -c 'import sys; from pystac_client import Client; ic = Client.open(sys.argv[1]).search(limit=int(sys.argv[2]), max_items=int(sys.argv[3])).item_collection(); assert len(ic) == int(sys.argv[3])' "$URL" "$LIMIT" "$N"
  end=$(date +%s.%N)
  echo "pystac-client run $run: $(echo "$end - $start" | bc) s"
done
