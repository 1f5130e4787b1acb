//! What counts as a quotation mark, and when a quote is *direct*.
//!
//! Only **double** quotation marks count: the straight `"`, the curly `“` `”`, and the low and
//! angle marks `„` `«` `»` of quotes in other languages. Single marks
//! (`'`, `‘`, `’`) are left out on purpose: in news text they are far more often apostrophes
//! ("Trump’s", "rock 'n' roll", "'90s") than quotation marks, and the PolNeAR counts of
//! `shared/data/README.md` (dev: 361 direct quotes, 624 contents with a quote mark) are
//! reproduced with double marks only; counting single marks too gives 412 and 638.

use crate::document::Mention;

/// Marks that open a quotation.
pub const OPENING: [char; 4] = ['"', '\u{201C}', '\u{201E}', '\u{00AB}'];
/// Marks that close a quotation.
pub const CLOSING: [char; 3] = ['"', '\u{201D}', '\u{00BB}'];

/// Whether `c` is a (double) quotation mark, straight or curly, opening or closing.
pub fn is_quote_mark(c: char) -> bool {
    OPENING.contains(&c) || CLOSING.contains(&c)
}

/// Whether `text` contains a quotation mark anywhere.
pub fn has_quote_mark(text: &str) -> bool {
    text.chars().any(is_quote_mark)
}

/// Whether `text` (a quote's content) is wholly inside quotation marks: after trimming
/// whitespace it starts with an opening mark and ends with a closing mark, and these are two
/// different characters of the text. `"A," "B."` (a discontinuous content whose pieces are both
/// quoted) counts as direct.
pub fn is_direct(text: &str) -> bool {
    let mut chars = text.trim().chars();
    match (chars.next(), chars.next_back()) {
        (Some(first), Some(last)) => OPENING.contains(&first) && CLOSING.contains(&last),
        _ => false,
    }
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
    fn direct_quotes() {
        let cases: &[(&str, bool)] = &[
            ("\u{201C}We will win,\u{201D}", true),
            ("\"We will win\"", true),
            ("  \"padded\"\n", true),
            ("\u{201C}mixed\"", true),
            ("\"A,\" \"B.\"", true),
            ("we will win", false),
            ("\"half quoted, he said", false),
            ("\u{201C}unfinished", false),
            ("\"", false),
            ("", false),
            ("\u{2018}single\u{2019}", false),
            ("'single'", false),
            ("ends with a quote\u{201D}", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_direct(text), *want, "is_direct({text:?})");
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
}
