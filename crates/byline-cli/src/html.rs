//! `byline tag --html`: one self-contained HTML page for the documents of a run.
//!
//! Each document's text is split at every span boundary (entities, quote contents, cues,
//! sources; they may overlap or nest), and each piece becomes one `<span>` carrying the marks
//! that cover it: entity type as a class, quote indices as `data-c` (content), `data-k` (cue) and
//! `data-s` (source). A little inline script draws, for each quote with a source, an SVG arrow
//! from the quote to its speaker, from the pieces' positions (again at every resize). Beside the
//! text, a list "who said what" groups the quotes by speaker. All text is escaped; the page
//! loads nothing from elsewhere.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};

use byline_core::{quote, Attribution, Document, Span};
use byline_infer::{DocError, Tagged};

/// What the page keeps of a document: the tagged document without its tokens and sentences
/// (the page does not need them), or why it failed.
pub(crate) fn keep(result: &Result<Tagged, DocError>) -> Result<Tagged, DocError> {
    let tagged = result.as_ref().map_err(Clone::clone)?;
    let doc = &tagged.document;
    Ok(Tagged {
        document: Document {
            id: doc.id.clone(),
            text: doc.text.clone(),
            tokens: Vec::new(),
            sentences: Vec::new(),
            entities: doc.entities.clone(),
            attributions: doc.attributions.clone(),
        },
        source_entities: tagged.source_entities.clone(),
    })
}

/// Writes the page for `docs` (in order; a failed document shows as an error box).
pub(crate) fn write_page(out: &mut dyn Write, docs: &[Result<Tagged, DocError>]) -> io::Result<()> {
    let failed = docs.iter().filter(|d| d.is_err()).count();
    let mut summary = format!("{} document(s)", docs.len());
    if failed > 0 {
        let _ = write!(summary, ", {failed} failed");
    }
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>byline: {summary}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>byline</h1><p class=\"summary\">{summary}</p>{LEGEND}</header>\n"
    )?;
    for (number, doc) in docs.iter().enumerate() {
        match doc {
            Ok(tagged) => out.write_all(document(number, tagged).as_bytes())?,
            Err(e) => writeln!(
                out,
                "<section class=\"doc failed\"><h2>{}</h2><div class=\"error\">error: {}</div></section>",
                escape(&e.id),
                escape(&e.message)
            )?,
        }
    }
    write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n")
}

/// One document's section: heading, marked text with its (empty) arrow layer, side list.
fn document(number: usize, tagged: &Tagged) -> String {
    let doc = &tagged.document;
    let links = doc.attributions.iter().filter(|a| linkable(doc, a)).count();
    let mut html = String::with_capacity(doc.text.len() * 3 + 1024);
    let _ = write!(
        html,
        "<section class=\"doc\" id=\"doc-{number}\" data-links=\"{links}\">\n\
         <h2>{}</h2><p class=\"counts\">{} entities, {} quotes</p>\n\
         <div class=\"body\">\n<div class=\"text-wrap\"><svg class=\"arrows\" aria-hidden=\"true\">\
         <defs><marker id=\"head-{number}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <polygon points=\"0,0 10,5 0,10\"/></marker></defs></svg>\n<div class=\"text\">",
        escape(&doc.id),
        doc.entities.len(),
        doc.attributions.len()
    );
    marked_text(&mut html, doc);
    html.push_str("</div></div>\n");
    who_said_what(&mut html, tagged);
    html.push_str("</div>\n</section>\n");
    html
}

/// Whether a quote gets an arrow: it has a content and a source, both with a valid piece.
fn linkable(doc: &Document, a: &Attribution) -> bool {
    let valid = |pieces: &[Span]| pieces.iter().any(|s| valid_span(&doc.text, *s));
    valid(&a.content.pieces) && a.source.as_ref().is_some_and(|s| valid(&s.pieces))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Entity,
    Content,
    Cue,
    Source,
}

/// One span to mark: what it is, the index of its entity or quote, where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    kind: Kind,
    index: usize,
    span: Span,
}

/// Not empty, inside the text, on character boundaries: a span the page can mark.
fn valid_span(text: &str, span: Span) -> bool {
    span.start < span.end
        && span.end <= text.len()
        && text.is_char_boundary(span.start)
        && text.is_char_boundary(span.end)
}

/// Every markable span of `doc`: entities, then each quote's content, cue and source pieces.
fn marks(doc: &Document) -> Vec<Mark> {
    let mut marks: Vec<Mark> = doc
        .entities
        .iter()
        .enumerate()
        .map(|(index, e)| Mark {
            kind: Kind::Entity,
            index,
            span: e.span,
        })
        .collect();
    for (index, a) in doc.attributions.iter().enumerate() {
        let parts = [
            (Kind::Content, Some(&a.content)),
            (Kind::Cue, a.cue.as_ref()),
            (Kind::Source, a.source.as_ref()),
        ];
        for (kind, mention) in parts {
            for &span in mention.map_or(&[][..], |m| &m.pieces[..]) {
                marks.push(Mark { kind, index, span });
            }
        }
    }
    marks.retain(|m| valid_span(&doc.text, m.span));
    marks
}

/// The text cut at every mark boundary: each piece with the indices (into `marks`, ascending)
/// of the marks covering it. The pieces tile the whole text.
fn segments(text: &str, marks: &[Mark]) -> Vec<(Span, Vec<usize>)> {
    let mut cuts: Vec<usize> = marks
        .iter()
        .flat_map(|m| [m.span.start, m.span.end])
        .chain([0, text.len()])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut starts: Vec<usize> = (0..marks.len()).collect();
    starts.sort_by_key(|&i| marks[i].span.start);
    let mut next_start = starts.into_iter().peekable();
    let mut active: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::with_capacity(cuts.len());
    for pair in cuts.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        active.retain(|&i| marks[i].span.end > from);
        while let Some(&i) = next_start.peek() {
            if marks[i].span.start > from {
                break;
            }
            active.insert(i);
            next_start.next();
        }
        out.push((Span::new(from, to), active.iter().copied().collect()));
    }
    out
}

/// The entity colour class of a label: the CoNLL types, or `other`.
fn entity_class(label: &str) -> &'static str {
    match label {
        "PER" => "per",
        "ORG" => "org",
        "LOC" => "loc",
        "MISC" => "misc",
        _ => "other",
    }
}

/// The document's text as escaped HTML, each marked piece in a `<span>`.
fn marked_text(html: &mut String, doc: &Document) {
    let marks = marks(doc);
    for (span, covering) in segments(&doc.text, &marks) {
        let text = escape(span.slice(&doc.text).unwrap_or(""));
        if covering.is_empty() {
            html.push_str(&text);
            continue;
        }
        let mut classes = Vec::new();
        let mut title = String::new();
        let mut lists: [(Kind, &str, Vec<String>); 3] = [
            (Kind::Content, "c", Vec::new()),
            (Kind::Cue, "k", Vec::new()),
            (Kind::Source, "s", Vec::new()),
        ];
        for mark in covering.iter().map(|&i| marks[i]) {
            if mark.kind == Kind::Entity {
                let entity = &doc.entities[mark.index];
                classes.retain(|c: &String| !c.starts_with("e-"));
                classes.push(format!("e-{}", entity_class(&entity.label)));
                title = match entity.score {
                    Some(score) => format!("{} {score:.2}", entity.label),
                    None => entity.label.clone(),
                };
                continue;
            }
            if let Some((_, _, list)) = lists.iter_mut().find(|(k, _, _)| *k == mark.kind) {
                let index = mark.index.to_string();
                if !list.contains(&index) {
                    list.push(index);
                }
            }
        }
        for (_, class, list) in &lists {
            if !list.is_empty() {
                classes.push((*class).to_owned());
            }
        }
        let _ = write!(html, "<span class=\"{}\"", classes.join(" "));
        for (_, attr, list) in &lists {
            if !list.is_empty() {
                let _ = write!(html, " data-{attr}=\"{}\"", list.join(" "));
            }
        }
        if !title.is_empty() {
            let _ = write!(html, " title=\"{}\"", escape(&title));
        }
        let _ = write!(html, ">{text}</span>");
    }
}

/// A speaker's name, and its entity type when the source names an entity.
type Speaker<'a> = (String, Option<&'a str>);

/// Who a quote's speaker is, for the side list: the name the linked entity goes by in the
/// document ([`byline_core::speaker::canonical_names`]: "Kowalski" and "Elena Kowalski" are
/// one speaker) and its type, else the source's text, else unknown (`None`).
fn speaker<'a>(tagged: &'a Tagged, names: &[String], q: usize) -> Option<Speaker<'a>> {
    let doc = &tagged.document;
    let entity = tagged
        .source_entities
        .get(q)
        .copied()
        .flatten()
        .and_then(|i| Some((names.get(i)?, doc.entities.get(i)?.label.as_str())));
    if let Some((name, label)) = entity {
        return Some((name.clone(), Some(label)));
    }
    let source = doc.attributions.get(q)?.source.as_ref()?.text(&doc.text)?;
    (!source.trim().is_empty()).then_some((source, None))
}

/// At most `max` characters of `text` (whitespace runs folded), with `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match folded.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", folded[..cut].trim_end()),
        None => folded,
    }
}

/// The side list: speakers in order of their first quote, each with its quotes.
fn who_said_what(html: &mut String, tagged: &Tagged) {
    let doc = &tagged.document;
    // (speaker, its quotes, the other ways its sources name it)
    let mut groups: Vec<(Option<Speaker<'_>>, Vec<usize>, Vec<String>)> = Vec::new();
    let names = byline_core::speaker::canonical_names(doc);
    for (q, a) in doc.attributions.iter().enumerate() {
        let who = speaker(tagged, &names, q);
        let alias = a
            .source
            .as_ref()
            .and_then(|s| s.text(&doc.text))
            .map(|s| shorten(&s, 60))
            .filter(|s| who.as_ref().is_some_and(|(name, _)| name != s));
        let at = match groups.iter().position(|(w, _, _)| *w == who) {
            Some(at) => at,
            None => {
                groups.push((who, Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        let (_, quotes, aliases) = &mut groups[at];
        quotes.push(q);
        if let Some(alias) = alias.filter(|a| !aliases.contains(a)) {
            aliases.push(alias);
        }
    }
    html.push_str("<aside class=\"who\"><h3>Who said what</h3>\n");
    if groups.is_empty() {
        html.push_str("<p class=\"none\">no quotes found</p>\n");
    }
    for (who, quotes, aliases) in &groups {
        html.push_str("<div class=\"speaker\">");
        match who {
            Some((name, Some(label))) => {
                let _ = write!(
                    html,
                    "<span class=\"name e-{}\">{}</span> <span class=\"type\">{}</span>",
                    entity_class(label),
                    escape(name),
                    escape(label)
                );
            }
            Some((name, None)) => {
                let _ = write!(html, "<span class=\"name\">{}</span>", escape(name));
            }
            None => html.push_str("<span class=\"name unknown\">unknown</span>"),
        }
        if !aliases.is_empty() {
            let aliases: Vec<String> = aliases
                .iter()
                .map(|a| format!("\u{201C}{}\u{201D}", escape(a)))
                .collect();
            let _ = write!(html, " <span class=\"as\">as {}</span>", aliases.join(", "));
        }
        html.push_str("<ul>");
        for &q in quotes {
            let a = &doc.attributions[q];
            let content = a.content.text(&doc.text).unwrap_or_default();
            let kind = quote::QuoteKind::of(&content).as_str();
            let cue = a
                .cue
                .as_ref()
                .and_then(|c| c.text(&doc.text))
                .map_or_else(String::new, |c| {
                    format!(" <span class=\"cue\">({})</span>", escape(&shorten(&c, 40)))
                });
            let _ = write!(
                html,
                "<li data-q=\"{q}\"><span class=\"badge {kind}\">{kind}</span> {}{cue}</li>",
                escape(&shorten(&content, 160))
            );
        }
        html.push_str("</ul></div>\n");
    }
    html.push_str("</aside>\n");
}

/// `text` with `& < > " '` as character references: inert in content and in quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const LEGEND: &str = "<p class=\"legend\">\
<span class=\"e-per\">PER</span> <span class=\"e-org\">ORG</span> \
<span class=\"e-loc\">LOC</span> <span class=\"e-misc\">MISC</span> \
<span class=\"e-other\">other</span> &nbsp; <span class=\"c\">quote</span> \
<span class=\"k\">cue</span> <span class=\"s\">source</span> \
<span class=\"arrow-key\">&#x2192; quote to its speaker</span></p>";

const STYLE: &str = r#"
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:0 24px 40px;color:#222;background:#fafafa}
header{border-bottom:1px solid #ddd;margin-bottom:8px}
h1{margin:16px 0 2px;font-size:22px}
.summary{margin:0;color:#666}
.legend{font-size:14px}
.legend span{padding:1px 5px;border-radius:3px;margin-right:2px}
.doc{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:4px 20px 16px;margin:16px 0}
.doc h2{font-size:18px;margin:12px 0 0;word-break:break-all}
.counts{margin:0 0 6px;color:#777;font-size:13px}
.body{display:flex;gap:28px;align-items:flex-start}
.text-wrap{position:relative;flex:1 1 62%;min-width:0}
.text{white-space:pre-wrap;overflow-wrap:anywhere;padding-top:30px;line-height:2.1;position:relative;z-index:1}
svg.arrows{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none;overflow:visible;z-index:2}
svg.arrows path{fill:none;stroke:#7b4bc4;stroke-width:1.6;opacity:.75}
svg.arrows polygon{fill:#7b4bc4}
svg.arrows path.hl{stroke-width:3;opacity:1}
.e-per{background:#ffd5d2}
.e-org{background:#cfe2ff}
.e-loc{background:#d3f2cb}
.e-misc{background:#ffe3b3}
.e-other{background:#e4e4e4}
.text .e-per,.text .e-org,.text .e-loc,.text .e-misc,.text .e-other{border-radius:2px}
.c{background-color:#fff6c4;border-bottom:2px solid #d9a600}
.text .c.e-per{background:#ffd5d2}.text .c.e-org{background:#cfe2ff}.text .c.e-loc{background:#d3f2cb}.text .c.e-misc{background:#ffe3b3}
.k{font-style:italic;text-decoration:underline dotted #1c8c5a 2px;text-underline-offset:3px;color:#11633f}
.s{font-weight:600;box-shadow:inset 0 -3px 0 #7b4bc4}
.hl{outline:2px solid #7b4bc4;outline-offset:1px}
.arrow-key{color:#7b4bc4}
aside.who{flex:0 0 34%;font-size:14px;border-left:1px solid #eee;padding-left:16px}
aside.who h3{margin:8px 0;font-size:15px}
.speaker{margin-bottom:10px}
.speaker .name{font-weight:600;padding:0 4px;border-radius:3px}
.speaker .type{color:#888;font-size:12px}
.speaker .as{color:#666;font-size:13px}
.speaker .unknown{font-style:italic;color:#777}
.speaker ul{margin:4px 0 0;padding-left:18px}
.speaker li{margin:3px 0;cursor:default}
.speaker li.hl{outline:none;background:#f1eafc}
.badge{font-size:11px;border-radius:3px;padding:0 4px;color:#fff}
.badge.direct{background:#b58900}
.badge.indirect{background:#999}
.badge.mixed{background:#6c71c4}
.cue{color:#11633f;font-style:italic}
.none{color:#777}
.failed .error{background:#fde8e8;border:1px solid #e0a0a0;color:#8a1f1f;padding:8px 12px;border-radius:4px;margin:8px 0;white-space:pre-wrap}
@media (max-width:800px){.body{display:block}aside.who{border:0;padding:0}}
"#;

/// Draws the arrows of every document (again at every resize) and highlights a quote, its cue,
/// source and arrow while the pointer is on it or on its side-list entry.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  function rects(section, attr, q) {
    var out = [];
    section.querySelectorAll(".text [data-" + attr + "~=\"" + q + "\"]").forEach(function (el) {
      Array.prototype.forEach.call(el.getClientRects(), function (r) { out.push(r); });
    });
    return out;
  }
  // One box per line of a mention: its pieces' rectangles on the same line merged.
  function lines(rs) {
    var out = [];
    rs.forEach(function (r) {
      var line = out.find(function (l) { return Math.abs(l.top - r.top) < 3; });
      if (line) {
        line.left = Math.min(line.left, r.left); line.right = Math.max(line.right, r.right);
        line.bottom = Math.max(line.bottom, r.bottom);
      } else {
        out.push({ left: r.left, right: r.right, top: r.top, bottom: r.bottom });
      }
    });
    return out;
  }
  function closest(as, bs) {
    var best = null, bestD = Infinity;
    as.forEach(function (a) {
      bs.forEach(function (b) {
        var dx = (a.left + a.right - b.left - b.right) / 2, dy = (a.top + a.bottom - b.top - b.bottom) / 2;
        var d = dx * dx + 4 * dy * dy;
        if (d < bestD) { bestD = d; best = [a, b]; }
      });
    });
    return best;
  }
  function draw(section) {
    var svg = section.querySelector("svg.arrows");
    if (!svg) { return; }
    svg.querySelectorAll("path.link").forEach(function (p) { p.remove(); });
    var base = svg.getBoundingClientRect();
    var marker = svg.querySelector("marker");
    var quotes = {};
    section.querySelectorAll(".text [data-c]").forEach(function (el) {
      el.getAttribute("data-c").split(" ").forEach(function (q) { quotes[q] = true; });
    });
    Object.keys(quotes).forEach(function (q) {
      var pair = closest(lines(rects(section, "c", q)), lines(rects(section, "s", q)));
      if (!pair) { return; }
      var c = pair[0], s = pair[1];
      var x1 = (c.left + c.right) / 2 - base.left, x2 = (s.left + s.right) / 2 - base.left;
      var y1, y2, d;
      if (Math.abs(c.top - s.top) < 4) {
        y1 = c.top - base.top; y2 = s.top - base.top;
        var h = 12 + Math.min(10, Math.abs(x2 - x1) / 30);
        d = "M" + x1 + "," + y1 + " C" + x1 + "," + (y1 - h) + " " + x2 + "," + (y2 - h) + " " + x2 + "," + (y2 - 1);
      } else {
        var down = s.top > c.top;
        y1 = (down ? c.bottom : c.top) - base.top;
        y2 = (down ? s.top : s.bottom) - base.top;
        var m = (y2 - y1) / 2;
        d = "M" + x1 + "," + y1 + " C" + x1 + "," + (y1 + m) + " " + x2 + "," + (y2 - m) + " " + x2 + "," + y2;
      }
      var path = document.createElementNS(NS, "path");
      path.setAttribute("class", "link");
      path.setAttribute("data-q", q);
      path.setAttribute("d", d);
      if (marker) { path.setAttribute("marker-end", "url(#" + marker.id + ")"); }
      svg.appendChild(path);
    });
  }
  function drawAll() { document.querySelectorAll("section.doc").forEach(draw); }
  function mark(section, q, on) {
    ["c", "k", "s"].forEach(function (attr) {
      section.querySelectorAll(".text [data-" + attr + "~=\"" + q + "\"]").forEach(function (el) {
        el.classList.toggle("hl", on);
      });
    });
    section.querySelectorAll("[data-q=\"" + q + "\"]").forEach(function (el) { el.classList.toggle("hl", on); });
  }
  document.querySelectorAll("section.doc").forEach(function (section) {
    section.querySelectorAll("aside [data-q]").forEach(function (li) {
      var q = li.getAttribute("data-q");
      li.addEventListener("mouseenter", function () { mark(section, q, true); });
      li.addEventListener("mouseleave", function () { mark(section, q, false); });
    });
  });
  drawAll();
  window.addEventListener("load", drawAll);
  window.addEventListener("resize", drawAll);
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use byline_core::{Entity, Mention};

    fn entity(start: usize, end: usize, label: &str) -> Entity {
        Entity {
            span: Span::new(start, end),
            label: label.to_owned(),
            score: Some(0.9),
        }
    }

    fn m(start: usize, end: usize) -> Mention {
        Mention::single(Span::new(start, end))
    }

    #[test]
    fn segments_cut_at_every_boundary() {
        // (marks as (start, end), expected pieces as (start, end, covering marks))
        type Case = (
            &'static [(usize, usize)],
            &'static [(usize, usize, &'static [usize])],
        );
        let cases: &[Case] = &[
            (&[], &[(0, 10, &[])]),
            (&[(2, 4)], &[(0, 2, &[]), (2, 4, &[0]), (4, 10, &[])]),
            // nested: 3..5 inside 0..8
            (
                &[(0, 8), (3, 5)],
                &[(0, 3, &[0]), (3, 5, &[0, 1]), (5, 8, &[0]), (8, 10, &[])],
            ),
            // crossing: 1..6 and 4..10
            (
                &[(1, 6), (4, 10)],
                &[(0, 1, &[]), (1, 4, &[0]), (4, 6, &[0, 1]), (6, 10, &[1])],
            ),
            // the same span twice, and one touching it
            (
                &[(0, 5), (0, 5), (5, 10)],
                &[(0, 5, &[0, 1]), (5, 10, &[2])],
            ),
        ];
        let text = "0123456789";
        for (spans, want) in cases {
            let marks: Vec<Mark> = spans
                .iter()
                .enumerate()
                .map(|(index, &(a, b))| Mark {
                    kind: Kind::Entity,
                    index,
                    span: Span::new(a, b),
                })
                .collect();
            let got: Vec<(usize, usize, Vec<usize>)> = segments(text, &marks)
                .into_iter()
                .map(|(s, c)| (s.start, s.end, c))
                .collect();
            let want: Vec<(usize, usize, Vec<usize>)> =
                want.iter().map(|&(a, b, c)| (a, b, c.to_vec())).collect();
            assert_eq!(got, want, "marks {spans:?}");
        }
    }

    #[test]
    fn escape_makes_markup_inert() {
        let cases = [
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("a & b", "a &amp; b"),
            ("\"x\" 'y'", "&quot;x&quot; &#39;y&#39;"),
            ("Zürich", "Zürich"),
        ];
        for (text, want) in cases {
            assert_eq!(escape(text), want);
        }
    }

    fn tagged() -> Tagged {
        //          0         1         2         3         4         5
        //          0123456789012345678901234567890123456789012345678901234567
        let text = "\"We <script>win</script>,\" Mayor Ana Li said. Bo said no.";
        let mut doc = Document::new("d<1>", text);
        doc.entities = vec![entity(33, 39, "PER"), entity(46, 48, "PER")];
        doc.attributions = vec![
            byline_core::Attribution {
                content: m(0, 26),
                cue: Some(m(40, 44)),
                source: Some(m(27, 39)),
            },
            byline_core::Attribution {
                content: m(54, 56),
                cue: Some(m(49, 53)),
                source: None,
            },
        ];
        Tagged {
            document: doc,
            source_entities: vec![Some(0), None],
        }
    }

    #[test]
    fn page_marks_nested_spans_and_escapes_input() {
        let t = tagged();
        assert_eq!(t.document.slice(t.document.entities[0].span), "Ana Li");
        assert_eq!(
            t.document
                .slice(t.document.attributions[0].source.as_ref().unwrap().pieces[0]),
            "Mayor Ana Li"
        );
        let failed = Err(DocError::new("bad<doc>", "cannot <read>"));
        let mut out = Vec::new();
        write_page(&mut out, &[Ok(t), failed]).unwrap();
        let page = String::from_utf8(out).unwrap();
        // The only script element is the page's own.
        assert_eq!(page.matches("<script").count(), 1, "{page}");
        assert!(page.contains("&lt;script&gt;win&lt;/script&gt;"));
        assert!(page.contains("<h2>d&lt;1&gt;</h2>"));
        assert!(page.contains("error: cannot &lt;read&gt;"));
        // The source's entity part carries both marks; the rest of the source only its own.
        assert!(page.contains(
            "<span class=\"s\" data-s=\"0\">Mayor </span>\
             <span class=\"e-per s\" data-s=\"0\" title=\"PER 0.90\">Ana Li</span>"
        ));
        assert!(page.contains("data-links=\"1\""));
        // Side list: the linked entity, then unknown.
        let who = &page[page.find("Who said what").unwrap()..];
        let ana = who
            .find("<span class=\"name e-per\">Ana Li</span>")
            .unwrap();
        let unknown = who
            .find("<span class=\"name unknown\">unknown</span>")
            .unwrap();
        assert!(ana < unknown);
        assert!(who.contains("<span class=\"as\">as \u{201C}Mayor Ana Li\u{201D}</span>"));
        assert!(who.contains("<span class=\"badge direct\">direct</span>"));
        assert!(who.contains("<span class=\"badge indirect\">indirect</span> no"));
    }

    #[test]
    fn invalid_spans_are_left_unmarked() {
        let mut doc = Document::new("x", "héllo");
        // 2 is inside `é`; 9 is past the end; 3..3 is empty.
        doc.entities = vec![
            entity(2, 4, "PER"),
            entity(0, 9, "ORG"),
            entity(3, 3, "LOC"),
        ];
        assert!(marks(&doc).is_empty());
    }

    #[test]
    fn shorten_cuts_on_characters() {
        assert_eq!(shorten("a  b\nc", 10), "a b c");
        assert_eq!(shorten("äöü äöü", 4), "äöü…");
    }
}
