//! The inputs of `byline tag`: text files (one document each), directories of them, byline
//! JSONL (one document per line) and stdin, or CoNLL column files; read lazily, document by
//! document, each a document or the error that keeps it from being one.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use byline_core::{jsonl, Document};
use byline_infer::conll::{self, Lines};
use byline_infer::DocError;

/// How an input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// `.jsonl` files and stdin starting with `{` as JSONL, everything else as text.
    Auto,
    /// One document per file (stdin: one document).
    Text,
    /// byline JSONL: `{"id", "text"}` per line.
    Jsonl,
    /// CoNLL column files, documents split at `-DOCSTART-`.
    Conll,
}

/// One input: a file, or stdin (`None`), with how it is read.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: Option<PathBuf>,
    pub format: InputFormat,
    /// For stdin: its name and position in the file it was cut from.
    pub origin: StdinOrigin,
}

/// What stdin stands for: the name its documents' errors give (default `<stdin>`), and the line
/// number and byte offset of its first line in the file it was cut from (a slice of a larger file
/// fed through a pipe, as the Spark job does), so ids defaulting to line numbers and error
/// positions are those of the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdinOrigin {
    pub name: String,
    pub first_line: usize,
    pub first_byte: usize,
}

impl Default for StdinOrigin {
    fn default() -> Self {
        StdinOrigin {
            name: "<stdin>".into(),
            first_line: 1,
            first_byte: 0,
        }
    }
}

/// An input document, with the CoNLL lines it came from.
pub type Item = (Option<Lines>, Result<Document, DocError>);

/// The sources named on the command line, directories expanded (sorted, hidden files skipped;
/// `.jsonl` files in them as JSONL under `auto`). No path, or `-`, is stdin.
pub fn sources(
    paths: &[PathBuf],
    format: InputFormat,
    origin: &StdinOrigin,
) -> Result<Vec<Source>> {
    let stdin = || Source {
        path: None,
        format,
        origin: origin.clone(),
    };
    if paths.is_empty() {
        return Ok(vec![stdin()]);
    }
    let mut out = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            out.push(stdin());
        } else if path.is_dir() {
            expand(path, format, &mut out)?;
        } else if path.exists() {
            out.push(Source {
                path: Some(path.clone()),
                format: resolve(path, format),
                origin: StdinOrigin::default(),
            });
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    Ok(out)
}

fn resolve(path: &Path, format: InputFormat) -> InputFormat {
    match format {
        InputFormat::Auto if path.extension().is_some_and(|e| e == "jsonl") => InputFormat::Jsonl,
        InputFormat::Auto => {
            if looks_like_conll(path) {
                tracing::warn!(
                    "{} starts with -DOCSTART-, as CoNLL column files do, but is read as one \
                     plain-text document; `--format conll` reads it as CoNLL",
                    path.display()
                );
            }
            InputFormat::Text
        }
        f => f,
    }
}

/// Whether the file at `path` starts with a CoNLL `-DOCSTART-` line (a file that cannot be read
/// is not: the error comes when it is read as text).
fn looks_like_conll(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 10];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"-DOCSTART-")
}

fn expand(dir: &Path, format: InputFormat, out: &mut Vec<Source>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .and_then(|d| d.map(|e| e.map(|e| e.path())).collect())
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            expand(&path, format, out)?;
        } else {
            let format = resolve(&path, format);
            out.push(Source {
                path: Some(path),
                format,
                origin: StdinOrigin::default(),
            });
        }
    }
    Ok(())
}

/// Every document of every source, in order.
pub fn documents(sources: Vec<Source>) -> impl Iterator<Item = Item> {
    sources.into_iter().flat_map(read_source)
}

fn read_source(source: Source) -> Box<dyn Iterator<Item = Item>> {
    let name = source
        .path
        .as_ref()
        .map_or_else(|| source.origin.name.clone(), |p| p.display().to_string());
    let start = match source.path {
        None => (
            source.origin.first_line.max(1) - 1,
            source.origin.first_byte,
        ),
        Some(_) => (0, 0),
    };
    let reader: Box<dyn BufRead> = match &source.path {
        None => Box::new(BufReader::new(io::stdin())),
        Some(path) => match File::open(path) {
            Ok(file) => Box::new(BufReader::new(file)),
            Err(e) => return one(Err(DocError::new(&name, format!("{name}: {e}")))),
        },
    };
    read(reader, &name, source.format, start)
}

fn one(item: Result<Document, DocError>) -> Box<dyn Iterator<Item = Item>> {
    Box::new(std::iter::once((None, item)))
}

/// `start`: the lines and bytes before the reader's first byte in the file it stands for.
fn read(
    mut reader: Box<dyn BufRead>,
    name: &str,
    format: InputFormat,
    start: (usize, usize),
) -> Box<dyn Iterator<Item = Item>> {
    let format = match format {
        InputFormat::Auto => match first_byte(&mut reader) {
            Ok(Some(b'{')) => InputFormat::Jsonl,
            Ok(_) => InputFormat::Text,
            Err(e) => return one(Err(DocError::new(name, format!("{name}: {e}")))),
        },
        f => f,
    };
    match format {
        InputFormat::Conll => {
            Box::new(conll::Reader::new(reader, name).map(|(lines, doc)| (Some(lines), doc)))
        }
        InputFormat::Jsonl => Box::new(JsonlInput {
            reader,
            name: name.to_owned(),
            line: start.0,
            byte: start.1,
            buf: Vec::new(),
        }),
        InputFormat::Text | InputFormat::Auto => one(text(reader, name)),
    }
}

/// The first byte that is not ASCII whitespace in the reader's first buffer, without consuming
/// anything (so a text document keeps its offsets).
fn first_byte(reader: &mut Box<dyn BufRead>) -> io::Result<Option<u8>> {
    Ok(reader
        .fill_buf()?
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied())
}

/// A whole stream as one document, named by its path.
fn text(mut reader: Box<dyn BufRead>, name: &str) -> Result<Document, DocError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| DocError::new(name, format!("{name}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        DocError::new(
            name,
            format!(
                "{name}: invalid UTF-8 at byte {}",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok(Document::new(name, text))
}

/// JSONL documents line by line. A bad line is an error of its own, named by the line's `id`
/// when it can be read, else by its line number (the id such a line defaults to).
struct JsonlInput {
    reader: Box<dyn BufRead>,
    name: String,
    line: usize,
    byte: usize,
    buf: Vec<u8>,
}

impl Iterator for JsonlInput {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            self.buf.clear();
            let n = match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) => {
                    let id = (self.line + 1).to_string();
                    // Stop after an I/O error: the stream cannot be trusted further.
                    self.reader = Box::new(io::empty());
                    return Some((None, Err(DocError::new(id, format!("{}: {e}", self.name)))));
                }
            };
            self.line += 1;
            let start = self.byte;
            self.byte += n;
            let raw = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let doc = match std::str::from_utf8(raw) {
                Ok(line) => jsonl::parse_line(line, Path::new(&self.name), self.line)
                    .map_err(|e| DocError::new(self.id_of(line), e)),
                Err(e) => {
                    let lossy = String::from_utf8_lossy(raw);
                    Err(DocError::new(
                        self.id_of(&lossy),
                        format!(
                            "{}:{}: invalid UTF-8 at byte {}",
                            self.name,
                            self.line,
                            start + e.valid_up_to()
                        ),
                    ))
                }
            };
            return Some((None, doc));
        }
    }
}

impl JsonlInput {
    /// The `id` of a line that could not be read as a document, if it has one.
    fn id_of(&self, line: &str) -> String {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| self.line.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conll_files_read_as_text_are_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "dev.txt",
                "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\n",
                true,
            ),
            (
                "story.txt",
                "The mayor said the bridge would open.\n",
                false,
            ),
            ("short.txt", "-DOC", false),
        ];
        for (name, text, want) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            assert_eq!(looks_like_conll(&path), want, "{name}");
            assert_eq!(resolve(&path, InputFormat::Auto), InputFormat::Text);
        }
        assert!(!looks_like_conll(&dir.path().join("missing.txt")));
    }
}
