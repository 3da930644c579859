//! A received body, settled into the record's figures: decoded under the cap, fields extracted;
//! heavy bodies on threads of their own so they never hold up the network.
//!
//! Decoding and scanning a large document on the async workers would delay the reads and writes
//! of every other response; on a pool of their own, at a lower scheduling priority, they take
//! whatever CPU the network leaves (the figures are in docs/performance.md, "Why the code is
//! shaped so").

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;

use crate::engine::crawl::{CrawlRules, Found, Paging};
use crate::engine::decode::{self, DecodeError, Decoded, Encoding};
use crate::engine::fetch::failure::too_large;
use crate::engine::frontier::Place;
use crate::extract::FieldSet;
use crate::record::{ErrorKind, Failure, Record};

/// A successful response's body as it came off the wire.
#[derive(Debug)]
pub(crate) struct WireBody {
    pub(crate) encoding: Encoding,
    pub(crate) bytes: u64,
    /// Chunk by chunk as received (never copied while it arrived); empty when nothing needed it.
    pub(crate) chunks: Vec<Bytes>,
    /// The crawl depth of its document, which decides the link paths searched (0 outside one).
    pub(crate) depth: u32,
}

/// What a settled body gives the record.
#[derive(Debug)]
pub(crate) struct Settled {
    /// Decoded size.
    pub(crate) bytes: u64,
    pub(crate) fields: Vec<Value>,
    pub(crate) failure: Option<Failure>,
    /// The values at the document's link paths (a crawl's), in their order.
    pub(crate) links: Vec<Value>,
    /// Whether the document held something at the next page's path, a null included.
    pub(crate) next_held: bool,
}

/// Decodes and extracts; shared by a run's request tasks and the settling pool.
#[derive(Debug)]
pub(crate) struct Settler {
    pub(crate) fields: FieldSet,
    pub(crate) max_body: u64,
    /// In a crawl: its rules, and for each depth the fields with that level's link paths after
    /// them, so a document is parsed once for both.
    crawl: Option<(CrawlRules, Vec<FieldSet>)>,
    /// Whether a page is known to hold the next page's path: no body is searched for it again.
    next_held: AtomicBool,
}

impl Settler {
    pub(crate) fn new(fields: FieldSet, max_body: u64, rules: &CrawlRules) -> Self {
        let crawl = rules.reads_documents().then(|| {
            let by_depth = (0..=rules.last_depth())
                .map(|depth| {
                    let mut paths = rules.field_paths(depth, fields.paths());
                    paths.extend(rules.link_paths(depth));
                    FieldSet::new(paths)
                })
                .collect();
            (rules.clone(), by_depth)
        });
        Self {
            fields,
            max_body,
            crawl,
            next_held: AtomicBool::new(false),
        }
    }

    /// The paths a document at `depth` is searched for: the fields, then any links.
    fn paths_for(&self, depth: u32) -> &FieldSet {
        self.crawl
            .as_ref()
            .and_then(|(_, sets)| sets.get(usize::try_from(depth).ok()?))
            .unwrap_or(&self.fields)
    }

    /// Whether a successful body at `depth` must be kept to be searched.
    pub(crate) fn needs_body(&self, depth: u32) -> bool {
        !self.paths_for(depth).is_empty()
    }

    /// Whether settling `body` costs enough (tens of microseconds and up) to be worth a hand-off
    /// to the pool; small bodies are settled where they are.
    pub(crate) fn is_heavy(&self, body: &WireBody) -> bool {
        const HEAVY_WIRE_BYTES: u64 = 16 * 1024;
        body.encoding != Encoding::Identity
            || (self.needs_body(body.depth) && body.bytes >= HEAVY_WIRE_BYTES)
    }

    /// Nulls for every field: what a failed request records.
    pub(crate) fn nulls(&self) -> Vec<Value> {
        vec![Value::Null; self.fields.paths().len()]
    }

    /// A body that could not be settled: nulls for its fields and why.
    fn failed(&self, bytes: u64, kind: ErrorKind, message: String) -> Settled {
        Settled {
            bytes,
            fields: self.nulls(),
            failure: Some(Failure { kind, message }),
            links: Vec::new(),
            next_held: false,
        }
    }

    /// Decodes `body` (under the cap) and extracts its fields.
    pub(crate) fn settle(&self, body: &WireBody) -> Settled {
        let cap = self.max_body;
        let paths = self.paths_for(body.depth);
        let keep = !paths.is_empty();
        let decoded = match decode::decode(body.encoding, &body.chunks, cap, keep) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => Decoded {
                bytes: body.bytes,
                kept: Vec::new(),
            },
            Err(DecodeError::TooLarge) => {
                return self.failed(body.bytes, ErrorKind::Body, too_large(cap))
            }
            Err(e) => return self.failed(body.bytes, ErrorKind::Body, e.to_string()),
        };
        if !keep {
            return Settled {
                bytes: decoded.bytes,
                fields: Vec::new(),
                failure: None,
                links: Vec::new(),
                next_held: false,
            };
        }
        // Identity bodies were kept as received; decoded ones come back from the decoder.
        let joined;
        let text: &[u8] = match (body.encoding, body.chunks.as_slice()) {
            (Encoding::Identity, [single]) => single,
            (Encoding::Identity, chunks) => {
                joined = chunks.concat();
                &joined
            }
            _ => &decoded.kept,
        };
        // RFC 8259 lets a parser ignore a byte-order mark, which some servers (.NET's) send.
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        if text.iter().all(u8::is_ascii_whitespace) {
            // serde_json's "EOF while parsing a value" reads as a cut-off body; this one is empty.
            let message = "response is not JSON: the body is empty".to_owned();
            return self.failed(decoded.bytes, ErrorKind::Json, message);
        }
        match paths.extract(text) {
            Ok(mut fields) => {
                let links = fields.split_off(self.fields.paths().len().min(fields.len()));
                if let Some(message) = self.missing_list(body.depth, &fields, text) {
                    return self.failed(decoded.bytes, ErrorKind::Json, message);
                }
                Settled {
                    bytes: decoded.bytes,
                    next_held: self.next_held(body.depth, &links, text),
                    fields,
                    failure: None,
                    links,
                }
            }
            Err(e) => self.failed(decoded.bytes, ErrorKind::Json, e.to_string()),
        }
    }
}

impl Settler {
    /// Whether a page at `depth` held something at the next page's path: a value there, or a
    /// null or nothing that is the key's own (searched for in `text` only until a page has it).
    fn next_held(&self, depth: u32, links: &[Value], text: &[u8]) -> bool {
        let Some((at, path)) = self.crawl.as_ref().and_then(|(r, _)| r.next_at(depth)) else {
            return false;
        };
        if self.next_held.load(Ordering::Relaxed) {
            return true;
        }
        let held = !links.get(at).is_none_or(Value::is_null) || path.is_in(text);
        if held {
            self.next_held.store(true, Ordering::Relaxed);
        }
        held
    }

    /// Why a page of items (`--items`) has no list to make records of, when its fields found
    /// none: such a page (an error document sent with a 200) would otherwise leave no record
    /// at all. Not under `--until-empty`, where a page without its list ends the range.
    fn missing_list(&self, depth: u32, fields: &[Value], text: &[u8]) -> Option<String> {
        let (rules, _) = self.crawl.as_ref()?;
        let items = rules.items.as_ref()?;
        if !rules.lists_items(depth) || rules.stop.until_empty.is_some() {
            return None;
        }
        if !fields.first()?.is_null() {
            return None;
        }
        let found = match serde_json::from_slice::<Value>(text) {
            Ok(doc) => items.list_in(&doc).err()?,
            Err(e) => return Some(crate::extract::ExtractError::from(e).to_string()),
        };
        Some(format!(
            "--items {items}: the response holds {found} there, not a list"
        ))
    }
}

impl Settler {
    /// Whether settling `fetched` is worth a hand-off to the settling pool.
    pub(crate) fn is_heavy_to_finish(&self, fetched: &Fetched) -> bool {
        fetched.record.failure.is_none() && self.is_heavy(&fetched.body)
    }

    /// The finished record: the body decoded and its fields extracted here and now (a failed
    /// request keeps its wire size and gets nulls).
    pub(crate) fn settle_here(&self, fetched: Fetched) -> Done {
        let Fetched {
            mut record,
            body,
            place,
            paging,
        } = fetched;
        if record.failure.is_some() {
            record.fields = self.nulls();
            return Done {
                record,
                place,
                found: None,
            };
        }
        let depth = body.depth;
        self.done(record, place, paging, depth, self.settle(&body))
    }

    /// The record with its settled body, and what its document led to.
    fn done(
        &self,
        record: Box<Record>,
        place: Option<Box<Place>>,
        paging: Option<Box<Paging>>,
        depth: u32,
        mut settled: Settled,
    ) -> Done {
        let links = std::mem::take(&mut settled.links);
        let next_held = settled.next_held;
        let record = finish(record, settled);
        let found = match (&self.crawl, record.is_ok()) {
            (Some((rules, _)), true) => {
                let mut found = Found::from_values(rules, depth, links);
                found.next_held = next_held;
                if let Some(paging) = paging {
                    found.add_paging(*paging);
                }
                Some(Box::new(found))
            }
            _ => None,
        };
        Done {
            record,
            place,
            found,
        }
    }

    /// Settles `fetched` on the settling pool and hands the finished record to `deliver` there,
    /// so this worker goes on with the network meanwhile.
    pub(crate) fn settle_on_pool(
        self: &Arc<Self>,
        fetched: Fetched,
        deliver: impl FnOnce(Done) + Send + 'static,
    ) {
        let Fetched {
            record,
            body,
            place,
            paging,
        } = fetched;
        let depth = body.depth;
        let settler = Arc::clone(self);
        offload(Arc::clone(self), body, move |settled| {
            deliver(settler.done(record, place, paging, depth, settled));
        });
    }
}

/// A request's outcome before its body is settled: the record, its fields still to come.
pub(crate) struct Fetched {
    /// Boxed from here to the hand-out, so each hand-over moves a pointer, not the record.
    pub(crate) record: Box<Record>,
    pub(crate) body: WireBody,
    /// Where it sits in a crawl (None in a flat run).
    pub(crate) place: Option<Box<Place>>,
    /// What the headers said about paging (`Link`, totals), when the crawl reads them.
    pub(crate) paging: Option<Box<Paging>>,
}

/// A finished record, and in a crawl where it sits and what its document led to.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) record: Box<Record>,
    pub(crate) place: Option<Box<Place>>,
    /// None in a flat run without stop rules: a flat record's event stays small.
    pub(crate) found: Option<Box<Found>>,
}

/// The record with its settled body: decoded size, fields, and the first failure.
fn finish(mut record: Box<Record>, settled: Settled) -> Box<Record> {
    record.bytes = settled.bytes;
    record.fields = settled.fields;
    if record.failure.is_none() {
        record.failure = settled.failure;
    }
    record
}

/// Settles `body` on the settling pool and hands the result to `then` on the pool's thread (in
/// place when the pool could not start). A panic while settling becomes the record's failure.
pub(crate) fn offload(
    settler: Arc<Settler>,
    body: WireBody,
    then: impl FnOnce(Settled) + Send + 'static,
) {
    let job = move || {
        let settled = panic::catch_unwind(AssertUnwindSafe(|| settler.settle(&body)));
        then(settled.unwrap_or_else(|_| {
            let message = "decoding or field extraction failed unexpectedly".to_owned();
            settler.failed(body.bytes, ErrorKind::Json, message)
        }));
    };
    match pool() {
        Some(pool) => pool.spawn(job),
        None => job(),
    }
}

/// How far below the async workers the settling threads run: at +10 the kernel gives a worker
/// woken by the network the CPU at once, and the settling threads about a tenth of a contended
/// core, all of an idle one. (Measured on the pokeapi job, 2 cores shared with the server: +0 to
/// +19 and SCHED_IDLE were within 3 ms of each other; higher levels only risk starving extraction
/// behind other programs' work.)
#[cfg(target_os = "linux")]
const NICENESS: libc::c_int = 10;

/// One pool per process, as many threads as cores, each at a lower priority than the async
/// workers (see [`NICENESS`]). None when no thread could be started: bodies are then settled on
/// the async workers.
fn pool() -> Option<&'static rayon_core::ThreadPool> {
    static POOL: OnceLock<Option<rayon_core::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon_core::ThreadPoolBuilder::new()
            .thread_name(|i| format!("fetchbench-settle-{i}"))
            .start_handler(|_| lower_priority())
            // Jobs catch their own panics (see `offload`); nothing may take the process down.
            .panic_handler(|_| {})
            .build()
            .ok()
    })
    .as_ref()
}

/// Lowers the calling thread's scheduling priority (Linux: nice applies per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes its nice
    // value, and a failure (not permitted) leaves it as it was, which is harmless.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICENESS);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use serde_json::json;

    use super::*;
    use crate::extract::FieldPath;

    fn settler(paths: &[&str], max_body: u64) -> Arc<Settler> {
        let paths = paths.iter().map(|p| p.parse::<FieldPath>().expect("path"));
        Arc::new(Settler::new(
            FieldSet::new(paths.collect()),
            max_body,
            &CrawlRules::default(),
        ))
    }

    fn gzip_body(text: &[u8]) -> WireBody {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text).expect("compress");
        let wire = encoder.finish().expect("compress");
        WireBody {
            encoding: Encoding::Gzip,
            bytes: wire.len() as u64,
            chunks: vec![Bytes::from(wire)],
            depth: 0,
        }
    }

    /// What the pool hands back for `body`.
    fn settle_on_pool(settler: Arc<Settler>, body: WireBody) -> Settled {
        let (send, receive) = std::sync::mpsc::channel();
        offload(settler, body, move |settled| {
            let _ = send.send(settled);
        });
        receive.recv().expect("the pool hands every body back")
    }

    #[test]
    fn the_pool_settles_a_compressed_body_as_the_caller_would() {
        let settler = settler(&["name"], 1 << 20);
        let body = gzip_body(br#"{"name":"bulbasaur","moves":[1,2,3]}"#);
        assert!(settler.is_heavy(&body), "compressed bodies go to the pool");
        let inline = settler.settle(&body);
        let pooled = settle_on_pool(Arc::clone(&settler), body);
        assert_eq!(pooled.fields, vec![json!("bulbasaur")]);
        assert_eq!(
            (pooled.bytes, pooled.failure),
            (inline.bytes, inline.failure)
        );
    }

    #[test]
    fn a_failure_on_the_pool_comes_back_as_the_record_s_failure() {
        let settler = settler(&["name"], 10);
        let pooled = settle_on_pool(settler, gzip_body(br#"{"name":"a long enough name"}"#));
        let failure = pooled.failure.expect("over the cap");
        assert_eq!(failure.kind, ErrorKind::Body);
        assert_eq!(pooled.fields, vec![Value::Null]);
    }

    #[test]
    fn small_plain_bodies_are_settled_where_they_are() {
        let settler = settler(&["name"], 1 << 20);
        let small = WireBody {
            encoding: Encoding::Identity,
            bytes: 1024,
            chunks: vec![Bytes::from_static(b"{}")],
            depth: 0,
        };
        assert!(!settler.is_heavy(&small));
        let large = WireBody {
            bytes: 64 * 1024,
            ..small
        };
        assert!(settler.is_heavy(&large));
    }

    #[test]
    fn links_come_from_the_same_parse_as_the_fields() {
        let rules = CrawlRules::parse(&["results[*].url".to_owned()], Some("next")).expect("rules");
        let fields = FieldSet::new(vec!["count".parse().expect("path")]);
        let settler = Settler::new(fields, 1 << 20, &rules);
        let body = WireBody {
            encoding: Encoding::Identity,
            bytes: 0,
            chunks: vec![Bytes::from_static(
                br#"{"count":2,"next":"/p2","results":[{"url":"/a"},{"url":"/b"}]}"#,
            )],
            depth: 0,
        };
        let settled = settler.settle(&body);
        assert_eq!(settled.fields, vec![json!(2)]);
        assert_eq!(settled.links, vec![json!(["/a", "/b"]), json!("/p2")]);
        let leaf = WireBody { depth: 1, ..body };
        let settled = settler.settle(&leaf);
        assert_eq!((settled.fields.len(), settled.links.len()), (1, 0));
    }
}
