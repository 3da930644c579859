"""Scrapy's spider for the bench's crawl job (scripts/bench.py crawl): the list page -> its `next`
(page after page), each `results[].url` -> the pokemon, its `species.url` -> the species, yielding
one `{"url", "capture_rate"}` item per species.

Usage: scrapy runspider scripts/scrapy_crawl.py -a start=URL -O OUT.jsonl [-s NAME=VALUE ...]
The settings the bench passes are in bench.py (crawl_tools); everything else is Scrapy's default.
Links are followed with response.follow, so relative ones resolve against their document.
"""
import scrapy


class PokemonCrawl(scrapy.Spider):
    name = "pokemon_crawl"

    def __init__(self, start=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not start:
            raise ValueError("pass the list page: -a start=URL")
        self.start_urls = [start]

    def parse(self, response):
        """A list page: its pokemon, and the next page."""
        page = response.json()
        for result in page["results"]:
            yield response.follow(result["url"], callback=self.parse_pokemon)
        if page.get("next"):
            yield response.follow(page["next"], callback=self.parse)

    def parse_pokemon(self, response):
        yield response.follow(response.json()["species"]["url"], callback=self.parse_species)

    def parse_species(self, response):
        yield {"url": response.url, "capture_rate": response.json().get("capture_rate")}
