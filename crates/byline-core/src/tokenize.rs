//! A word tokenizer and a rule-based sentence splitter for raw text.
//!
//! Both work on byte offsets into the original text and never change it: a token is a [`Span`],
//! a sentence a range of token indices (the shape [`Document`] stores).
//!
//! # Tokens
//!
//! Close to BERT's basic pre-tokenizer, with a few units kept whole:
//!
//! 1. **Separators** are never part of a token: Unicode whitespace (`char::is_whitespace`, which
//!    includes NBSP, the ideographic space and the line/paragraph separators), control characters
//!    (`char::is_control`, category Cc), the zero-width space U+200B, the word joiner U+2060 and
//!    the byte-order mark U+FEFF.
//! 2. **Punctuation and symbols** are one token each: ASCII punctuation, Latin-1 punctuation and
//!    symbols (`¡ « » ¿ £ © ° ×` ...), General Punctuation (curly quotes, dashes, `…`, `‹ ›`),
//!    currency signs, arrows, mathematical and technical symbols, dingbats and miscellaneous
//!    symbols (U+2190..U+2BFF), supplemental and CJK punctuation, fullwidth punctuation, and
//!    emoji (U+1F000..U+1FAFF). An emoji keeps what belongs to it: variation selectors,
//!    skin-tone modifiers, the combining keycap, combining diacritics, tag characters, a
//!    zero-width-joiner sequence of symbols (`👩‍🔬` is one token) and a pair of regional
//!    indicators (one flag).
//! 3. **Words** are maximal runs of every other character (letters, digits, marks, ...), so
//!    `COVID19` and `3rd` are one token each and `don't` is three (`don`, `'`, `t`), as in BERT.
//! 4. **Numbers**: a `.` or `,` between two ASCII digits stays inside the word: `3.5`, `1,000`,
//!    `1,000.50` and `1.5.2` are one token each. `10:30` is three.
//! 5. **Dotted initialisms**: two or more single letters each followed by a period, not followed
//!    by a letter or digit, are one token *including* the final period: `U.S.`, `U.K.`, `e.g.`,
//!    `p.m.`. (`U.S.-based` gives `U.S.`, `-`, `based`.) Other abbreviations are split like any
//!    word: `Mr.` gives `Mr` and `.`; the sentence splitter knows them.
//!
//! # Sentences
//!
//! A sentence ends after token *i* when either
//!
//! * the separators between token *i* and token *i + 1* contain a **blank line**: two or more
//!   line breaks (`\n`, `\r\n`, a lone `\r` and U+2028 count one each; a form feed, vertical tab
//!   or U+2029 count as a paragraph break by themselves). A single line break does not end a
//!   sentence (wrapped text); or
//! * token *i* closes a **terminator**: a run of adjacent `.` `!` `?` `…` `‼` `⁇` `⁈` `⁉` tokens,
//!   followed by zero or more adjacent closing quotes or brackets (`" ' ” ’ » › ) ] }`), then
//!   whitespace, then a token that starts with an uppercase letter, a digit, or an opening quote
//!   or bracket (`" ' “ ‘ « ‹ ( [ { ¿ ¡`). A lone `.` does not end a sentence when the word
//!   right before it (no space between) is a known abbreviation (`Mr`, `Dr`, `Sen`, `Gov`,
//!   `Jan`, `St`, `vs` ..., see [`ABBREVIATIONS`]), a single uppercase letter (an initial, as in
//!   `John F. Kennedy`), or `No`/`Nos` before a number. A dotted initialism token (`U.S.`) never
//!   ends a sentence, so "in the U.S. He" stays one sentence: a known, accepted error.
//!
//! The end of the text ends the last sentence. Text without tokens has no sentences.

use std::ops::Range;

use crate::document::Document;
use crate::span::Span;

/// Words that, directly followed by a period, do not end a sentence.
pub const ABBREVIATIONS: &[&str] = &[
    "Mr", "Mrs", "Ms", "Mx", "Messrs", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "Ft", "Rev", "Hon",
    "Pres", "Gen", "Col", "Lt", "Maj", "Sgt", "Capt", "Cmdr", "Adm", "Gov", "Sen", "Rep", "Reps",
    "Sens", "Supt", "Det", "Insp", "Amb", "Atty", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug",
    "Sep", "Sept", "Oct", "Nov", "Dec", "Ave", "Blvd", "Rd", "Fig", "fig", "Vol", "vol", "approx",
    "cf", "vs", "v", "al",
];

const ZWJ: char = '\u{200D}';

/// Splits `text` into word tokens (see the [module docs](self) for the rules). The spans are
/// sorted, non-empty, do not overlap, and lie on `char` boundaries.
pub fn tokenize(text: &str) -> Vec<Span> {
    let mut tokens = Vec::with_capacity(text.len() / 5 + 1);
    let mut i = 0;
    while let Some(c) = char_at(text, i) {
        if is_separator(c) {
            i += c.len_utf8();
            continue;
        }
        let start = i;
        i = if is_symbol(c) {
            symbol_end(text, i, c)
        } else if let Some(end) = initialism_end(text, i) {
            end
        } else {
            word_end(text, i, c)
        };
        tokens.push(Span::new(start, i));
    }
    tokens
}

/// Splits tokenized text into sentences (see the [module docs](self) for the rules). Returns
/// ranges of token indices that cover `0..tokens.len()` in order. Tokens that are not valid
/// spans of `text` are treated as plain words, never as a reason to panic.
pub fn split_sentences(text: &str, tokens: &[Span]) -> Vec<Range<usize>> {
    let mut sentences = Vec::new();
    let mut start = 0;
    for i in 0..tokens.len() {
        let last = i + 1 == tokens.len();
        if last || paragraph_break(text, tokens[i], tokens[i + 1]) || ends_sentence(text, tokens, i)
        {
            sentences.push(start..i + 1);
            start = i + 1;
        }
    }
    sentences
}

/// Fills `doc.tokens` with [`tokenize`] when empty, then `doc.sentences` with
/// [`split_sentences`] when empty. Existing tokens or sentences are kept.
pub fn tokenize_document(doc: &mut Document) {
    if doc.tokens.is_empty() {
        doc.tokens = tokenize(&doc.text);
    }
    if doc.sentences.is_empty() {
        doc.sentences = split_sentences(&doc.text, &doc.tokens);
    }
}

/// Sentences longer than this many words are cut into pieces of this size by
/// [`prepare_for_tagging`]: text without sentence ends (a 5 MB line) would otherwise be one
/// sentence, in which quote assembly pairs every content with every cue.
pub const MAX_SENTENCE_WORDS: usize = 200;

/// A document as the tagger reads it: annotations removed, tokenised (its own tokens and
/// sentences kept when it has both, else both made afresh), sentences at most
/// [`MAX_SENTENCE_WORDS`] words. Every path from a document to its predicted annotations
/// (`byline tag`, `serve`, training's dev figures, `train-linker`) starts here.
pub fn prepare_for_tagging(mut doc: Document) -> Document {
    doc.entities.clear();
    doc.attributions.clear();
    if doc.tokens.is_empty() || doc.sentences.is_empty() {
        doc.sentences.clear();
        tokenize_document(&mut doc);
    }
    if doc.sentences.iter().any(|s| s.len() > MAX_SENTENCE_WORDS) {
        doc.sentences = doc
            .sentences
            .iter()
            .flat_map(|s| {
                s.clone()
                    .step_by(MAX_SENTENCE_WORDS)
                    .map(move |start| start..(start + MAX_SENTENCE_WORDS).min(s.end))
            })
            .collect();
    }
    doc
}

fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..)?.chars().next()
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}')
}

/// Punctuation and symbols: each is a token of its own.
fn is_symbol(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    matches!(c,
        '\u{A1}'..='\u{A9}' | '\u{AB}'..='\u{B1}' | '\u{B4}' | '\u{B6}'..='\u{B8}' | '\u{BB}'
        | '\u{BF}' | '\u{D7}' | '\u{F7}'
        | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{205E}'
        | '\u{20A0}'..='\u{20CF}'
        | '\u{2122}' | '\u{2116}'
        | '\u{2190}'..='\u{2BFF}'
        | '\u{2E00}'..='\u{2E7F}'
        | '\u{3001}'..='\u{303F}'
        | '\u{FE10}'..='\u{FE1F}' | '\u{FE30}'..='\u{FE6F}'
        | '\u{FF01}'..='\u{FF0F}' | '\u{FF1A}'..='\u{FF20}' | '\u{FF3B}'..='\u{FF40}'
        | '\u{FF5B}'..='\u{FF65}'
        | '\u{1F000}'..='\u{1FAFF}')
}

/// Characters that belong to the symbol before them.
fn is_extender(c: char) -> bool {
    matches!(c,
        '\u{FE00}'..='\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{20E3}' | '\u{0300}'..='\u{036F}'
        | '\u{E0020}'..='\u{E007F}')
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c, '\u{1F1E6}'..='\u{1F1FF}')
}

/// End of the symbol token starting at `i` with `c`, with its extenders.
fn symbol_end(text: &str, i: usize, c: char) -> usize {
    let mut j = i + c.len_utf8();
    if is_regional_indicator(c) {
        if let Some(d) = char_at(text, j).filter(|&d| is_regional_indicator(d)) {
            j += d.len_utf8();
        }
    }
    while let Some(d) = char_at(text, j) {
        if d == ZWJ {
            j += d.len_utf8();
            if let Some(e) = char_at(text, j).filter(|&e| is_symbol(e)) {
                j += e.len_utf8();
            }
        } else if is_extender(d) {
            j += d.len_utf8();
        } else {
            break;
        }
    }
    j
}

/// End of a dotted initialism (`U.S.`, `e.g.`) starting at `i`, if there is one.
fn initialism_end(text: &str, i: usize) -> Option<usize> {
    let mut j = i;
    let mut letters = 0;
    loop {
        let mut chars = text.get(j..)?.chars();
        match (chars.next(), chars.next()) {
            (Some(l), Some('.')) if l.is_alphabetic() => {
                letters += 1;
                j += l.len_utf8() + 1;
            }
            _ => break,
        }
    }
    let followed_by_word = char_at(text, j).is_some_and(|c| c.is_alphanumeric());
    (letters >= 2 && !followed_by_word).then_some(j)
}

/// End of the word token starting at `i` with `c`.
fn word_end(text: &str, i: usize, c: char) -> usize {
    let mut prev = c;
    let mut j = i + c.len_utf8();
    while let Some(d) = char_at(text, j) {
        if is_separator(d) {
            break;
        }
        if is_symbol(d) {
            let in_number = matches!(d, '.' | ',')
                && prev.is_ascii_digit()
                && char_at(text, j + 1).is_some_and(|n| n.is_ascii_digit());
            if !in_number {
                break;
            }
        }
        prev = d;
        j += d.len_utf8();
    }
    j
}

fn is_terminator(t: &str) -> bool {
    matches!(
        t,
        "." | "!" | "?" | "…" | "‼" | "⁇" | "⁈" | "⁉" | "！" | "？" | "。"
    )
}

fn is_closer(t: &str) -> bool {
    matches!(
        t,
        "\"" | "'" | "”" | "’" | "»" | "›" | ")" | "]" | "}" | "」" | "』"
    )
}

fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '“' | '‘' | '«' | '‹' | '(' | '[' | '{' | '¿' | '¡' | '「' | '『'
    )
}

fn adjacent(a: Span, b: Span) -> bool {
    a.end == b.start
}

/// Does the text between two tokens hold a blank line (a paragraph break)?
fn paragraph_break(text: &str, a: Span, b: Span) -> bool {
    let Some(gap) = text.get(a.end..b.start) else {
        return false;
    };
    let mut breaks = 0;
    let mut chars = gap.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\u{2028}' => breaks += 1,
            '\r' => {
                chars.next_if_eq(&'\n');
                breaks += 1;
            }
            '\u{0B}' | '\u{0C}' | '\u{2029}' => breaks += 2,
            _ => {}
        }
        if breaks >= 2 {
            return true;
        }
    }
    false
}

/// Does a sentence end after token `i` because of terminal punctuation?
fn ends_sentence(text: &str, tokens: &[Span], i: usize) -> bool {
    let tok = |k: usize| tokens[k].slice(text).unwrap_or("");
    // What follows: whitespace, then a sentence-like start.
    let Some(&next) = tokens.get(i + 1) else {
        return false;
    };
    let gap = text.get(tokens[i].end..next.start).unwrap_or("");
    if !gap.chars().any(char::is_whitespace) {
        return false;
    }
    let starts_sentence = tok(i + 1)
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_numeric() || is_opener(c));
    if !starts_sentence {
        return false;
    }
    // Walk back over closing quotes and brackets, then over the terminator run.
    let mut j = i;
    while is_closer(tok(j)) && j > 0 && adjacent(tokens[j - 1], tokens[j]) {
        j -= 1;
    }
    if !is_terminator(tok(j)) {
        return false;
    }
    let mut k = j;
    while k > 0 && adjacent(tokens[k - 1], tokens[k]) && is_terminator(tok(k - 1)) {
        k -= 1;
    }
    if k == j && tok(j) == "." && k > 0 && adjacent(tokens[k - 1], tokens[k]) {
        let word = tok(k - 1);
        let mut chars = word.chars();
        let initial = matches!((chars.next(), chars.next()), (Some(c), None) if c.is_uppercase());
        let number_sign =
            matches!(word, "No" | "Nos") && tok(i + 1).starts_with(|c: char| c.is_ascii_digit());
        if initial || number_sign || ABBREVIATIONS.contains(&word) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        tokenize(text)
            .iter()
            .map(|s| &text[s.start..s.end])
            .collect()
    }

    fn sentences(text: &str) -> Vec<String> {
        let tokens = tokenize(text);
        split_sentences(text, &tokens)
            .into_iter()
            .map(|r| text[tokens[r.start].start..tokens[r.end - 1].end].to_string())
            .collect()
    }

    #[test]
    fn tokens_table() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   \n\t ", &[]),
            ("Hello, world!", &["Hello", ",", "world", "!"]),
            ("don't", &["don", "'", "t"]),
            (
                "It rose 3.5% to $1,000.50.",
                &["It", "rose", "3.5", "%", "to", "$", "1,000.50", "."],
            ),
            ("in 2016. Then", &["in", "2016", ".", "Then"]),
            ("at 10:30", &["at", "10", ":", "30"]),
            ("1,", &["1", ","]),
            ("the U.S. economy", &["the", "U.S.", "economy"]),
            ("U.S.-based", &["U.S.", "-", "based"]),
            ("e.g., this", &["e.g.", ",", "this"]),
            ("Mr. Smith", &["Mr", ".", "Smith"]),
            ("a.bc", &["a", ".", "bc"]),
            ("A.B.C", &["A", ".", "B", ".", "C"]),
            ("well-known", &["well", "-", "known"]),
            ("COVID19 3rd", &["COVID19", "3rd"]),
            (
                "“No,” she said…",
                &["“", "No", ",", "”", "she", "said", "…"],
            ),
            ("Zürich’s café", &["Zürich", "’", "s", "café"]),
            ("great🎉🎉!", &["great", "🎉", "🎉", "!"]),
            ("👩‍🔬 and 👍🏽", &["👩‍🔬", "and", "👍🏽"]),
            ("🇺🇸🇫🇷", &["🇺🇸", "🇫🇷"]),
            ("❤️x", &["❤️", "x"]),
            (
                "a\u{0}b\u{7}c\u{200B}d\u{FEFF}e",
                &["a", "b", "c", "d", "e"],
            ),
            ("non\u{A0}breaking", &["non", "breaking"]),
            ("naïve cafe\u{301}", &["naïve", "cafe\u{301}"]),
            ("東京「タワー」。", &["東京", "「", "タワー", "」", "。"]),
            ("£5 €3 ©2016", &["£", "5", "€", "3", "©", "2016"]),
        ];
        for (text, expected) in cases {
            assert_eq!(&words(text), expected, "text {text:?}");
        }
    }

    #[test]
    fn byte_offsets_on_non_ascii_text() {
        let text = "José said “no” 🎉 today\u{1}.";
        let spans = tokenize(text);
        let expected = [
            (0, 5, "José"),
            (6, 10, "said"),
            (11, 14, "“"),
            (14, 16, "no"),
            (16, 19, "”"),
            (20, 24, "🎉"),
            (25, 30, "today"),
            (31, 32, "."),
        ];
        assert_eq!(spans.len(), expected.len());
        for (span, (start, end, s)) in spans.iter().zip(expected) {
            assert_eq!((span.start, span.end), (start, end));
            assert_eq!(&text[span.start..span.end], s);
        }
    }

    #[test]
    fn tokens_are_sorted_and_on_char_boundaries() {
        let text = "x\u{200D}y 🏳️‍🌈 \u{200D}\u{FE0F}a ‍ é\u{300}! 1.2.3, «ok»\r\n";
        let spans = tokenize(text);
        for w in spans.windows(2) {
            assert!(w[0].end <= w[1].start);
        }
        for s in &spans {
            assert!(!s.is_empty());
            assert!(s.slice(text).is_some(), "{s:?}");
        }
        assert!(words(text).contains(&"🏳️‍🌈"));
    }

    #[test]
    fn sentences_table() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("One. Two.", &["One.", "Two."]),
            ("One! Two? Three", &["One!", "Two?", "Three"]),
            ("Wait... What?", &["Wait...", "What?"]),
            (
                "He said \"No.\" Then left.",
                &["He said \"No.\"", "Then left."],
            ),
            (
                "He said “no.” “Yes,” she said.",
                &["He said “no.”", "“Yes,” she said."],
            ),
            ("(It was late.) We left.", &["(It was late.)", "We left."]),
            ("\"Really?\" she asked.", &["\"Really?\" she asked."]),
            ("Mr. Smith met Dr. Jones.", &["Mr. Smith met Dr. Jones."]),
            ("John F. Kennedy spoke.", &["John F. Kennedy spoke."]),
            ("The U.S. Senate voted.", &["The U.S. Senate voted."]),
            ("On Jan. 5 it rained.", &["On Jan. 5 it rained."]),
            ("He is No. 1 now.", &["He is No. 1 now."]),
            ("He said no. 1 more.", &["He said no.", "1 more."]),
            (
                "It grew in 2016. 2017 was worse.",
                &["It grew in 2016.", "2017 was worse."],
            ),
            ("Go to example.com. Now.", &["Go to example.com.", "Now."]),
            ("end.The", &["end.The"]),
            ("it ended. and then", &["it ended. and then"]),
            ("Title\n\nBody text", &["Title", "Body text"]),
            ("Title\r\n\r\nBody", &["Title", "Body"]),
            ("wrapped\nline", &["wrapped\nline"]),
            ("one\u{2029}two", &["one", "two"]),
            (
                "It was “great.”\n\n— Reuters",
                &["It was “great.”", "— Reuters"],
            ),
            ("Ok 🎉. Next one", &["Ok 🎉.", "Next one"]),
        ];
        for (text, expected) in cases {
            assert_eq!(&sentences(text), expected, "text {text:?}");
        }
    }

    #[test]
    fn sentences_cover_all_tokens() {
        let text = "A. B! \n\n C? “D.” E";
        let tokens = tokenize(text);
        let sents = split_sentences(text, &tokens);
        assert_eq!(sents.first().map(|r| r.start), Some(0));
        assert_eq!(sents.last().map(|r| r.end), Some(tokens.len()));
        for w in sents.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
    }

    #[test]
    fn invalid_tokens_do_not_panic() {
        let text = "é. B";
        // Spans not on char boundaries and past the end.
        let tokens = [Span::new(0, 1), Span::new(2, 3), Span::new(4, 9)];
        assert_eq!(split_sentences(text, &tokens), vec![0..3]);
    }

    #[test]
    fn tokenize_document_fills_only_empty_fields() {
        let mut doc = Document::new("d", "First one. Second one.");
        tokenize_document(&mut doc);
        assert_eq!(doc.tokens.len(), 6);
        assert_eq!(doc.sentences, vec![0..3, 3..6]);

        let mut doc = Document::new("d", "First one. Second one.");
        doc.tokens = vec![Span::new(0, 10), Span::new(11, 22)];
        tokenize_document(&mut doc);
        assert_eq!(doc.tokens.len(), 2);
        assert_eq!(doc.sentences, vec![0..2]);
    }
}
