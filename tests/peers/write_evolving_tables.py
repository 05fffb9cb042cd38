# Writes a Delta table (python deltalake) and an Iceberg table (pyiceberg, SQLite catalog) whose schemas
# evolve across versions; prints the versions/snapshots and their column names as JSON.
import sys, json, os
import pyarrow as pa
from deltalake import write_deltalake, DeltaTable
root = sys.argv[1]
d = os.path.join(root, "evolving_delta")
write_deltalake(d, pa.table({"id": pa.array([1, 2], pa.int32()), "name": ["a", "b"]}))
write_deltalake(d, pa.table({"id": pa.array([3], pa.int32()), "name": ["c"], "area": [1.5]}), mode="append", schema_mode="merge")
write_deltalake(d, pa.table({"id": pa.array([4, 5], pa.int64()), "area": [2.0, 3.0], "crop": ["wheat", "maize"]}), mode="overwrite", schema_mode="overwrite", partition_by=["crop"])
dt = DeltaTable(d)
out = {"delta": {"versions": dt.version(), "schemas": {}}}
for v in range(dt.version() + 1):
    t = DeltaTable(d, version=v)
    out["delta"]["schemas"][v] = [f.name for f in t.schema().fields]
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.types import StringType, DoubleType
cat = SqlCatalog("default", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/warehouse")
cat.create_namespace("evo")
t = cat.create_table("evo.parcels", schema=pa.schema([pa.field("id", pa.int32()), pa.field("name", pa.string())]))
t.append(pa.table({"id": pa.array([1, 2], pa.int32()), "name": ["a", "b"]}))
s1 = t.current_snapshot().snapshot_id
with t.update_schema() as u:
    u.add_column("area", DoubleType())
    u.update_column("id", field_type=__import__("pyiceberg.types", fromlist=["LongType"]).LongType())
    u.delete_column("name")
t = cat.load_table("evo.parcels")
t.append(pa.table({"id": pa.array([3], pa.int64()), "area": [1.5]}))
s2 = t.current_snapshot().snapshot_id
out["iceberg"] = {"s1": s1, "s2": s2, "schema": [f.name for f in t.schema().fields]}
print(json.dumps(out))
