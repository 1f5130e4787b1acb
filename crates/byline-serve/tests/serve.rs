//! The service over a tiny random model on a loopback port: endpoints, each error status,
//! batching of concurrent requests, clients that leave, and shutdown.

mod common;

use std::time::Duration;

use byline_serve::{BatchLimits, Config};
use common::{json, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn config(max_wait_ms: u64) -> Config {
    Config {
        limits: BatchLimits {
            max_words: 100_000,
            max_wait: Duration::from_millis(max_wait_ms),
        },
        max_body_bytes: 4096,
        max_documents: 4,
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_both_forms_and_serves_health_metrics_and_openapi() {
    let server = Server::start(config(1)).await;
    let single = server
        .post(br#"{"text": "Merkel met officials in Berlin."}"#)
        .await;
    assert_eq!(single.status, 200, "{}", single.text());
    assert_eq!(single.header("content-type"), Some("application/json"));
    let record = json(&single);
    assert_eq!(record["id"], "1");
    assert_eq!(record["text"], "Merkel met officials in Berlin.");
    // The forced head makes every word an entity.
    assert_eq!(record["entities"].as_array().unwrap().len(), 6);

    let batch = server
        .post(br#"{"documents": [{"id": "a", "text": "we will win"}, {"id": "b", "text": ""}]}"#)
        .await;
    assert_eq!(batch.status, 200, "{}", batch.text());
    let docs = json(&batch)["documents"].as_array().unwrap().clone();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["id"], "a");
    assert_eq!(docs[0]["entities"].as_array().unwrap().len(), 3);
    assert_eq!(docs[1]["id"], "b");

    let health = server.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(json(&health)["status"], "ok");

    let openapi = server.get("/openapi.json").await;
    assert_eq!(openapi.status, 200);
    let openapi = json(&openapi);
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/v1/tag", "/healthz", "/metrics", "/openapi.json"] {
        assert!(openapi["paths"][path].is_object(), "{path}");
    }

    let metrics = server.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text();
    for line in [
        "# TYPE byline_requests_total counter",
        "byline_requests_total{status=\"200\"} 2",
        "byline_documents_total 3",
        "byline_words_total 9",
        "# TYPE byline_queue_depth gauge",
        "byline_queue_depth 0",
        "# TYPE byline_batch_documents histogram",
        "byline_batch_documents_count 2",
        "# TYPE byline_request_duration_seconds histogram",
        "byline_request_duration_seconds_count 2",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    let missing = server.get("/nowhere").await;
    assert_eq!(missing.status, 404);
    assert!(json(&missing)["error"].is_string());
}

/// Each case: a body and the status it is answered with; every error is `{"error": ...}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bad_requests_with_json_errors() {
    let server = Server::start(config(1)).await;
    let big = format!(r#"{{"text": "{}"}}"#, "a ".repeat(4000));
    let cases: Vec<(&str, Vec<u8>, u16)> =
        vec![
        ("malformed JSON", b"{\"text\": ".to_vec(), 400),
        ("invalid UTF-8", b"{\"text\": \"caf\xe9\"}".to_vec(), 400),
        ("missing text", br#"{"id": "x"}"#.to_vec(), 400),
        ("a document without text", br#"{"documents": [{"id": "x"}]}"#.to_vec(), 400),
        ("too large", big.into_bytes(), 413),
        ("empty documents", br#"{"documents": []}"#.to_vec(), 422),
        (
            "too many documents",
            br#"{"documents": [{"text":"a"},{"text":"b"},{"text":"c"},{"text":"d"},{"text":"e"}]}"#
                .to_vec(),
            422,
        ),
        ("non-string id", br#"{"documents": [{"id": 3, "text": "a"}]}"#.to_vec(), 422),
    ];
    for (what, body, status) in cases {
        let response = server.post(&body).await;
        assert_eq!(response.status, status, "{what}: {}", response.text());
        assert!(json(&response)["error"].is_string(), "{what}");
    }
    // None of them reached the model.
    assert_eq!(server.metric("byline_documents_total").await, 0.0);
    assert_eq!(
        server.metric("byline_requests_total{status=\"422\"}").await,
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_503_with_retry_after() {
    // One request may wait; the first waits 1.5 s for others to join its batch.
    let server = Server::start(Config {
        queue: 1,
        ..config(1500)
    })
    .await;
    let addr = server.addr;
    let first = tokio::spawn(async move {
        byline_serve::client::request(addr, "POST", "/v1/tag", br#"{"text": "we will win"}"#)
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = server.post(br#"{"text": "the officials"}"#).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "Retry-After: {retry}");
    assert!(json(&refused)["error"].as_str().unwrap().contains("queue"));
    assert_eq!(first.await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_is_504() {
    let server = Server::start(Config {
        timeout: Duration::from_millis(100),
        ..config(1000)
    })
    .await;
    let response = server.post(br#"{"text": "we will win"}"#).await;
    assert_eq!(response.status, 504, "{}", response.text());
    assert!(json(&response)["error"].is_string());
    // The abandoned request is not tagged; the server goes on serving.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(server.metric("byline_documents_total").await, 0.0);
    assert_eq!(
        server.metric("byline_requests_total{status=\"504\"}").await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_tagged_in_one_batch() {
    let server = Server::start(config(1000)).await;
    let addr = server.addr;
    let requests: Vec<_> = ["we will win", "Merkel said", "the officials", "in Berlin"]
        .into_iter()
        .map(|text| {
            tokio::spawn(async move {
                let body = serde_json::json!({ "id": text, "text": text }).to_string();
                byline_serve::client::request(addr, "POST", "/v1/tag", body.as_bytes())
                    .await
                    .unwrap()
            })
        })
        .collect();
    for (request, text) in
        requests
            .into_iter()
            .zip(["we will win", "Merkel said", "the officials", "in Berlin"])
    {
        let response = request.await.unwrap();
        assert_eq!(response.status, 200);
        // Each request gets its own document back.
        assert_eq!(json(&response)["id"], text);
    }
    let batches = server.metric("byline_batch_documents_count").await;
    let single = server
        .metric("byline_batch_documents_bucket{le=\"1\"}")
        .await;
    assert_eq!(server.metric("byline_batch_documents_sum").await, 4.0);
    assert!(batches < 4.0, "{batches} batches for 4 documents");
    assert!(
        single < batches || batches == 1.0,
        "no batch held more than one document"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_leave_mid_request_do_not_stop_the_server() {
    let server = Server::start(config(200)).await;
    // Half a body, then gone.
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"text\":")
        .await
        .unwrap();
    drop(half);
    // A whole request, gone before its answer (it waits 200 ms for a batch).
    let mut whole = TcpStream::connect(server.addr).await.unwrap();
    let body = br#"{"text": "we will win"}"#;
    whole
        .write_all(
            format!(
                "POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    whole.write_all(body).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(whole);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let response = server.post(br#"{"text": "Merkel said"}"#).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(server.metric("byline_queue_depth").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_what_is_queued_then_refuses() {
    let mut server = Server::start(config(300)).await;
    let addr = server.addr;
    let queued = tokio::spawn(async move {
        byline_serve::client::request(addr, "POST", "/v1/tag", br#"{"text": "we will win"}"#).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown();
    // A request during shutdown is refused or answered, never left hanging.
    let during = tokio::time::timeout(
        Duration::from_secs(10),
        byline_serve::client::request(addr, "POST", "/v1/tag", br#"{"text": "in Berlin"}"#),
    )
    .await
    .expect("a request during shutdown hung");
    if let Ok(response) = during {
        assert!([200, 503].contains(&response.status), "{}", response.text());
    }
    let queued = tokio::time::timeout(Duration::from_secs(10), queued)
        .await
        .expect("the queued request hung")
        .unwrap()
        .expect("the queued request was dropped");
    assert_eq!(queued.status, 200, "{}", queued.text());
    tokio::time::timeout(Duration::from_secs(10), server.handle)
        .await
        .expect("the server did not stop")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}
