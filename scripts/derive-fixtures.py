#!/usr/bin/env python3
"""Derives fetchbench's fixture pack from the real pokeapi documents.

Input: an NDJSON.gz of the pokeapi documents (one minified document per line), by default the
project's shared copy. Output, in fixtures/:
  pokemon-1-151.json.gz     one gzip member per document (level 9, no name, mtime 0), concatenated:
                            each member is served as it is to clients that accept gzip, and
                            `zcat` of the whole file gives the documents back to back
  pokemon-1-151.index.json  [{"id", "name", "offset", "length", "size"}]: where each member is
                            (offset/length in the pack) and its decoded size
Run from the project root: python3 scripts/derive-fixtures.py [SOURCE.ndjson.gz]
"""
import gzip
import io
import json
import sys

source = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/pokeapi-pokemon-1-151.ndjson.gz"
pack = io.BytesIO()
index = []
with gzip.open(source, "rt", encoding="utf-8") as lines:
    for line in lines:
        doc = line.rstrip("\n").encode("utf-8")
        head = json.loads(doc)
        member = gzip.compress(doc, compresslevel=9, mtime=0)
        index.append({"id": head["id"], "name": head["name"], "offset": pack.tell(),
                      "length": len(member), "size": len(doc)})
        pack.write(member)
with open("fixtures/pokemon-1-151.json.gz", "wb") as out:
    out.write(pack.getvalue())
with open("fixtures/pokemon-1-151.index.json", "w") as out:
    json.dump(index, out, separators=(",", ":"))
    out.write("\n")
print(f"{len(index)} documents, {sum(e['size'] for e in index)} bytes, "
      f"{pack.tell()} bytes gzip-compressed")
