"""The queryables of a STAC source as the Python STAC tools see them.

Usage:
  stac_queryables.py api URL [COLLECTION]  pystac-client: get_queryables() / get_merged_queryables([COLLECTION])
                                           when the API conforms to FILTER, else derived from its items
                                           (search(collections=[COLLECTION], max_items=500))
  stac_queryables.py catalog PATH          pystac: derived from every item of the static catalog
  stac_queryables.py parquet PATH          rustac: derived from the items of a stac-geoparquet file
Prints {"derived": bool, "queryables": {name: {"type", "title", "enum", "minimum", "maximum"}}}, with "type"
the JSON Schema type(s) without "null" joined by "|" ("geometry" for a $ref to a GeoJSON schema), or for
derived queryables the JSON types observed ("integer" folded into "number" when both occur).
"""
import asyncio
import os
import json
import sys


def schema_types(p):
    t = p.get("type")
    types = [t] if isinstance(t, str) else list(t or [])
    if not types:
        for key in ("anyOf", "oneOf"):
            for sub in p.get(key, []):
                for s in schema_types(sub):
                    if s not in types:
                        types.append(s)
    if not types and "$ref" in p and ("geojson" in p["$ref"].lower() or "geometry" in p["$ref"].lower()):
        types = ["geometry"]
    return [t for t in types if t != "null"]


def from_schema(schema):
    out = {}
    for name, p in schema["properties"].items():
        types = schema_types(p)
        out[name] = {"type": "|".join(types) or None, "title": p.get("title"), "enum": p.get("enum"),
                     "minimum": p.get("minimum"), "maximum": p.get("maximum")}
    return out


def json_type(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def derived(properties_list):
    seen = {}
    for props in properties_list:
        for k, v in props.items():
            types = seen.setdefault(k, set())
            t = json_type(v)
            if t:
                types.add(t)
    out = {}
    for k, types in seen.items():
        if "number" in types:
            types.discard("integer")
        out[k] = {"type": "|".join(sorted(types)) or None, "title": None, "enum": None, "minimum": None, "maximum": None}
    return out


mode, source = sys.argv[1], sys.argv[2]
if mode == "api":
    from pystac_client import Client
    from pystac_client.conformance import ConformanceClasses

    collection = sys.argv[3] if len(sys.argv) > 3 else None
    client = Client.open(source)
    if client.conforms_to(ConformanceClasses.FILTER):
        schema = client.get_merged_queryables([collection]) if collection else client.get_queryables()
        result = {"derived": False, "queryables": from_schema(schema)}
    else:
        search = client.search(collections=[collection] if collection else None, max_items=500)
        result = {"derived": True, "queryables": derived(i["properties"] for i in search.items_as_dicts())}
elif mode == "catalog":
    import pystac

    catalog = pystac.Catalog.from_file(source)
    result = {"derived": True, "queryables": derived(i.properties for i in catalog.get_items(recursive=True))}
elif mode == "parquet":
    import rustac

    async def read():
        # object_store (under rustac) refuses `..` in paths.
        return await rustac.read(os.path.realpath(source))

    items = asyncio.run(read())["features"]
    result = {"derived": True, "queryables": derived(i["properties"] for i in items)}
else:
    sys.exit(f"unknown mode {mode}")
print(json.dumps(result))
