#!/usr/bin/env python3
"""The seed's aiohttp approach (scripts/aiohttp_gather.py) extended to the crawl job, done the
straightforward way, not as an optimised crawler.

Usage: aiohttp_crawl.py START_URL CONCURRENCY OUT_FILE
1. the list pages one by one, following each page's `next` until it is null;
2. the pokemon of all pages at once: asyncio.gather over every `results[].url`;
3. the species of all pokemon at once: asyncio.gather over every `species.url`;
all through one ClientSession whose TCPConnector(limit=CONCURRENCY) bounds the connections. Each
response is parsed as JSON like the original (`await response.json()`); a relative link is resolved
against the document it came from. Writes one JSON line per species, `{"url", "capture_rate"}`, to
OUT_FILE and the count to stderr. aiohttp asks for gzip by default, as the original did.
"""
import asyncio
import json
import sys
from urllib.parse import urljoin

import aiohttp


async def fetch(session, url):
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json(content_type=None)


async def main(start, concurrency):
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        pokemon_urls, url = [], start
        while url:
            page = await fetch(session, url)
            pokemon_urls += [urljoin(url, r["url"]) for r in page["results"]]
            url = urljoin(url, page["next"]) if page.get("next") else None
        pokemon = await asyncio.gather(*(fetch(session, u) for u in pokemon_urls))
        species_urls = [urljoin(u, p["species"]["url"]) for u, p in zip(pokemon_urls, pokemon)]
        species = await asyncio.gather(*(fetch(session, u) for u in species_urls))
    return [{"url": u, "capture_rate": s.get("capture_rate")} for u, s in zip(species_urls, species)]


if __name__ == "__main__":
    start, concurrency, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    records = asyncio.run(main(start, concurrency))
    with open(out, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    print(len(records), file=sys.stderr)
