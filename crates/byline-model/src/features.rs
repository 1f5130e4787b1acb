//! From a document to model inputs: the document's words are tokenised once, planned into
//! overlapping windows of at most `max_subwords` subwords ([`byline_core::window`]), and each
//! window becomes one sequence `[CLS] subwords [SEP]` with the position of each of its words'
//! first subword. Sentences are packed into windows (a window ends at a sentence end where it
//! can), so short CoNLL sentences are seen with their document's context.

use std::ops::Range;

use byline_core::window::plan_windows;
use byline_core::{Document, Span};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tokenize::{Encoding, Tokenizer};

/// How documents are cut into model windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Subwords per window, not counting the special tokens (`[CLS]`, `[SEP]`).
    pub max_subwords: usize,
    /// Subwords consecutive windows share, so words near a window edge are predicted by the
    /// window where they sit most centrally.
    pub overlap: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            max_subwords: 254,
            overlap: 64,
        }
    }
}

/// One window of a document, ready for the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInput {
    /// The document's words this window holds.
    pub words: Range<usize>,
    /// Subword ids, special tokens included: (seq,).
    pub ids: Vec<u32>,
    /// Casing class of each subword: (seq,).
    pub casing: Vec<u32>,
    /// Position in `ids` of each word's first subword (`None`: the tokenizer gave the word none).
    pub first: Vec<Option<usize>>,
}

/// A document cut into windows, with the window that predicts each word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInput {
    pub windows: Vec<WindowInput>,
    /// `owner[w]`: the index of the window whose prediction word `w` takes.
    pub owner: Vec<usize>,
    /// Words whose subwords were cut to the window size.
    pub truncated: Vec<usize>,
}

/// The special tokens the tokenizer puts around every sequence: how many before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    pub front: usize,
    pub back: usize,
}

impl Specials {
    /// Finds the tokenizer's special tokens by encoding one word.
    pub fn of(tokenizer: &Tokenizer) -> Result<Self> {
        let enc = tokenizer.encode_words("a", &[Span::new(0, 1)])?;
        let front = enc.words.iter().take_while(|w| w.is_none()).count();
        let back = enc.words.iter().rev().take_while(|w| w.is_none()).count();
        if front == enc.len() {
            return Err(Error::InvalidTagger {
                message: "the tokenizer produces no subword for the word `a`".into(),
            });
        }
        Ok(Specials { front, back })
    }

    pub fn count(&self) -> usize {
        self.front + self.back
    }
}

/// Cuts `doc` (its `tokens` are the words, its `sentences` guide window ends) into windows.
/// A document without words gives no windows.
pub fn document_windows(
    tokenizer: &Tokenizer,
    specials: Specials,
    window: &WindowConfig,
    doc: &Document,
) -> Result<DocumentInput> {
    let n = doc.tokens.len();
    if n == 0 {
        return Ok(DocumentInput {
            windows: Vec::new(),
            owner: Vec::new(),
            truncated: Vec::new(),
        });
    }
    let enc = tokenizer.encode_words(&doc.text, &doc.tokens)?;
    let pieces = word_pieces(&enc, n, specials)?;
    let counts: Vec<usize> = pieces.iter().map(Vec::len).collect();
    let plan = plan_windows(
        &counts,
        window.max_subwords,
        window.overlap,
        Some(&doc.sentences),
    )
    .map_err(|e| Error::InvalidTagger {
        message: e.to_string(),
    })?;
    let back = enc.len() - specials.back..enc.len();
    let windows = plan
        .windows
        .iter()
        .map(|w| {
            let mut ids: Vec<u32> = enc.ids[..specials.front].to_vec();
            let mut casing: Vec<u32> = enc.casing[..specials.front].to_vec();
            let mut first = Vec::with_capacity(w.words.len());
            for word in w.words.clone() {
                let kept = plan.word_subwords(word).map_or(0, |r| r.len());
                first.push((kept > 0).then_some(ids.len()));
                for &p in &pieces[word][..kept] {
                    ids.push(enc.ids[p]);
                    casing.push(enc.casing[p]);
                }
            }
            ids.extend_from_slice(&enc.ids[back.clone()]);
            casing.extend_from_slice(&enc.casing[back.clone()]);
            WindowInput {
                words: w.words.clone(),
                ids,
                casing,
                first,
            }
        })
        .collect();
    Ok(DocumentInput {
        windows,
        owner: plan.owner,
        truncated: plan.truncated,
    })
}

/// The encoding positions of each word's subwords, in order. Subwords must come word by word
/// between the special tokens (as WordPiece and BPE tokenizers give them).
fn word_pieces(enc: &Encoding, n: usize, specials: Specials) -> Result<Vec<Vec<usize>>> {
    let mut pieces = vec![Vec::new(); n];
    let mut last = 0;
    let inner = specials.front..enc.len().saturating_sub(specials.back);
    for (p, word) in enc.words.iter().enumerate() {
        let Some(w) = *word else { continue };
        if w >= n || w < last || !inner.contains(&p) {
            return Err(Error::InvalidTagger {
                message: format!(
                    "subword {p} of word {w} is out of order (the tokenizer must keep words in order between its special tokens)"
                ),
            });
        }
        last = w;
        pieces[w].push(p);
    }
    Ok(pieces)
}

/// One training example: a window with the gold tag index of each of its words, for one head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagExample {
    /// Which head (task) the gold tags belong to.
    pub head: usize,
    pub ids: Vec<u32>,
    pub casing: Vec<u32>,
    pub first: Vec<Option<usize>>,
    pub gold: Vec<usize>,
}

impl TagExample {
    /// Subwords, special tokens included.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
