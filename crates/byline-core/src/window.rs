//! Overlapping windows over a long sequence of words, for a transformer with a maximum length.
//!
//! The input is, for every word, how many subwords the model's tokenizer gives it, a **budget**
//! (the most subwords one window may hold, *not* counting `[CLS]`/`[SEP]`) and an **overlap**
//! (how many subwords consecutive windows should share, for context). The output is a list of
//! windows, each a range of words and the range of (global) subword indices it holds, and for
//! every word the one window that **owns** it: the window whose prediction for that word is used,
//! so each word is predicted exactly once.
//!
//! # Rules
//!
//! * **Long words.** A word with more subwords than the budget keeps its first `budget` subwords
//!   and loses the rest ([`Windows::truncated`] lists such words). Its label sits on its first
//!   subword, so the label is never lost; it fills a window by itself. A word with zero subwords
//!   (some tokenizers drop odd characters) is allowed: it takes no budget and is owned like any
//!   other word, but has no subword to predict from.
//! * **Window ends.** A window starting at word `s` takes as many words as fit the budget. When
//!   the rest of the sequence does not fit and sentence ranges are given, the window ends after
//!   the last sentence that ends inside it, provided the window is then at least half full;
//!   otherwise at the last word that fits.
//! * **Next window start.** The next window starts at the earliest word such that the words from
//!   there to the previous window's end hold at most `overlap` subwords *and* the following word
//!   still fits, so every window brings at least one new word and the windows always advance,
//!   whatever the overlap (an overlap at or over the budget is cut down that way). Among the
//!   allowed starts, the earliest sentence start before the previous end is preferred.
//! * **Owners.** A word's owner is the window, among those that contain it, where the word sits
//!   most centrally: the largest number of subwords between the word and the window's nearer
//!   edge. A window edge at the start or end of the whole sequence counts as infinitely far, since
//!   no context is missing there. Ties go to the earlier window. Because window starts and ends
//!   both increase, the owners of consecutive words are consecutive windows in order, so each
//!   window owns a contiguous, possibly empty, range of words ([`Windows::owned`]).
//!
//! ```
//! use byline_core::window::plan_windows;
//!
//! // 6 one-subword words, at most 4 subwords a window, 2 shared.
//! let w = plan_windows(&[1, 1, 1, 1, 1, 1], 4, 2, None).unwrap();
//! let words: Vec<_> = w.windows.iter().map(|w| w.words.clone()).collect();
//! assert_eq!(words, [0..4, 2..6]);
//! assert_eq!(w.owner, [0, 0, 0, 1, 1, 1]);
//! assert_eq!(w.owned(1), 3..6);
//! ```

use std::ops::Range;

use crate::error::{Error, Result};

/// One window: the words it holds and the global subword indices of their kept subwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub words: Range<usize>,
    /// Global subword indices (counting every subword of every word before, truncated or not).
    pub subwords: Range<usize>,
}

/// The windows over a sequence and the owner of every word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    pub windows: Vec<Window>,
    /// `owner[w]` is the index of the window that predicts word `w`.
    pub owner: Vec<usize>,
    /// Words whose subwords were cut to the budget, in order.
    pub truncated: Vec<usize>,
    /// Global index of each word's first subword, plus the total at the end.
    offsets: Vec<usize>,
    /// Subwords kept per word: `min(count, budget)`.
    kept: Vec<usize>,
}

impl Windows {
    /// Global subword indices kept for word `w` (empty for a word without subwords); `None` when
    /// `w` is out of range.
    pub fn word_subwords(&self, w: usize) -> Option<Range<usize>> {
        let start = *self.offsets.get(w)?;
        Some(start..start + *self.kept.get(w)?)
    }

    /// The words window `j` owns: a contiguous range, empty when it owns none.
    pub fn owned(&self, j: usize) -> Range<usize> {
        let first = self.owner.partition_point(|&o| o < j);
        let end = self.owner.partition_point(|&o| o <= j);
        first..end
    }
}

/// Plans the windows (see the [module docs](self) for the rules). `subwords[w]` is the number of
/// subwords of word `w`; `budget` the most subwords a window holds; `overlap` the subwords
/// consecutive windows should share; `sentences`, when given, ranges of word indices (ranges
/// that are empty or go past the words are ignored). An empty sequence gives no windows. A zero
/// budget is an error.
pub fn plan_windows(
    subwords: &[usize],
    budget: usize,
    overlap: usize,
    sentences: Option<&[Range<usize>]>,
) -> Result<Windows> {
    if budget == 0 {
        return Err(Error::ZeroWindowBudget);
    }
    let n = subwords.len();
    let kept: Vec<usize> = subwords.iter().map(|&c| c.min(budget)).collect();
    let truncated = (0..n).filter(|&w| subwords[w] > budget).collect();
    let mut offsets = Vec::with_capacity(n + 1);
    let mut acc = 0usize;
    for &c in subwords {
        offsets.push(acc);
        acc = acc.saturating_add(c);
    }
    offsets.push(acc);
    // Prefix sums of kept subwords: kept[a..b] sums to `cum[b] - cum[a]`.
    let mut cum = Vec::with_capacity(n + 1);
    cum.push(0usize);
    for &k in &kept {
        cum.push(cum[cum.len() - 1] + k);
    }
    let sum = |a: usize, b: usize| cum[b] - cum[a];
    // `starts[i]`: a sentence starts at word i (i in 1..n).
    let mut starts = vec![false; n + 1];
    for r in sentences.unwrap_or(&[]) {
        if r.start < r.end && r.end <= n {
            starts[r.start] = true;
            starts[r.end] = true;
        }
    }

    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut s = 0;
    let mut prev_end = 0;
    while s < n {
        // Largest end that fits (at least one word: a kept word never exceeds the budget).
        let mut e = s + 1;
        while e < n && sum(s, e + 1) <= budget {
            e += 1;
        }
        if e < n {
            let floor = (prev_end + 1).max(s + 1);
            if let Some(b) = (floor..=e).rev().find(|&b| starts[b]) {
                if 2 * sum(s, b) >= budget {
                    e = b;
                }
            }
        }
        ranges.push(s..e);
        if e == n {
            break;
        }
        // Earliest start with at most `overlap` shared subwords whose window still takes word e.
        let mut t = s + 1;
        while t < e && (sum(t, e) > overlap || sum(t, e + 1) > budget) {
            t += 1;
        }
        if let Some(b) = (t..e).find(|&b| starts[b]) {
            t = b;
        }
        prev_end = e;
        s = t;
    }

    let windows = ranges
        .iter()
        .map(|r| {
            let start = offsets[r.start];
            let end = r
                .clone()
                .rev()
                .find(|&w| kept[w] > 0)
                .map_or(start, |w| offsets[w] + kept[w]);
            Window {
                words: r.clone(),
                subwords: start..end,
            }
        })
        .collect();
    let owner = owners(&ranges, &cum, n);
    Ok(Windows {
        windows,
        owner,
        truncated,
        offsets,
        kept,
    })
}

/// The most central window of every word (see the module docs). `cum` holds prefix sums of kept
/// subwords.
fn owners(ranges: &[Range<usize>], cum: &[usize], n: usize) -> Vec<usize> {
    let mut owner = Vec::with_capacity(n);
    let mut first = 0; // first window that may still contain the current word
    for w in 0..n {
        while ranges[first].end <= w {
            first += 1;
        }
        let mut best = (first, i64::MIN);
        for (j, r) in ranges.iter().enumerate().skip(first) {
            if r.start > w {
                break;
            }
            let left = if r.start == 0 {
                i64::MAX
            } else {
                (cum[w] - cum[r.start]) as i64
            };
            let right = if r.end == n {
                i64::MAX
            } else {
                (cum[r.end] - cum[w + 1]) as i64
            };
            let score = left.min(right);
            if score > best.1 {
                best = (j, score);
            }
        }
        owner.push(best.0);
    }
    owner
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn words(w: &Windows) -> Vec<Range<usize>> {
        w.windows.iter().map(|w| w.words.clone()).collect()
    }

    #[test]
    fn table() {
        // (subwords, budget, overlap, sentences, windows, owners)
        #[allow(clippy::type_complexity, clippy::single_range_in_vec_init)]
        let cases: &[(
            &[usize],
            usize,
            usize,
            Option<&[Range<usize>]>,
            &[Range<usize>],
            &[usize],
        )] = &[
            (&[], 4, 1, None, &[], &[]),
            (&[1, 1, 1], 4, 1, None, &[0..3], &[0, 0, 0]),
            (&[1, 1, 1, 1], 4, 2, None, &[0..4], &[0, 0, 0, 0]),
            (
                &[1, 1, 1, 1, 1, 1],
                4,
                2,
                None,
                &[0..4, 2..6],
                &[0, 0, 0, 1, 1, 1],
            ),
            (
                &[1, 1, 1, 1, 1, 1],
                4,
                0,
                None,
                &[0..4, 4..6],
                &[0, 0, 0, 0, 1, 1],
            ),
            // An overlap over the budget is cut down: windows still advance.
            (
                &[1, 1, 1, 1],
                2,
                9,
                None,
                &[0..2, 1..3, 2..4],
                &[0, 0, 1, 2],
            ),
            // A long word keeps `budget` subwords and sits alone.
            (&[1, 9, 1], 3, 1, None, &[0..1, 1..2, 2..3], &[0, 1, 2]),
            // Sentence ends are preferred when the window stays at least half full.
            (
                &[1, 1, 1, 1, 1, 1, 1, 1],
                5,
                0,
                Some(&[0..3, 3..8]),
                &[0..3, 3..8],
                &[0, 0, 0, 1, 1, 1, 1, 1],
            ),
            (
                &[1, 1, 1, 1, 1, 1, 1, 1],
                5,
                0,
                Some(&[0..1, 1..8]),
                &[0..5, 5..8],
                &[0, 0, 0, 0, 0, 1, 1, 1],
            ),
            // Zero-subword words take no budget.
            (
                &[0, 2, 0, 2, 0],
                2,
                0,
                None,
                &[0..3, 2..5],
                &[0, 0, 0, 1, 1],
            ),
        ];
        for (i, (sub, budget, overlap, sentences, expect, own)) in cases.iter().enumerate() {
            let w = plan_windows(sub, *budget, *overlap, *sentences).unwrap();
            assert_eq!(words(&w), *expect, "case {i}");
            assert_eq!(w.owner, *own, "case {i}");
        }
    }

    #[test]
    fn long_word_is_truncated_not_dropped() {
        let w = plan_windows(&[2, 7, 1], 4, 1, None).unwrap();
        assert_eq!(w.truncated, [1]);
        assert_eq!(w.word_subwords(1), Some(2..6));
        let j = w.owner[1];
        assert_eq!(w.windows[j].subwords, 2..6);
        assert_eq!(w.word_subwords(3), None);
    }

    #[test]
    fn zero_budget_is_an_error() {
        assert!(matches!(
            plan_windows(&[1], 0, 0, None),
            Err(Error::ZeroWindowBudget)
        ));
    }

    #[test]
    fn owner_is_most_central() {
        // Windows 0..4 and 2..6 of 1-subword words: word 2 has 2 left / 1 right in window 0 and
        // 0 left / inf right in window 1 → window 0; word 3 has 3 / 0 vs 1 / inf → window 1.
        let w = plan_windows(&[1; 6], 4, 2, None).unwrap();
        assert_eq!(w.owner, [0, 0, 0, 1, 1, 1]);
        assert_eq!(w.owned(0), 0..3);
        assert_eq!(w.owned(1), 3..6);
        assert_eq!(w.owned(2), 6..6);
    }

    fn sentences_from(cuts: &[bool]) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, &cut) in cuts.iter().enumerate() {
            if cut && i + 1 > start {
                out.push(start..i + 1);
                start = i + 1;
            }
        }
        if start < cuts.len() {
            out.push(start..cuts.len());
        }
        out
    }

    proptest! {
        #[test]
        fn windows_hold_their_invariants(
            sub in prop::collection::vec(prop_oneof![8 => 1usize..4, 1 => 0usize..1, 1 => 4usize..20], 0..80),
            budget in 1usize..24,
            overlap in 0usize..30,
            cuts in prop::collection::vec(any::<bool>(), 80),
            use_sentences in any::<bool>(),
        ) {
            let sentences = sentences_from(&cuts[..sub.len()]);
            let sents = use_sentences.then_some(sentences.as_slice());
            let w = plan_windows(&sub, budget, overlap, sents).unwrap();
            let n = sub.len();
            prop_assert_eq!(w.owner.len(), n);
            let kept: Vec<usize> = sub.iter().map(|&c| c.min(budget)).collect();
            // A sequence that fits is one window.
            if kept.iter().sum::<usize>() <= budget && n > 0 {
                prop_assert_eq!(w.windows.len(), 1);
            }
            let mut covered = vec![false; n];
            let mut prev: Option<&Window> = None;
            for win in &w.windows {
                prop_assert!(win.words.start < win.words.end);
                prop_assert!(kept[win.words.clone()].iter().sum::<usize>() <= budget);
                prop_assert!(win.subwords.len() <= budget);
                for c in &mut covered[win.words.clone()] { *c = true; }
                if let Some(p) = prev {
                    prop_assert!(p.words.start < win.words.start);
                    prop_assert!(p.words.end < win.words.end);
                    prop_assert!(win.words.start <= p.words.end, "gap between windows");
                }
                prev = Some(win);
            }
            prop_assert!(covered.iter().all(|&c| c));
            for (i, &o) in w.owner.iter().enumerate() {
                prop_assert!(w.windows[o].words.contains(&i));
                if i > 0 {
                    let p = w.owner[i - 1];
                    prop_assert!(o >= p, "owners out of order at {}", i);
                }
            }
            if let (Some(first), Some(last)) = (w.owner.first(), w.owner.last()) {
                prop_assert_eq!(*first, 0);
                prop_assert_eq!(*last, w.windows.len() - 1);
            }
            for j in 0..w.windows.len() {
                let owned = w.owned(j);
                prop_assert!(owned.clone().all(|i| w.owner[i] == j));
            }
        }
    }
}
