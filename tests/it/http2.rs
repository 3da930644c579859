//! HTTP/2 runs on the runtime their road chooses: one worker thread for a run over TLS or
//! HTTP/2 (src/main.rs), where every part of a run (the request tasks, the connection's task,
//! decoding on the settle pool) must still get done.

use crate::common::run::{fetchbench, ids, records, stderr};
use crate::common::{Behaviour, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_run_on_one_worker_decodes_extracts_and_keeps_id_order() {
    let server = TestServer::start(Behaviour::default()).await;
    // Gzip bodies: decoded on the settle pool's threads, off the one worker.
    let url = server.route("gzip");
    let out = fetchbench(&[
        "--url",
        &url,
        "-r",
        "1..=300",
        "-m",
        "concurrent",
        "-c",
        "64",
        "--http2",
        "-f",
        "name",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = records(&out);
    assert_eq!(ids(&records), (1..=300).collect::<Vec<u64>>());
    for record in &records {
        assert_eq!(record["http_version"], "HTTP/2.0", "{record}");
        let name = format!("item-{}", record["id"]);
        assert_eq!(record["fields"]["name"], name.as_str(), "{record}");
    }
    assert_eq!(server.total_hits(), 300);
}
