//! `byline tag --html`: the page written for the committed sample with the committed default
//! model, read as text and (when Chromium is installed) rendered in a headless browser.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Tags the harbour-bridge sample, a document with markup in its text and a file that is not
/// UTF-8, writing the page to `dir/page.html`; returns its path, the page and the JSONL
/// written to stdout.
fn tag_with_html(dir: &Path) -> (PathBuf, String, String) {
    let injected = dir.join("injected.txt");
    std::fs::write(
        &injected,
        "<script>alert(\"x\")</script> Mayor Elena Kowalski said the <b>bridge</b> would open.\n",
    )
    .unwrap();
    let broken = dir.join("broken.txt");
    std::fs::write(&broken, b"Caf\xe9 <i>closed</i>\n").unwrap();
    let page = dir.join("page.html");
    let out = Command::cargo_bin("byline")
        .unwrap()
        .current_dir(repo())
        .args(["tag", "--threads", "2", "--html"])
        .arg(&page)
        .arg("data/samples/harbour-bridge.txt")
        .arg(&injected)
        .arg(&broken)
        .env_remove("BYLINE_MODEL")
        .assert()
        // The invalid UTF-8 file fails; the others are tagged.
        .code(1)
        .get_output()
        .stdout
        .clone();
    let html = std::fs::read_to_string(&page).unwrap();
    (page, html, String::from_utf8(out).unwrap())
}

/// The arrows the page's script should draw: the sum of the sections' `data-links`.
fn expected_links(html: &str) -> usize {
    html.split("data-links=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse::<usize>().unwrap())
        .sum()
}

#[test]
fn html_page_shows_entities_quotes_and_speakers() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, html, stdout) = tag_with_html(tmp.path());
    // The normal output is still written.
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    // The broken file is an error box.
    assert_eq!(html.matches("<section class=\"doc failed\">").count(), 1);
    assert!(html.contains("broken.txt</h2><div class=\"error\">error: "));
    assert!(html.starts_with("<!DOCTYPE html>"));
    for name in [
        "Elena Kowalski",
        "Portsmouth",
        "Northgate Engineering",
        "Rotterdam",
        "David Achebe",
    ] {
        assert!(html.contains(name), "no {name:?} in the page");
    }
    assert_eq!(html.matches("<section class=\"doc\"").count(), 2);
    assert_eq!(html.matches("Who said what").count(), 2);
    // The sample quotes Kowalski directly, and the page links at least that quote.
    assert!(html.contains("<span class=\"badge direct\">direct</span>"));
    assert!(html.contains("data-s=\""));
    assert!(expected_links(&html) >= 1, "no quote with a source");
    // Markup in the input is text: the only script element is the page's own.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;"));
    assert!(!html.contains("<b>"));
    // Self-contained: nothing loaded from elsewhere.
    for external in ["src=", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(external), "page loads {external}");
    }
}

/// `chromium` or `chromium-browser` on PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium with `args`, killed after a minute; returns its stdout.
fn headless(browser: &Path, profile: &Path, args: &[String]) -> String {
    let dir = format!("--user-data-dir={}", profile.display());
    let mut child = Process::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,1600",
            &dir,
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn html_page_draws_arrows_in_a_browser() {
    let Some(browser) = chromium() else {
        eprintln!("skipping: no chromium (or chromium-browser) on PATH");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (page, html, _) = tag_with_html(tmp.path());
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let profile = tmp.path().join("profile");

    let dom = headless(&browser, &profile, &["--dump-dom".into(), url.clone()]);
    // The arrows exist only once the script has run.
    assert_eq!(html.matches("class=\"link\"").count(), 0);
    let links = dom.matches("<path class=\"link\"").count();
    assert_eq!(links, expected_links(&html), "arrows drawn:\n{dom}");
    assert!(links >= 1);
    assert!(dom.contains("marker-end=\"url(#head-0)\""));

    let shot = tmp.path().join("page.png");
    headless(
        &browser,
        &profile,
        &[format!("--screenshot={}", shot.display()), url],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 10_000, "screenshot of {} bytes", png.len());
    if let Some(keep) = std::env::var_os("BYLINE_HTML_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
