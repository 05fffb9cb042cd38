"""What pystac-client gets from a STAC API: argv[1] = URL, argv[2] = JSON of search keyword arguments
(plus "conforms_to": [classes to assume], "local_lt": {"property": p, "value": v} and "local_where": a Python
expression over the item dict `i`, to filter the items in Python).
Prints {"ids": [...], "matched": n|null}."""
import json
import sys

from pystac_client import Client

url = sys.argv[1]
kwargs = json.loads(sys.argv[2])
conforms = kwargs.pop("conforms_to", [])
local_lt = kwargs.pop("local_lt", None)
local_where = kwargs.pop("local_where", None)
client = Client.open(url)
for c in conforms:
    client.add_conforms_to(c)
search = client.search(**kwargs)
items = list(search.items_as_dicts())
if local_lt:
    items = [i for i in items if i["properties"].get(local_lt["property"]) is not None
             and i["properties"][local_lt["property"]] < local_lt["value"]]
if local_where:
    items = [i for i in items if eval(local_where, {"i": i})]
print(json.dumps({"ids": [i["id"] for i in items], "matched": search.matched()}))
