//! The built-in fixture server as a small pokeapi, over plain HTTP from the test: the list pages
//! and their `next` links, every link absolute on the server's own address and answering, the
//! links that lead out of the fixture answering pokeapi's 404, and HTTP caching (`Cache-Control`,
//! weak `ETag`, `If-None-Match` and `304`).

use std::io::Read;
use std::time::Duration;

use fetchbench::fixture::{FixtureOptions, FixtureServer};
use flate2::read::GzDecoder;
use futures_util::{stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{Mutex, MutexGuard};

/// A fixture server without latency and its address as links name it (`http://IP:PORT`),
/// while the test holds it.
struct Fixture {
    _server: FixtureServer,
    base: String,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// Starts a fixture server once no other test of this file holds one. One at a time keeps this
/// process's memory down: a server holds about 10 MB (its rendered documents and, while it
/// renders them, its buffers), and a child the process spawns counts the process's peak as
/// its own (Linux's `ru_maxrss` keeps the peak of the address space the child was spawned
/// from), which the memory tests of reliability.rs and compression.rs bound.
async fn server() -> Fixture {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());
    let guard = ONE_AT_A_TIME.lock().await;
    let options = FixtureOptions {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        ..FixtureOptions::default()
    };
    let server = FixtureServer::start("127.0.0.1:0".parse().unwrap(), options)
        .await
        .expect("the fixture server starts");
    let base = format!("http://{}", server.addr());
    Fixture {
        _server: server,
        base,
        _one_at_a_time: guard,
    }
}

/// A plain HTTP client: no compression asked for or decoded, no cache, no redirects followed.
fn client() -> reqwest::Client {
    // reqwest is built without a TLS provider of its own; plain http needs none, but building a
    // client looks for one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn get(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_str(value).unwrap());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let answer = get(client, url, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{url}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{url}"
    );
    answer.json()
}

/// The document at `url`, asked for compressed and only its name read: this keeps the server
/// from keeping it decompressed and the test from holding it all (see `server`).
async fn get_named(client: &reqwest::Client, url: &str) -> Named {
    let answer = get(client, url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{url}");
    assert_eq!(answer.header("content-encoding"), Some("gzip"), "{url}");
    serde_json::from_reader(GzDecoder::new(&answer.body[..]))
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn assert_not_found(answer: &Answer, what: &str) {
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{what}");
    assert_eq!(answer.json(), json!({"detail": "Not found."}), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_pages_chain_through_next_and_name_all_151_pokemon_in_id_order() {
    let fixture = server().await;
    let base = &fixture.base;
    let client = client();
    let first = format!("{base}/api/v2/pokemon?offset=0&limit=20");
    let mut url = Some(first.clone());
    let mut pages = Vec::new();
    while let Some(at) = url {
        assert!(pages.len() < 8, "more than 8 pages: {at}");
        let page = get_json(&client, &at).await;
        assert_eq!(page["count"], 151, "{at}");
        url = page["next"].as_str().map(str::to_owned);
        pages.push((at, page));
    }
    assert_eq!(pages.len(), 8);
    assert_eq!(pages[0].1["previous"], Value::Null);
    assert_eq!(pages[1].1["previous"], first.as_str());
    for (at, page) in &pages[1..] {
        let previous = page["previous"].as_str().unwrap_or_else(|| panic!("{at}"));
        assert!(
            previous.starts_with(&format!("{base}/api/v2/pokemon?")),
            "{previous}"
        );
    }
    // The last page is what is left after 7 pages of 20, as the live API's `next` names it.
    assert_eq!(
        pages[7].0,
        format!("{base}/api/v2/pokemon?offset=140&limit=11")
    );
    let results: Vec<&Value> = pages
        .iter()
        .flat_map(|(_, page)| page["results"].as_array().unwrap())
        .collect();
    assert_eq!(results.len(), 151);
    for (id, entry) in (1..).zip(&results) {
        assert_eq!(
            entry["url"],
            format!("{base}/api/v2/pokemon/{id}/"),
            "{entry}"
        );
    }
    let name = |id: usize| results[id - 1]["name"].as_str().unwrap();
    assert_eq!(
        [name(1), name(25), name(151)],
        ["bulbasaur", "pikachu", "mew"]
    );

    // Each listed URL answers its pokemon (compressed, only the name read: see `get_named`).
    let client = &client;
    let mismatches: Vec<String> = stream::iter(results.iter().map(|entry| async move {
        let url = entry["url"].as_str().unwrap();
        let doc = get_named(client, url).await;
        (entry["name"] != doc.name.as_str()).then(|| format!("{url}: {}", doc.name))
    }))
    .buffer_unordered(4)
    .filter_map(|mismatch| async move { mismatch })
    .collect()
    .await;
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_reads_its_values_as_the_live_api_does() {
    let fixture = server().await;
    let base = &fixture.base;
    let client = client();
    let list = |query: &str| format!("{base}/api/v2/pokemon{query}");
    // Without values, with a trailing slash, or with values that are not numbers: the first
    // page of 20; `next` keeps the path as it was asked for.
    let default = get_json(&client, &list("/")).await;
    assert_eq!(default["results"].as_array().unwrap().len(), 20);
    assert_eq!(default["next"], list("/?offset=20&limit=20"));
    let unreadable = get_json(&client, &list("?offset=abc&limit=0")).await;
    assert_eq!(unreadable["results"], default["results"]);
    assert_eq!(unreadable["next"], list("?offset=20&limit=20"));
    // Beyond the end: no results, no next; previous steps back by the limit.
    let beyond = get_json(&client, &list("?offset=200&limit=20")).await;
    assert_eq!(beyond["count"], 151);
    assert_eq!(beyond["results"], json!([]));
    assert_eq!(beyond["next"], Value::Null);
    assert_eq!(beyond["previous"], list("?offset=180&limit=20"));
    // One page of all.
    let all = get_json(&client, &list("?limit=1000")).await;
    assert_eq!(all["results"].as_array().unwrap().len(), 151);
    assert_eq!(
        (&all["next"], &all["previous"]),
        (&Value::Null, &Value::Null)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_lead_from_a_pokemon_to_its_species_chain_and_type_and_out_to_404() {
    let fixture = server().await;
    let base = &fixture.base;
    let client = client();
    let pikachu = get_json(&client, &format!("{base}/api/v2/pokemon/25/")).await;
    let species_url = pikachu["species"]["url"].as_str().unwrap();
    assert_eq!(species_url, format!("{base}/api/v2/pokemon-species/25/"));
    let species = get_json(&client, species_url).await;
    assert_eq!(species["name"], "pikachu");
    let chain_url = species["evolution_chain"]["url"].as_str().unwrap();
    assert_eq!(chain_url, format!("{base}/api/v2/evolution-chain/10/"));
    let chain = get_json(&client, chain_url).await;
    assert_eq!(chain["chain"]["species"]["name"], "pichu");
    assert_eq!(
        chain["chain"]["evolves_to"][0]["species"]["url"],
        format!("{base}/api/v2/pokemon-species/25/")
    );
    let type_url = pikachu["types"][0]["type"]["url"].as_str().unwrap();
    assert_eq!(type_url, format!("{base}/api/v2/type/13/"));
    let electric = get_json(&client, type_url).await;
    assert_eq!(electric["name"], "electric");
    assert!(electric["pokemon"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["pokemon"]["url"] == format!("{base}/api/v2/pokemon/25/")));
    // Links out of the fixture's documents are absolute too, and answer as an unknown id.
    let ability_url = pikachu["abilities"][0]["ability"]["url"].as_str().unwrap();
    assert!(ability_url.starts_with(&format!("{base}/api/v2/ability/")));
    assert_not_found(&get(&client, ability_url, &[]).await, ability_url);
    let encounters = pikachu["location_area_encounters"].as_str().unwrap();
    assert_eq!(encounters, format!("{base}/api/v2/pokemon/25/encounters"));
    assert_not_found(&get(&client, encounters, &[]).await, encounters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_collection_answers_by_id_or_name_with_or_without_a_trailing_slash() {
    let fixture = server().await;
    let base = &fixture.base;
    let client = client();
    for (path, name) in [
        ("pokemon/pikachu", "pikachu"),
        ("pokemon/151/", "mew"),
        ("pokemon-species/1", "bulbasaur"),
        ("pokemon-species/mew/", "mew"),
        ("type/18", "fairy"),
        ("type/fire/", "fire"),
    ] {
        let doc = get_named(&client, &format!("{base}/api/v2/{path}")).await;
        assert_eq!(doc.name, name, "{path}");
    }
    for path in ["evolution-chain/1", "evolution-chain/78/"] {
        let doc = get_json(&client, &format!("{base}/api/v2/{path}")).await;
        assert!(doc["chain"]["species"]["url"].is_string(), "{path}");
    }
    for path in [
        "pokemon/152/",
        "pokemon-species/152",
        "evolution-chain/79/",
        "type/17",
        "type/shadow",
        "ability/1/",
        "pokemon-species/",
        "type",
        "pokemon/25/encounters",
        "",
    ] {
        let url = format!("{base}/api/v2/{path}");
        assert_not_found(&get(&client, &url, &[]).await, &url);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_pages_carry_cache_headers_and_a_matching_etag_gets_304() {
    let fixture = server().await;
    let base = &fixture.base;
    let client = client();
    for url in [
        format!("{base}/api/v2/pokemon/25/"),
        format!("{base}/api/v2/evolution-chain/10/"),
        format!("{base}/api/v2/pokemon?offset=20&limit=20"),
    ] {
        let first = get(&client, &url, &[]).await;
        assert_eq!(first.status, StatusCode::OK, "{url}");
        assert_eq!(
            first.header("cache-control"),
            Some("public, max-age=86400"),
            "{url}"
        );
        assert_eq!(first.header("vary"), Some("accept-encoding"), "{url}");
        let etag = first.header("etag").expect("an ETag").to_owned();
        assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");
        // The same body again: the same ETag.
        let again = get(&client, &url, &[]).await;
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        assert_eq!(again.body, first.body);

        // Compressed, the same document under the same (weak) ETag.
        let gzip = get(&client, &url, &[("accept-encoding", "gzip")]).await;
        assert_eq!(gzip.status, StatusCode::OK);
        assert_eq!(gzip.header("content-encoding"), Some("gzip"), "{url}");
        assert_eq!(gzip.header("etag"), Some(etag.as_str()));
        let mut decoded = Vec::new();
        GzDecoder::new(&gzip.body[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, first.body, "{url}");

        // If-None-Match naming it (weakly: with or without `W/`, in a list, or `*`): 304, no
        // body, the ETag and the caching headers again.
        let strong = etag.trim_start_matches("W/").to_owned();
        let listed = format!("\"other\", {etag}");
        for tag in [etag.as_str(), strong.as_str(), listed.as_str(), "*"] {
            for encoding in ["identity", "gzip"] {
                let answer = get(
                    &client,
                    &url,
                    &[("if-none-match", tag), ("accept-encoding", encoding)],
                )
                .await;
                assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{url} {tag}");
                assert!(answer.body.is_empty(), "{url} {tag}");
                assert_eq!(answer.header("etag"), Some(etag.as_str()));
                assert_eq!(
                    answer.header("cache-control"),
                    Some("public, max-age=86400")
                );
                assert_eq!(answer.header("content-encoding"), None);
            }
        }
        // Another ETag: the document.
        let stale = get(&client, &url, &[("if-none-match", "W/\"0-00000000\"")]).await;
        assert_eq!(stale.status, StatusCode::OK);
        assert_eq!(stale.body, first.body);
    }
    // A 404 is not cacheable here: no ETag to match.
    let missing = get(
        &client,
        &format!("{base}/api/v2/ability/1/"),
        &[("if-none-match", "*")],
    )
    .await;
    assert_not_found(&missing, "ability 1");
    assert_eq!(missing.header("etag"), None);
}
