#!/usr/bin/env python3
"""The lesson fetchbench comes from: aiohttp + asyncio.gather over a range of ids.

Usage: aiohttp_gather.py URL_TEMPLATE FIRST LAST_EXCLUSIVE CONCURRENCY
Fetches every id with at most CONCURRENCY connections (aiohttp's connector limit), parses each
response as JSON like the original (`await response.json()`) and keeps the `name` field. aiohttp
asks for gzip by default, as the original did.
"""
import asyncio
import sys

import aiohttp


async def fetch(session, url):
    async with session.get(url) as response:
        data = await response.json(content_type=None)
        return data.get("name")


async def main(template, first, last, concurrency):
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        names = await asyncio.gather(
            *(fetch(session, template.replace("{}", str(i))) for i in range(first, last))
        )
    return names


if __name__ == "__main__":
    template, first, last, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    names = asyncio.run(main(template, first, last, concurrency))
    print(len(names), file=sys.stderr)
