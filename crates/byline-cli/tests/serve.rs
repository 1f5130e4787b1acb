//! `byline serve` and `byline tag --stream` as processes, on a tiny random model saved here
//! whose entity head is forced to tag every word `B-PER`: their records equal `byline tag`'s,
//! SIGTERM ends the service with status 0, and a streamed line is answered before EOF.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assert_cmd::cargo::cargo_bin;
use assert_cmd::Command;
use serde_json::Value;

const DOCS: &[(&str, &str)] = &[
    ("d1", "Merkel met officials in Berlin."),
    ("d2", "\"We will win,\" Merkel said."),
    ("d3", "the officials"),
];

fn forced_model(dir: &Path) -> PathBuf {
    byline_model::fixtures::forced_model_dir(dir).unwrap()
}

fn jsonl(docs: &[(&str, &str)]) -> String {
    docs.iter()
        .map(|(id, text)| serde_json::json!({ "id": id, "text": text }).to_string() + "\n")
        .collect()
}

/// What `byline tag` writes for `DOCS`.
fn tag_records(model: &Path) -> Vec<Value> {
    let out = Command::cargo_bin("byline")
        .unwrap()
        .env_remove("BYLINE_MODEL")
        .args(["tag", "--threads", "1", "--model"])
        .arg(model)
        .write_stdin(jsonl(DOCS))
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `byline serve` on a free loopback port, and the address it printed.
fn start_server(model: &Path) -> (Child, SocketAddr) {
    let mut child = Process::new(cargo_bin("byline"))
        .env_remove("BYLINE_MODEL")
        .env("RUST_LOG", "warn")
        .args([
            "serve",
            "--threads",
            "1",
            "--addr",
            "127.0.0.1:0",
            "--model",
        ])
        .arg(model)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("byline serve ended before listening")
            .unwrap();
        if let Some(addr) = line.strip_prefix("byline serve: listening on http://") {
            break addr.parse().unwrap();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn post(addr: SocketAddr, body: &str) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime
        .block_on(byline_serve::client::request(
            addr,
            "POST",
            "/v1/tag",
            body.as_bytes(),
        ))
        .unwrap();
    (
        response.status,
        serde_json::from_slice(&response.body).unwrap(),
    )
}

/// Waits up to `secs` for the child to end.
fn wait(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    for _ in 0..secs * 20 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the process did not end within {secs} s");
}

#[test]
fn serve_answers_with_the_records_of_byline_tag_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let model = forced_model(dir.path());
    let expected = tag_records(&model);
    assert_eq!(expected.len(), DOCS.len());

    let (mut child, addr) = start_server(&model);
    let documents: Vec<Value> = DOCS
        .iter()
        .map(|(id, text)| serde_json::json!({ "id": id, "text": text }))
        .collect();
    let (status, batch) = post(
        addr,
        &serde_json::json!({ "documents": documents }).to_string(),
    );
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["documents"].as_array().unwrap(), &expected);
    let (status, single) = post(addr, &documents[1].to_string());
    assert_eq!(status, 200, "{single}");
    assert_eq!(single, expected[1]);

    let kill = Process::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait(&mut child, 20);
    assert!(status.success(), "byline serve ended with {status}");
}

/// The next line of the child's stdout, or a panic after `secs`.
fn line_within(rx: &mpsc::Receiver<String>, secs: u64) -> Value {
    let line = rx
        .recv_timeout(Duration::from_secs(secs))
        .expect("no output line before EOF");
    serde_json::from_str(&line).unwrap()
}

fn read_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn tag_stream_answers_each_line_before_eof() {
    let dir = tempfile::tempdir().unwrap();
    let model = forced_model(dir.path());
    let expected = tag_records(&model);
    let mut child = Process::new(cargo_bin("byline"))
        .env_remove("BYLINE_MODEL")
        .args([
            "tag",
            "--stream",
            "--max-wait-ms",
            "10",
            "--threads",
            "1",
            "--model",
        ])
        .arg(&model)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let rx = read_lines(child.stdout.take().unwrap());
    for (doc, expected) in DOCS.iter().zip(&expected) {
        // Stdin stays open: the answer must come without EOF.
        stdin.write_all(jsonl(&[*doc]).as_bytes()).unwrap();
        stdin.flush().unwrap();
        assert_eq!(&line_within(&rx, 30), expected);
    }
    // A bad line is an error record of its own; the stream goes on.
    stdin
        .write_all(b"{\"id\": \"bad\", \"text\": 3}\n")
        .unwrap();
    stdin.flush().unwrap();
    let bad = line_within(&rx, 30);
    assert_eq!(bad["id"], "bad");
    assert!(bad["error"].is_string());
    drop(stdin);
    let status = wait(&mut child, 30);
    assert_eq!(
        status.code(),
        Some(1),
        "a failed document makes the exit status 1"
    );
}

#[test]
fn tag_stream_refuses_files_and_conll() {
    for args in [
        &["--stream", "in.txt"][..],
        &["--stream", "--format", "conll"],
    ] {
        Command::cargo_bin("byline")
            .unwrap()
            .args(["tag", "--model", "nowhere"])
            .args(args)
            .assert()
            .code(2);
    }
}

#[test]
fn serve_tags_with_a_plain_token_classification_checkpoint() {
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hf/tiny-distilbert-bio");
    let expected = tag_records(&model);
    assert!(expected
        .iter()
        .any(|r| !r["entities"].as_array().unwrap().is_empty()));
    let (mut child, addr) = start_server(&model);
    let documents: Vec<Value> = DOCS
        .iter()
        .map(|(id, text)| serde_json::json!({ "id": id, "text": text }))
        .collect();
    let (status, batch) = post(
        addr,
        &serde_json::json!({ "documents": documents }).to_string(),
    );
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["documents"].as_array().unwrap(), &expected);
    let _ = child.kill();
    let _ = child.wait();
}
