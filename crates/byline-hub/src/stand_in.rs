//! A stand-in for the Hugging Face hub on 127.0.0.1, for tests (feature `stand-in`): the routes
//! hf-hub's blocking client calls, able to fail on demand.
//!
//! * `GET /api/models/ORG/NAME/revision/REV`: `{"id", "sha", "siblings": [{"rfilename"}]}`.
//! * `GET /ORG/NAME/resolve/REV/FILE`: the file, with `X-Repo-Commit`, `ETag` (the sha256 of
//!   `.safetensors` and `.bin` files, as for the hub's LFS files; the git blob sha1 of others),
//!   `Content-Length`, `Accept-Ranges` and, for a `Range: bytes=A-` or `bytes=A-B` request, a 206
//!   with `Content-Range: bytes A-B/SIZE`.
//! * Unknown repositories, revisions and files are 404 with the hub's `X-Error-Code`; a
//!   repository with a token answers 401 without `Authorization` and 403 with another token.
//! * [`Fault`]s for the next requests whose path contains a given text: a status, a body cut
//!   short, a delay, wrong bytes.
//!
//! Every request line is logged ([`StandInHub::requests`]), so a test can assert that nothing
//! was asked.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha1::Digest as _;

/// What a faulty answer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Send the headers of the whole answer, then only this many bytes of the body, then close.
    Cut(usize),
    /// Wait this long before answering normally.
    Delay(Duration),
    /// Answer normally but with every byte of the body inverted.
    WrongBytes,
}

#[derive(Debug, Clone, Default)]
struct RepoState {
    /// commit -> files
    commits: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// branch or tag -> commit
    refs: HashMap<String, String>,
    token: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    repos: HashMap<String, RepoState>,
    /// (path part, fault, times left, also on `Range: bytes=0-0` probes)
    faults: Vec<(String, Fault, usize, bool)>,
    log: Vec<String>,
    counter: u64,
}

/// A running stand-in hub; stops when dropped.
#[derive(Debug)]
pub struct StandInHub {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hub's ETag of a file: sha256 for LFS-stored files, the git blob sha1 otherwise.
pub fn etag(name: &str, bytes: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    if name.ends_with(".safetensors") || name.ends_with(".bin") {
        hex(&sha2::Sha256::digest(bytes))
    } else {
        let mut h = sha1::Sha1::new();
        h.update(format!("blob {}\0", bytes.len()).as_bytes());
        h.update(bytes);
        hex(&h.finalize())
    }
}

impl StandInHub {
    /// Starts serving on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<StandInHub> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&state), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("stand-in-hub".into())
            .spawn(move || {
                while !st.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let s = Arc::clone(&s);
                            let _ = std::thread::Builder::new()
                                .name("stand-in-hub-conn".into())
                                .spawn(move || handle(stream, &s));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => break,
                    }
                }
            })?;
        Ok(StandInHub { addr, state, stop })
    }

    /// The endpoint (`http://127.0.0.1:PORT`), for `HF_ENDPOINT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a commit of `repo` holding `files`, points `revision` (a branch or tag) at it, and
    /// returns its hash.
    pub fn publish(&self, repo: &str, revision: &str, files: &[(&str, Vec<u8>)]) -> String {
        let mut state = lock(&self.state);
        state.counter += 1;
        let commit = etag("x", format!("{repo}{revision}{}", state.counter).as_bytes());
        let r = state.repos.entry(repo.to_string()).or_default();
        r.commits.insert(
            commit.clone(),
            files
                .iter()
                .map(|(n, b)| (n.to_string(), b.clone()))
                .collect(),
        );
        r.refs.insert(revision.to_string(), commit.clone());
        commit
    }

    /// Makes `repo` private: requests need `Authorization: Bearer TOKEN`.
    pub fn require_token(&self, repo: &str, token: &str) {
        if let Some(r) = lock(&self.state).repos.get_mut(repo) {
            r.token = Some(token.to_string());
        }
    }

    /// The next `times` requests whose path contains `path_part` get `fault`.
    pub fn fail(&self, path_part: &str, fault: Fault, times: usize) {
        lock(&self.state)
            .faults
            .push((path_part.to_string(), fault, times, true));
    }

    /// Like [`StandInHub::fail`], for body requests only: the `Range: bytes=0-0` probes that
    /// ask for a file's size and ETag are answered normally.
    pub fn fail_body(&self, path_part: &str, fault: Fault, times: usize) {
        lock(&self.state)
            .faults
            .push((path_part.to_string(), fault, times, false));
    }

    /// Every request so far: `METHOD PATH [Range]`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).log.clone()
    }
}

impl Drop for StandInHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Some(Request {
        method,
        path,
        headers,
    })
}

fn decode(s: &str) -> String {
    s.replace("%2F", "/").replace("%2f", "/")
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn status(status: u16, code: &str) -> Answer {
        Answer {
            status,
            headers: vec![("X-Error-Code".into(), code.into())],
            body: Vec::new(),
        }
    }
}

fn handle(mut stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_nonblocking(false);
    let Some(req) = read_request(&stream) else {
        return;
    };
    let range = req.headers.get("range").cloned();
    let fault = {
        let mut st = lock(state);
        st.log.push(format!(
            "{} {}{}",
            req.method,
            req.path,
            range.as_ref().map(|r| format!(" {r}")).unwrap_or_default()
        ));
        let probe = range.as_deref() == Some("bytes=0-0");
        let hit = st.faults.iter().position(|(part, _, n, probes)| {
            *n > 0 && req.path.contains(part.as_str()) && (*probes || !probe)
        });
        hit.map(|i| {
            st.faults[i].2 -= 1;
            st.faults[i].1.clone()
        })
    };
    if let Some(Fault::Delay(d)) = &fault {
        std::thread::sleep(*d);
    }
    let mut answer = match &fault {
        Some(Fault::Status(s)) => Answer::status(*s, "Fault"),
        _ => route(&req, range.as_deref(), &lock(state)),
    };
    if fault == Some(Fault::WrongBytes) {
        answer.body.iter_mut().for_each(|b| *b = !*b);
    }
    let reason = match answer.status {
        200 => "OK",
        206 => "Partial Content",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        answer.body.len()
    ));
    let body: &[u8] = match fault {
        Some(Fault::Cut(n)) => &answer.body[..n.min(answer.body.len())],
        _ => &answer.body,
    };
    let _ = stream.write_all(head.as_bytes());
    if req.method != "HEAD" {
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    // Drain what the client may still send so it sees a clean close.
    let _ = stream.read(&mut [0u8; 64]);
}

fn route(req: &Request, range: Option<&str>, st: &State) -> Answer {
    let path = req.path.split('?').next().unwrap_or("");
    let auth = req.headers.get("authorization").cloned();
    let allowed = |r: &RepoState| -> Option<Answer> {
        let want = r.token.as_ref()?;
        match auth.as_deref().and_then(|a| a.strip_prefix("Bearer ")) {
            None => Some(Answer::status(401, "GatedRepo")),
            Some(t) if t == want => None,
            Some(_) => Some(Answer::status(403, "GatedRepo")),
        }
    };
    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some((repo, rev)) = rest.split_once("/revision/") else {
            return Answer::status(404, "RepoNotFound");
        };
        let Some(r) = st.repos.get(repo) else {
            return Answer::status(404, "RepoNotFound");
        };
        if let Some(denied) = allowed(r) {
            return denied;
        }
        let rev = decode(rev);
        let Some((commit, files)) = lookup(r, &rev) else {
            return Answer::status(404, "RevisionNotFound");
        };
        let siblings: Vec<serde_json::Value> = files
            .keys()
            .map(|n| serde_json::json!({ "rfilename": n }))
            .collect();
        let body =
            serde_json::json!({"id": repo, "modelId": repo, "sha": commit, "siblings": siblings});
        return Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        };
    }
    // /ORG/NAME/resolve/REV/FILE
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if parts.len() != 5 || parts[2] != "resolve" {
        return Answer::status(404, "NotFound");
    }
    let repo = format!("{}/{}", parts[0], parts[1]);
    let Some(r) = st.repos.get(&repo) else {
        return Answer::status(404, "RepoNotFound");
    };
    if let Some(denied) = allowed(r) {
        return denied;
    }
    let (rev, file) = (decode(parts[3]), parts[4]);
    let Some((commit, files)) = lookup(r, &rev) else {
        return Answer::status(404, "RevisionNotFound");
    };
    let Some(bytes) = files.get(file) else {
        return Answer::status(404, "EntryNotFound");
    };
    let size = bytes.len();
    let mut headers = vec![
        ("X-Repo-Commit".to_string(), commit.clone()),
        ("ETag".to_string(), format!("\"{}\"", etag(file, bytes))),
        ("Accept-Ranges".to_string(), "bytes".to_string()),
    ];
    let Some(spec) = range.and_then(|r| r.strip_prefix("bytes=")) else {
        return Answer {
            status: 200,
            headers,
            body: bytes.clone(),
        };
    };
    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
    let start: usize = a.parse().unwrap_or(0);
    let end: usize = b.parse().map_or(size.saturating_sub(1), |e: usize| {
        e.min(size.saturating_sub(1))
    });
    if start >= size {
        headers.push(("Content-Range".into(), format!("bytes */{size}")));
        return Answer {
            status: 416,
            headers,
            body: Vec::new(),
        };
    }
    headers.push((
        "Content-Range".into(),
        format!("bytes {start}-{end}/{size}"),
    ));
    Answer {
        status: 206,
        headers,
        body: bytes[start..=end].to_vec(),
    }
}

fn lookup<'a>(r: &'a RepoState, rev: &str) -> Option<(&'a String, &'a BTreeMap<String, Vec<u8>>)> {
    let commit = r.refs.get(rev).map(String::as_str).unwrap_or(rev);
    r.commits.get_key_value(commit)
}
