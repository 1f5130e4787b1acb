//! What counts as a quotation mark, and when a quote is *direct*, *mixed* or *indirect*.
//!
//! # Marks
//!
//! **Double** marks: the straight `"`, the curly `“` `”`, the low and angle marks `„` `«` `»`,
//! and the doubled apostrophes `''` (and the TeX-style opening ` `` `) that some wires, the NYT
//! among them, use for `"`. **Single** marks: `'`, `‘`, `’`. A single mark between two letters
//! or digits (`don't`, `Trump’s`), before a digit (`’90s`), or after a word when no single quote
//! is open (`Reuters' report`) is an apostrophe, not a quote; a single-quoted fragment needs at
//! least two letters or digits (`rock 'n' roll` holds none).
//!
//! # Pairs
//!
//! [`quoted_pairs`] matches marks with a stack: an opening mark is pushed; a closing mark closes
//! the nearest open mark of its family (double or single), dropping marks opened after it; a
//! straight mark (`"`, `'`, `''`) opens when it follows a space or the start and precedes a
//! non-space, else closes an open mark of its family if there is one. An opening double mark
//! at the start of a paragraph, or after the end of a sentence and a space, while a double
//! quote is open *continues* that quote (the news convention for a quote over several
//! paragraphs: each paragraph opens, only the last closes; a content of several pieces is
//! joined with spaces).
//!
//! # Direct, mixed, indirect
//!
//! A content is **direct** ([`is_direct`]) when, trimmed, it starts with the opening mark of an
//! outermost pair and ends with the closing mark of an outermost pair, trailing punctuation
//! after it allowed: `“We will win,”`, `'We will win'`, `"He said 'no',"`, `"We will win",` and
//! the discontinuous `"A," "B."` (pieces joined by a space). It is **mixed** ([`is_mixed`])
//! when it is not direct but holds a quoted pair: `he called the plan “a disaster”`. Otherwise
//! it is **indirect**.
//!
//! The corpus counts of `shared/data/README.md` (PolNeAR dev: 361 direct quotes, 624 contents
//! with a quote mark) use the older, narrower rule of double marks only
//! ([`is_direct_double`], [`has_quote_mark`]); `byline stats` keeps it so that its numbers stay
//! those of the README.

use crate::document::Mention;

/// Double marks that open a quotation.
pub const OPENING: [char; 4] = ['"', '\u{201C}', '\u{201E}', '\u{00AB}'];
/// Double marks that close a quotation.
pub const CLOSING: [char; 3] = ['"', '\u{201D}', '\u{00BB}'];

/// Whether `c` is a (double) quotation mark, straight or curly, opening or closing.
pub fn is_quote_mark(c: char) -> bool {
    OPENING.contains(&c) || CLOSING.contains(&c)
}

/// Whether `text` starts with a double mark that can open a quotation: one of [`OPENING`], or
/// the doubled apostrophe or backtick of the wires (`''`, ` `` `).
pub fn starts_with_opening_double(text: &str) -> bool {
    text.starts_with(OPENING) || text.starts_with("''") || text.starts_with("``")
}

/// Whether `text` ends with a double mark that can close a quotation: one of [`CLOSING`], or
/// the doubled apostrophe `''`.
pub fn ends_with_closing_double(text: &str) -> bool {
    text.ends_with(CLOSING) || text.ends_with("''")
}

/// Whether `text` contains a (double) quotation mark anywhere.
pub fn has_quote_mark(text: &str) -> bool {
    text.chars().any(is_quote_mark)
}

/// The narrow rule of the corpus counts: after trimming whitespace `text` starts with an opening
/// double mark and ends with a closing double mark, two different characters of the text.
pub fn is_direct_double(text: &str) -> bool {
    let mut chars = text.trim().chars();
    match (chars.next(), chars.next_back()) {
        (Some(first), Some(last)) => OPENING.contains(&first) && CLOSING.contains(&last),
        _ => false,
    }
}

/// How a quote's content is quoted (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuoteKind {
    /// Wholly inside quotation marks.
    Direct,
    /// Reported speech holding a quoted fragment.
    Mixed,
    /// No quoted fragment.
    Indirect,
}

impl QuoteKind {
    /// The kind of a content text.
    pub fn of(text: &str) -> Self {
        let trimmed = text.trim();
        let pairs = quoted_pairs(trimmed);
        let outer = || pairs.iter().filter(|p| p.depth == 0);
        let end = trimmed.trim_end_matches(|c: char| c.is_whitespace() || is_trailing_punct(c));
        let starts = outer().any(|p| p.open.start == 0);
        let ends = outer().any(|p| p.close.end == end.len() || p.close.end == trimmed.len());
        if starts && ends {
            QuoteKind::Direct
        } else if pairs.is_empty() {
            QuoteKind::Indirect
        } else {
            QuoteKind::Mixed
        }
    }

    /// `"direct"`, `"mixed"` or `"indirect"`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuoteKind::Direct => "direct",
            QuoteKind::Mixed => "mixed",
            QuoteKind::Indirect => "indirect",
        }
    }
}

/// Whether `text` (a quote's content) is wholly inside quotation marks ([`QuoteKind::Direct`]).
pub fn is_direct(text: &str) -> bool {
    QuoteKind::of(text) == QuoteKind::Direct
}

/// Whether `text` is not direct but holds a quoted fragment ([`QuoteKind::Mixed`]).
pub fn is_mixed(text: &str) -> bool {
    QuoteKind::of(text) == QuoteKind::Mixed
}

/// A matched pair of quotation marks: byte ranges of the two marks in the text, and how many
/// pairs enclose it (0: outermost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedPair {
    /// The opening mark.
    pub open: std::ops::Range<usize>,
    /// The closing mark.
    pub close: std::ops::Range<usize>,
    /// Number of pairs around this one.
    pub depth: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Double,
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Open,
    Close,
    /// Straight marks: open or close by context.
    Either,
}

struct Open {
    at: std::ops::Range<usize>,
    family: Family,
}

/// The matched pairs of quotation marks in `text`, in the order they close (see the
/// [module docs](self)).
pub fn quoted_pairs(text: &str) -> Vec<QuotedPair> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut stack: Vec<Open> = Vec::new();
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let prev = i.checked_sub(1).map(|j| chars[j].1);
        // Doubled apostrophes and TeX openings are one double mark.
        let doubled = matches!(c, '\'' | '`') && chars.get(i + 1).is_some_and(|&(_, n)| n == c);
        let width = if doubled { 2 } else { 1 };
        let next = chars.get(i + width).map(|&(_, n)| n);
        let end = chars.get(i + width).map_or(text.len(), |&(b, _)| b);
        i += width;
        let mark = match c {
            '\'' if doubled => (Family::Double, Role::Either),
            '`' if doubled => (Family::Double, Role::Open),
            '"' => (Family::Double, Role::Either),
            '\u{201E}' | '\u{00AB}' => (Family::Double, Role::Open),
            '\u{201D}' | '\u{00BB}' => (Family::Double, Role::Close),
            // `“` closes a quote opened by `„` (German style), else opens.
            '\u{201C}' => {
                let low = stack
                    .last()
                    .is_some_and(|o| text[o.at.clone()].starts_with('\u{201E}'));
                (Family::Double, if low { Role::Close } else { Role::Open })
            }
            '\u{2018}' | '\u{2019}' | '\'' => match single_role(prev, next, &stack) {
                Some(role) => (Family::Single, role),
                None => continue,
            },
            _ => continue,
        };
        let (family, role) = mark;
        let open_here = is_opening_context(prev, next);
        let pending = stack.iter().rposition(|o| o.family == family);
        let closes = match role {
            Role::Open => false,
            Role::Close => true,
            Role::Either => pending.is_some() && !open_here,
        };
        if !closes {
            // A new paragraph opening again continues the open double quote.
            let continues =
                family == Family::Double && pending.is_some() && continues_quote(&text[..at]);
            if !continues {
                stack.push(Open {
                    at: at..end,
                    family,
                });
            }
            continue;
        }
        let Some(j) = pending else { continue };
        stack.truncate(j + 1);
        let Some(open) = stack.pop() else { continue };
        let inner = &text[open.at.end..at];
        if family == Family::Single && inner.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
            continue;
        }
        pairs.push(QuotedPair {
            open: open.at,
            close: at..end,
            depth: stack.len(),
        });
    }
    pairs
}

/// The role of a single mark `c` between `prev` and `next`, or `None` for an apostrophe.
fn single_role(prev: Option<char>, next: Option<char>, stack: &[Open]) -> Option<Role> {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let space = |c: Option<char>| c.is_none_or(char::is_whitespace);
    if alnum(prev) && alnum(next) {
        return None;
    }
    if next.is_some_and(|n| n.is_ascii_digit()) {
        return None;
    }
    if is_opening_context(prev, next) {
        return Some(Role::Open);
    }
    let single_open = stack.iter().any(|o| o.family == Family::Single);
    if !space(prev) && !alnum(next) && single_open {
        return Some(Role::Close);
    }
    None
}

/// A mark after a space, the start or an opening bracket or mark, and before a non-space.
fn is_opening_context(prev: Option<char>, next: Option<char>) -> bool {
    let before = prev.is_none_or(|p| {
        p.is_whitespace()
            || matches!(p, '(' | '[' | '{' | '\u{2014}' | '\u{2013}' | '-' | '/')
            || OPENING.contains(&p)
            || p == '\u{2018}'
    });
    before && next.is_some_and(|n| !n.is_whitespace())
}

/// Whether an opening mark after `before` continues an open quote rather than nesting: it
/// starts a paragraph (a line break, then spaces only), or follows the end of a sentence and a
/// space (`“We won. “We won big.”`: a quote over two paragraphs whose pieces are joined by a
/// space).
fn continues_quote(before: &str) -> bool {
    let trimmed = before.trim_end_matches([' ', '\t']);
    if trimmed.ends_with(['\n', '\r']) {
        return true;
    }
    trimmed.len() < before.len() && trimmed.ends_with(['.', '!', '?', '\u{2026}'])
}

fn is_trailing_punct(c: char) -> bool {
    matches!(c, '.' | ',' | '!' | '?' | ';' | ':' | '\u{2026}')
}

/// Whether an attribution's content is a direct quote, as the attribution metrics decide it.
/// Either its text (pieces joined by a space) is direct by [`is_direct`] (the rule of the
/// corpus counts), or the marks sit just outside it (annotators and taggers
/// differ on whether the marks belong to the content): an opening mark right before the content
/// and a closing mark right after it, trailing punctuation allowed, and no mark inside.
pub fn is_direct_mention(text: &str, content: &Mention) -> bool {
    let (Some(content_text), Some(extent)) = (content.text(text), content.extent()) else {
        return false;
    };
    if is_direct(&content_text) {
        return true;
    }
    let (Some(before), Some(after)) = (text.get(..extent.start), text.get(extent.end..)) else {
        return false;
    };
    !has_quote_mark(&content_text)
        && before.trim_end().ends_with(|c| OPENING.contains(&c))
        && after
            .trim_start_matches(|c: char| c.is_whitespace() || is_trailing_punct(c))
            .starts_with(|c| CLOSING.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_kinds() {
        use QuoteKind::{Direct, Indirect, Mixed};
        let cases: &[(&str, QuoteKind)] = &[
            // Double marks, straight and curly.
            ("\u{201C}We will win,\u{201D}", Direct),
            ("\"We will win\"", Direct),
            ("  \"padded\"\n", Direct),
            ("\u{201C}mixed\"", Direct),
            ("\"A,\" \"B.\"", Direct),
            ("\u{201C}A,\u{201D} he said, \u{201C}B.\u{201D}", Direct),
            ("\u{00AB}Nous gagnerons\u{00BB}", Direct),
            ("\u{201E}Wir gewinnen\u{201C}", Direct),
            ("''This isn't tax reform,''", Direct),
            ("``Fine,''", Direct),
            // Trailing punctuation just outside the marks.
            ("\"We will win\",", Direct),
            ("\u{201C}We will win\u{201D}.", Direct),
            // Single marks.
            ("\u{2018}single\u{2019}", Direct),
            ("'single'", Direct),
            (
                "\u{2018}You Should Be Criminally Investigated.\u{2019}",
                Direct,
            ),
            // Nested marks.
            ("\"He told me 'never again,' and left.\"", Direct),
            (
                "\u{201C}She called it \u{2018}fake news.\u{2019}\u{201D}",
                Direct,
            ),
            ("\"We said \"no\" twice\"", Direct),
            (
                "\u{201C}It\u{2019}s the Jones\u{2019} house.\u{201D}",
                Direct,
            ),
            // Over two paragraphs: each paragraph opens, only the last closes.
            ("\u{201C}We won.\n\n\u{201C}We won big.\u{201D}", Direct),
            ("\"We won.\n\"We won big.\"", Direct),
            ("\u{201C}We won. \u{201C}We won big.\u{201D}", Direct),
            // Mixed: a quoted fragment inside reported speech.
            ("the plan was \u{201C}a disaster\u{201D} for workers", Mixed),
            ("the plan was 'a disaster'", Mixed),
            ("\"half quoted\" and the rest not", Mixed),
            // Indirect: no pair of marks.
            ("we will win", Indirect),
            ("\"half quoted, he said", Indirect),
            ("\u{201C}unfinished", Indirect),
            ("\"", Indirect),
            ("", Indirect),
            ("ends with a quote\u{201D}", Indirect),
            // Apostrophes are not quotes.
            ("they don't and won't", Indirect),
            ("Reuters' report and the Jones' house", Indirect),
            ("Trump\u{2019}s plan of the \u{2019}90s", Indirect),
            ("the '90s and the '80s", Indirect),
            ("rock 'n' roll", Indirect),
        ];
        for (text, want) in cases {
            assert_eq!(QuoteKind::of(text), *want, "QuoteKind::of({text:?})");
            assert_eq!(is_direct(text), *want == Direct, "is_direct({text:?})");
            assert_eq!(is_mixed(text), *want == Mixed, "is_mixed({text:?})");
        }
    }

    #[test]
    fn pairs_and_depths() {
        let text = "\u{201C}a \u{2018}bc\u{2019} d\u{201D} e \"f\"";
        let got: Vec<(&str, usize)> = quoted_pairs(text)
            .iter()
            .map(|p| (&text[p.open.start..p.close.end], p.depth))
            .collect();
        assert_eq!(
            got,
            vec![
                ("\u{2018}bc\u{2019}", 1),
                ("\u{201C}a \u{2018}bc\u{2019} d\u{201D}", 0),
                ("\"f\"", 0),
            ]
        );
        assert!(quoted_pairs("no marks").is_empty());
    }

    #[test]
    fn direct_by_the_corpus_rule() {
        let cases: &[(&str, bool)] = &[
            ("\u{201C}We will win,\u{201D}", true),
            ("\"A,\" \"B.\"", true),
            ("\u{2018}single\u{2019}", false),
            ("'single'", false),
            ("we will win", false),
            ("\"", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_direct_double(text), *want, "is_direct_double({text:?})");
        }
    }

    #[test]
    fn quote_marks() {
        let cases: &[(&str, bool)] = &[
            ("said \"no\" twice", true),
            ("\u{201C}", true),
            ("\u{201D}", true),
            ("Trump\u{2019}s plan", false),
            ("it's", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(has_quote_mark(text), *want, "has_quote_mark({text:?})");
        }
    }

    #[test]
    fn doubled_apostrophes_open_and_close() {
        let opens: &[(&str, bool)] = &[
            ("''Tell that", true),
            ("``Fine", true),
            ("\u{201C}We", true),
            ("\"We", true),
            ("'We", false),
            ("Mr. Biden", false),
        ];
        for (text, want) in opens {
            assert_eq!(starts_with_opening_double(text), *want, "{text:?}");
        }
        let closes: &[(&str, bool)] = &[
            ("taxes,''", true),
            ("taxes,\u{201D}", true),
            ("taxes,\"", true),
            ("taxes,'", false),
            ("Reuters'", false),
        ];
        for (text, want) in closes {
            assert_eq!(ends_with_closing_double(text), *want, "{text:?}");
        }
    }
}
