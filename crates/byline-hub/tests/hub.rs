//! Model references against a stand-in hub on 127.0.0.1 (nothing here touches the network):
//! downloads into the huggingface_hub cache layout, cache first, offline, revisions, and every
//! fault the issue lists, each a clear error and never a corrupt cache.

use std::path::{Path, PathBuf};
use std::time::Duration;

use byline_hub::stand_in::{etag, Fault, StandInHub};
use byline_hub::{resolve, Error, HubSettings};

const REPO: &str = "newsroom/tiny-ner";

fn weights(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// A repository with what byline reads and what it must not fetch.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("config.json", br#"{"model_type":"bert"}"#.to_vec()),
        ("tokenizer.json", br#"{"version":"1.0"}"#.to_vec()),
        (
            "tokenizer_config.json",
            br#"{"unk_token":"[UNK]"}"#.to_vec(),
        ),
        ("model.safetensors", weights(200_000)),
        ("pytorch_model.bin", weights(1000)),
        ("tf_model.h5", weights(1000)),
        ("README.md", b"# a model".to_vec()),
    ]
}

fn settings(hub: &StandInHub, home: &Path) -> HubSettings {
    HubSettings {
        cache: home.join("hub"),
        endpoint: hub.url(),
        token: None,
        offline: false,
        progress: false,
    }
}

fn downloads(hub: &StandInHub) -> Vec<String> {
    hub.requests()
        .into_iter()
        .filter(|r| r.contains("/resolve/") && !r.ends_with("bytes=0-0"))
        .collect()
}

#[test]
fn downloads_only_what_byline_reads_into_the_shared_cache_layout() {
    let hub = StandInHub::start().unwrap();
    let commit = hub.publish(REPO, "main", &files());
    let home = tempfile::tempdir().unwrap();
    let s = settings(&hub, home.path());
    let dir = resolve(REPO, &s).unwrap();

    let repo_dir = s.cache.join("models--newsroom--tiny-ner");
    assert_eq!(dir, repo_dir.join("snapshots").join(&commit));
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        commit
    );
    for (name, bytes) in files().into_iter().take(4) {
        let link = dir.join(name);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from(format!("../../blobs/{}", etag(name, &bytes))),
            "{name}"
        );
        assert_eq!(std::fs::read(&link).unwrap(), bytes, "{name}");
    }
    for name in ["pytorch_model.bin", "tf_model.h5", "README.md"] {
        assert!(!dir.join(name).exists(), "{name} was fetched");
        assert!(
            !hub.requests().iter().any(|r| r.contains(name)),
            "{name} was asked for"
        );
    }
    // Files byline would read but the repository lacks are recorded as huggingface_hub does.
    assert!(repo_dir
        .join(".no_exist")
        .join(&commit)
        .join("byline.json")
        .exists());
    assert!(!repo_dir.join("refs").join(&commit).exists());
    assert!(std::fs::read_dir(repo_dir.join("blobs"))
        .unwrap()
        .all(|e| !e.unwrap().path().to_string_lossy().ends_with(".part")));

    // Cached: the next run asks nothing.
    let before = hub.requests().len();
    assert_eq!(resolve(REPO, &s).unwrap(), dir);
    assert_eq!(hub.requests().len(), before);
}

#[test]
fn offline_reads_the_cache_and_asks_nothing() {
    let hub = StandInHub::start().unwrap();
    hub.publish(REPO, "main", &files());
    let home = tempfile::tempdir().unwrap();
    let online = settings(&hub, home.path());
    let offline = HubSettings {
        offline: true,
        ..online.clone()
    };

    let e = resolve(REPO, &offline).unwrap_err();
    assert!(matches!(e, Error::NotCached { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(REPO)
            && msg.contains("HF_HUB_OFFLINE")
            && msg.contains("huggingface-cli download"),
        "{msg}"
    );
    assert!(
        hub.requests().is_empty(),
        "offline made a request: {:?}",
        hub.requests()
    );

    let dir = resolve(REPO, &online).unwrap();
    let n = hub.requests().len();
    assert_eq!(resolve(REPO, &offline).unwrap(), dir);
    assert_eq!(hub.requests().len(), n, "offline made a request");
    drop(hub);
    assert_eq!(resolve(REPO, &offline).unwrap(), dir);
}

#[test]
fn revisions_branches_tags_and_commits() {
    let hub = StandInHub::start().unwrap();
    let main = hub.publish(REPO, "main", &files());
    let mut v1 = files();
    v1[0].1 = br#"{"model_type":"bert","v":1}"#.to_vec();
    let tagged = hub.publish(REPO, "v1.0", &v1);
    let home = tempfile::tempdir().unwrap();
    let s = settings(&hub, home.path());

    let at_tag = resolve(&format!("{REPO}@v1.0"), &s).unwrap();
    assert!(at_tag.ends_with(&tagged));
    assert!(std::fs::read_to_string(at_tag.join("config.json"))
        .unwrap()
        .contains("\"v\":1"));
    let at_commit = resolve(&format!("{REPO}@{main}"), &s).unwrap();
    assert!(at_commit.ends_with(&main));
    // A commit revision gets no ref, as in huggingface_hub; the blobs are shared.
    let repo_dir = s.cache.join("models--newsroom--tiny-ner");
    assert!(!repo_dir.join("refs").join(&main).exists());
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/v1.0")).unwrap(),
        tagged
    );

    let e = resolve(&format!("{REPO}@no-such-branch"), &s).unwrap_err();
    assert!(matches!(e, Error::UnknownRevision { .. }), "{e}");
    assert!(e.to_string().contains("no-such-branch"), "{e}");
    let e = resolve("newsroom/no-such-model", &s).unwrap_err();
    assert!(matches!(e, Error::UnknownRepo { .. }), "{e}");
    assert!(e.to_string().contains("newsroom/no-such-model"), "{e}");
}

#[test]
fn sharded_and_pytorch_checkpoints() {
    let hub = StandInHub::start().unwrap();
    let index = br#"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#;
    hub.publish(
        "org/sharded",
        "main",
        &[
            ("config.json", b"{}".to_vec()),
            ("model.safetensors.index.json", index.to_vec()),
            ("model-00001-of-00002.safetensors", weights(10)),
            ("model-00002-of-00002.safetensors", weights(20)),
            ("pytorch_model.bin", weights(30)),
        ],
    );
    hub.publish(
        "org/bin-only",
        "main",
        &[
            ("config.json", b"{}".to_vec()),
            ("pytorch_model.bin", weights(30)),
        ],
    );
    let home = tempfile::tempdir().unwrap();
    let s = settings(&hub, home.path());
    let dir = resolve("org/sharded", &s).unwrap();
    for f in [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert!(!dir.join("pytorch_model.bin").exists());
    let dir = resolve("org/bin-only", &s).unwrap();
    assert!(dir.join("pytorch_model.bin").is_file());
    // And again from the cache, with no request: the .no_exist records settle the question.
    let n = hub.requests().len();
    resolve("org/bin-only", &s).unwrap();
    resolve("org/sharded", &s).unwrap();
    assert_eq!(hub.requests().len(), n);
}

#[test]
fn private_repositories_need_the_token() {
    let hub = StandInHub::start().unwrap();
    hub.publish(REPO, "main", &files());
    hub.require_token(REPO, "hf_secret");
    let home = tempfile::tempdir().unwrap();
    let mut s = settings(&hub, home.path());

    let e = resolve(REPO, &s).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { status: 401, .. }), "{e}");
    assert!(e.to_string().contains("HF_TOKEN"), "{e}");
    s.token = Some("hf_wrong".into());
    let e = resolve(REPO, &s).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { status: 403, .. }), "{e}");
    assert!(e.to_string().contains("refused"), "{e}");
    s.token = Some("hf_secret".into());
    resolve(REPO, &s).unwrap();
}

#[test]
fn server_errors_missing_files_and_no_server() {
    let hub = StandInHub::start().unwrap();
    hub.publish(REPO, "main", &files());
    let home = tempfile::tempdir().unwrap();
    let s = settings(&hub, home.path());

    hub.fail("/api/models/", Fault::Status(500), 1);
    let e = resolve(REPO, &s).unwrap_err();
    assert!(matches!(e, Error::Server { status: 500, .. }), "{e}");
    assert!(e.to_string().contains(REPO), "{e}");

    // Listed by the repository but gone when fetched.
    hub.fail("/resolve/", Fault::Status(404), 1);
    let e = resolve(REPO, &s).unwrap_err();
    assert!(matches!(e, Error::MissingFile { .. }), "{e}");
    assert!(e.to_string().contains("config.json"), "{e}");

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let nowhere = HubSettings {
        endpoint: format!("http://{closed}"),
        cache: home.path().join("other"),
        ..s.clone()
    };
    let e = resolve(REPO, &nowhere).unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e}");
    assert!(e.to_string().contains(&closed.to_string()), "{e}");
}

#[test]
fn a_cut_download_is_never_used_and_resumes() {
    let hub = StandInHub::start().unwrap();
    let commit = hub.publish(REPO, "main", &files());
    let home = tempfile::tempdir().unwrap();
    let s = settings(&hub, home.path());
    let blob_name = etag("model.safetensors", &weights(200_000));
    let blobs = s.cache.join("models--newsroom--tiny-ner/blobs");

    // The size probes pass; the body request is cut after 50,000 bytes.
    hub.fail_body("model.safetensors", Fault::Cut(50_000), 1);
    let e = resolve(REPO, &s).unwrap_err();
    assert!(
        matches!(e, Error::Download { .. } | Error::Corrupt { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("model.safetensors"), "{e}");
    assert!(
        !blobs.join(&blob_name).exists(),
        "a truncated blob is in the cache"
    );
    let snapshot = s
        .cache
        .join("models--newsroom--tiny-ner/snapshots")
        .join(&commit);
    assert!(!snapshot.join("model.safetensors").exists());
    let part = blobs.join(format!("{blob_name}.part"));
    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert_eq!(kept, 50_000, "the partial download is kept for resuming");

    let dir = resolve(REPO, &s).unwrap();
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        weights(200_000)
    );
    let resumed = format!("bytes={kept}-");
    assert!(
        downloads(&hub).iter().any(|r| r.ends_with(&resumed)),
        "no resume from {kept}: {:?}",
        downloads(&hub)
    );
    assert!(!part.exists());
}

#[test]
fn corrupt_bytes_are_removed_not_used() {
    let hub = StandInHub::start().unwrap();
    hub.publish(REPO, "main", &files());
    let home = tempfile::tempdir().unwrap();
    let s = settings(&hub, home.path());
    let blob = s
        .cache
        .join("models--newsroom--tiny-ner/blobs")
        .join(etag("model.safetensors", &weights(200_000)));
    hub.fail_body("model.safetensors", Fault::WrongBytes, 1);
    let e = resolve(REPO, &s).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("model.safetensors"), "{e}");
    assert!(!blob.exists());
    resolve(REPO, &s).unwrap();
    assert!(blob.is_file());
}

#[test]
fn two_fetches_of_one_repository_at_once() {
    let hub = StandInHub::start().unwrap();
    hub.publish(REPO, "main", &files());
    // Slow bodies, so the two overlap.
    hub.fail_body(
        "model.safetensors",
        Fault::Delay(Duration::from_millis(300)),
        2,
    );
    let home = tempfile::tempdir().unwrap();
    let s = settings(&hub, home.path());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || resolve(REPO, &s))
        })
        .collect();
    let dirs: Vec<PathBuf> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert_eq!(dirs[0], dirs[1]);
    assert_eq!(
        std::fs::read(dirs[0].join("model.safetensors")).unwrap(),
        weights(200_000)
    );
}

#[test]
fn a_cache_laid_out_by_huggingface_hub_is_read_without_a_request() {
    // What `huggingface_hub.snapshot_download` leaves: refs/main, blobs named by ETag,
    // snapshots/<commit>/ of relative symlinks, and no way to reach any server.
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("hub");
    let repo_dir = cache.join("models--dslim--bert-base-NER");
    let commit = "d1a3e8f13f8c3566299d95fcfc9a8d2382a9affc";
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::write(repo_dir.join("refs/main"), commit).unwrap();
    std::fs::create_dir_all(repo_dir.join("blobs")).unwrap();
    std::fs::create_dir_all(repo_dir.join("snapshots").join(commit)).unwrap();
    let all = [
        ("config.json", b"{}".to_vec()),
        ("tokenizer.json", b"{}".to_vec()),
        ("tokenizer_config.json", b"{}".to_vec()),
        ("special_tokens_map.json", b"{}".to_vec()),
        ("model.safetensors", weights(100)),
        ("vocab.txt", b"[PAD]".to_vec()),
    ];
    for (name, bytes) in &all {
        let tag = etag(name, bytes);
        std::fs::write(repo_dir.join("blobs").join(&tag), bytes).unwrap();
        std::os::unix::fs::symlink(
            format!("../../blobs/{tag}"),
            repo_dir.join("snapshots").join(commit).join(name),
        )
        .unwrap();
    }
    std::fs::create_dir_all(repo_dir.join(".no_exist").join(commit)).unwrap();
    std::fs::write(
        repo_dir.join(".no_exist").join(commit).join("byline.json"),
        "",
    )
    .unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let s = HubSettings {
        cache,
        endpoint: format!("http://{closed}"),
        token: None,
        offline: false,
        progress: false,
    };
    let dir = resolve("dslim/bert-base-NER", &s).unwrap();
    assert_eq!(dir, repo_dir.join("snapshots").join(commit));
    let dir = resolve(&format!("dslim/bert-base-NER@{commit}"), &s).unwrap();
    assert!(dir.join("model.safetensors").is_file());
}

#[test]
fn paths_win_over_hub_ids_and_malformed_ids_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("org").join("name");
    std::fs::create_dir_all(&local).unwrap();
    let s = HubSettings {
        cache: dir.path().join("hub"),
        endpoint: "http://127.0.0.1:9".into(),
        token: None,
        offline: true,
        progress: false,
    };
    assert_eq!(resolve(local.to_str().unwrap(), &s).unwrap(), local);
    assert_eq!(
        resolve("./org/name", &s).unwrap(),
        PathBuf::from("./org/name")
    );
    let e = resolve("org/name/extra", &s).unwrap_err().to_string();
    assert!(
        e.contains("org/name/extra") && e.contains("ORG/NAME"),
        "{e}"
    );
}

#[test]
fn a_mistyped_local_path_says_the_folder_is_missing() {
    // Run from a folder holding `models/`: `models/typo` is no folder, so it is read as a hub
    // id, and the error says both.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("models/real")).unwrap();
    let s = HubSettings {
        cache: dir.path().join("hub"),
        endpoint: "http://127.0.0.1:9".into(),
        token: None,
        offline: true,
        progress: false,
    };
    let here = std::env::current_dir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let e = resolve("models/typo", &s)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    std::env::set_current_dir(here).unwrap();
    assert!(
        e.contains("no such folder") && e.contains("models/typo"),
        "{e}"
    );
}
