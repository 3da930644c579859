#!/usr/bin/env python3
"""The aiohttp gather of aiohttp_gather.py with the retry people add when a server rate-limits:
on a 429 (or 503), sleep its Retry-After (1 s when absent) and try again, at most RETRIES times.
Every other request goes on meanwhile: nothing is shared between them.

Usage: aiohttp_polite.py URL_TEMPLATE FIRST LAST_EXCLUSIVE CONCURRENCY RETRIES OUT
Writes one line per id to OUT: `{"id": ..., "status": ...}` (the last answer's status).
"""
import asyncio
import json
import sys

import aiohttp


async def fetch(session, url, retries):
    status = None
    for _ in range(retries + 1):
        async with session.get(url) as response:
            status = response.status
            if status not in (429, 503):
                await response.json(content_type=None)
                return status
            wait = response.headers.get("Retry-After", "1")
        await asyncio.sleep(float(wait) if wait.isdigit() else 1.0)
    return status


async def main(template, first, last, concurrency, retries):
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        ids = range(first, last)
        statuses = await asyncio.gather(
            *(fetch(session, template.replace("{}", str(i)), retries) for i in ids)
        )
    return list(zip(ids, statuses))


if __name__ == "__main__":
    template, first, last, concurrency, retries, out = (
        sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    results = asyncio.run(main(template, first, last, concurrency, retries))
    with open(out, "w") as f:
        for i, status in results:
            f.write(json.dumps({"id": i, "status": status}) + "\n")
