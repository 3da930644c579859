#!/usr/bin/env python3
"""Derives fetchbench's fixture packs from the real pokeapi documents.

Inputs: two NDJSON.gz files, by default the project's shared copies:
  pokeapi-pokemon-1-151.ndjson.gz  one minified pokemon document per line, ids 1 to 151
  pokeapi-linked-gen1.ndjson.gz    the documents those pokemon link to (species, evolution
                                   chains, types), one per line as {"path": ..., "body": {...}}
Outputs, in fixtures/, a pack and an index per input:
  pokemon-1-151.json.gz     one gzip member per document (level 9, no name, mtime 0), concatenated:
  linked-gen1.json.gz       `zcat` of a pack gives its documents back to back
  pokemon-1-151.index.json  [{"id", "name", "offset", "length", "size"}]
  linked-gen1.index.json    [{"path", "name", "offset", "length", "size"}] ("name" null for the
                            evolution chains, which have none)
                            where each member is (offset/length in the pack) and its decoded size
A linked document is stored as the exact text of its line's "body" (its bytes as the source has
them, not re-serialized). Run from the project root:
  python3 scripts/derive-fixtures.py [POKEMON.ndjson.gz [LINKED.ndjson.gz]]
"""
import gzip
import io
import json
import sys

DATA = "../shared/data/"
pokemon_source = sys.argv[1] if len(sys.argv) > 1 else DATA + "pokeapi-pokemon-1-151.ndjson.gz"
linked_source = sys.argv[2] if len(sys.argv) > 2 else DATA + "pokeapi-linked-gen1.ndjson.gz"


def member(doc):
    return gzip.compress(doc, compresslevel=9, mtime=0)


def write(name, pack, index):
    with open(f"fixtures/{name}.json.gz", "wb") as out:
        out.write(pack.getvalue())
    with open(f"fixtures/{name}.index.json", "w") as out:
        json.dump(index, out, separators=(",", ":"))
        out.write("\n")
    print(f"{name}: {len(index)} documents, {sum(e['size'] for e in index)} bytes, "
          f"{pack.tell()} bytes gzip-compressed")


def pokemon(source):
    pack = io.BytesIO()
    index = []
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        for line in lines:
            doc = line.rstrip("\n").encode("utf-8")
            head = json.loads(doc)
            stored = member(doc)
            index.append({"id": head["id"], "name": head["name"], "offset": pack.tell(),
                          "length": len(stored), "size": len(doc)})
            pack.write(stored)
    write("pokemon-1-151", pack, index)


def linked(source):
    pack = io.BytesIO()
    index = []
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            parsed = json.loads(line)
            path = parsed["path"]
            head = '{"path":' + json.dumps(path) + ',"body":'
            if not (line.startswith(head) and line.endswith("}")):
                sys.exit(f"unexpected line layout for {path}")
            text = line[len(head):-1]
            if json.loads(text) != parsed["body"]:
                sys.exit(f"the body of {path} is not where it was looked for")
            doc = text.encode("utf-8")
            stored = member(doc)
            index.append({"path": path, "name": parsed["body"].get("name"), "offset": pack.tell(),
                          "length": len(stored), "size": len(doc)})
            pack.write(stored)
    write("linked-gen1", pack, index)


pokemon(pokemon_source)
linked(linked_source)
