//! The prediction loop: windows of all documents sorted by length and batched, each word taken
//! from the window where it is most central, and the word vectors the linker reads.

use super::*;

impl Tagger {
    /// Per-word predictions of head `head` for each document (documents without tokens are
    /// tokenised with [`tokenize_document`] first). Windows of all documents are sorted by
    /// length and batched by padded tokens; each word takes the tags of its owner window.
    pub fn predict(&self, docs: &[Document], head: &str) -> Result<Vec<WordPredictions>> {
        let h = self.head_index(head)?;
        let mut out = self.predict_heads(docs, &[h])?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Per-word predictions of several heads (indices) from one encoder pass: `out[i][d]` is
    /// head `heads[i]`'s prediction for document `d`. See [`Tagger::predict`].
    pub fn predict_heads(
        &self,
        docs: &[Document],
        heads: &[usize],
    ) -> Result<Vec<Vec<WordPredictions>>> {
        let inputs = docs
            .iter()
            .map(|d| self.prepare(d))
            .collect::<Result<Vec<_>>>()?;
        self.predict_prepared(&inputs.iter().collect::<Vec<_>>(), heads)
    }

    /// What the model reads of a document: its windows of subword ids (tokenising the document
    /// first when it has no tokens). No tensor work, so it can run beside
    /// [`Tagger::predict_prepared`] on another thread.
    pub fn prepare(&self, doc: &Document) -> Result<DocumentInput> {
        self.windows(&tokenized(doc))
    }

    /// [`Tagger::predict_heads`] on documents already [`prepared`](Tagger::prepare). Windows of
    /// every document are sorted by length and batched together (at most
    /// [`Tagger::set_predict_batch_tokens`] padded subwords a batch); each word takes the
    /// prediction of the window where it is most central.
    pub fn predict_prepared(
        &self,
        inputs: &[&DocumentInput],
        heads: &[usize],
    ) -> Result<Vec<Vec<WordPredictions>>> {
        // The head whose span ends (or, for a proposing linker, words near its spans) the
        // linker reads.
        let linked = self
            .linker
            .as_ref()
            .and_then(|l| self.head_index(&l.config().head).ok())
            .and_then(|h| heads.iter().position(|&x| x == h));
        let proposing = self
            .linker
            .as_ref()
            .is_some_and(|l| l.config().proposals > 0);
        let keep = match linked {
            Some(i) if proposing => KeepVectors::Near(i),
            Some(i) => KeepVectors::SpanEnds(i),
            None => KeepVectors::None,
        };
        let (mut out, vectors) = self.predict_keeping(inputs, heads, keep)?;
        if let Some(i) = linked {
            for (pred, v) in out[i].iter_mut().zip(vectors) {
                pred.vectors = v;
            }
        }
        Ok(out)
    }

    /// [`Tagger::predict_prepared`] (without the linker's vectors) and, from the same encoder
    /// pass, the vectors of every word of each document (each word's first subword, from the
    /// window that owns it), for training a [`Linker`]. `heads` may be empty.
    pub fn predict_with_word_vectors(
        &self,
        inputs: &[&DocumentInput],
        heads: &[usize],
    ) -> Result<(Vec<Vec<WordPredictions>>, Vec<WordVectors>)> {
        self.predict_keeping(inputs, heads, KeepVectors::All)
    }

    /// Per-word predictions of `heads` and, per document, the word vectors `keep` asks for.
    fn predict_keeping(
        &self,
        inputs: &[&DocumentInput],
        heads: &[usize],
        keep: KeepVectors,
    ) -> Result<(Vec<Vec<WordPredictions>>, Vec<WordVectors>)> {
        for &h in heads {
            self.head(h)?;
        }
        let empty: Vec<WordPredictions> = inputs
            .iter()
            .map(|i| WordPredictions {
                tags: vec![0; i.owner.len()],
                scores: vec![0.0; i.owner.len()],
                vectors: WordVectors::default(),
            })
            .collect();
        let mut out = vec![empty; heads.len()];
        let mut vectors = vec![WordVectors::default(); inputs.len()];
        self.for_each_batch(inputs, |chunk, words, lengths| {
            let v = match keep {
                KeepVectors::None => None,
                _ => Some(BatchVectors::new(words)?),
            };
            if let (KeepVectors::All, Some(v)) = (keep, &v) {
                for (b, &(d, w)) in chunk.iter().enumerate() {
                    let window = &inputs[d].windows[w].words;
                    for word in window.clone().filter(|&x| inputs[d].owner[x] == w) {
                        vectors[d].insert(word, v.get(b, word - window.start).to_vec());
                    }
                }
            }
            for (i, (&h, out)) in heads.iter().zip(out.iter_mut()).enumerate() {
                let emissions = self.heads[h].forward(words, false)?;
                let decoded = self.heads[h].decode(&emissions, lengths)?;
                let tag_set = self.heads[h].tag_set();
                let span_ends = (keep == KeepVectors::SpanEnds(i))
                    .then_some(v.as_ref())
                    .flatten();
                let near = (keep == KeepVectors::Near(i))
                    .then_some(v.as_ref())
                    .flatten();
                for (b, (&(d, w), dec)) in chunk.iter().zip(decoded).enumerate() {
                    let window = &inputs[d].windows[w].words;
                    let owner = &inputs[d].owner;
                    // A document too long for proposals keeps span ends only.
                    let long = owner.len() > self.max_proposal_words;
                    let span_ends = span_ends.or(near.filter(|_| long));
                    if let Some(v) = near.filter(|_| !long) {
                        let tagged = |t: &_| tag_set.tag(*t).is_some_and(|t| t != Tag::O);
                        let keep = near_tagged(&dec.tags, tagged, PROPOSAL_REACH);
                        for word in window.clone().filter(|&x| owner[x] == w) {
                            let at = word - window.start;
                            if keep.get(at).copied().unwrap_or(false) {
                                vectors[d].insert(word, v.get(b, at).to_vec());
                            }
                        }
                    }
                    for word in window.clone().filter(|&x| owner[x] == w) {
                        let at = word - window.start;
                        out[d].tags[word] = dec.tags[at];
                        out[d].scores[word] = dec.scores[at];
                        let Some(v) = span_ends else { continue };
                        let tag = |j: usize| dec.tags.get(j).and_then(|&t| tag_set.tag(t));
                        let first = word == 0 || owner[word - 1] != w;
                        let last = owner.get(word + 1).is_none_or(|&o| o != w);
                        let next = if last { None } else { tag(at + 1) };
                        let prev = if first {
                            None
                        } else {
                            at.checked_sub(1).and_then(tag)
                        };
                        if tag(at).is_some_and(|t| span_end(prev, t, next)) {
                            vectors[d].insert(word, v.get(b, at).to_vec());
                            // And the word after a span: decoding may make it a cue (a dash
                            // that signs a quote, `align::roles_from_tags`).
                            if !last {
                                vectors[d].insert(word + 1, v.get(b, at + 1).to_vec());
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok((out, vectors))
    }

    /// Runs the encoder over the windows of `inputs`, sorted by length and batched by padded
    /// subwords, and hands `f` each batch: its (document, window) pairs, the words' vectors
    /// (batch, words, hidden) and the windows' word counts.
    fn for_each_batch(
        &self,
        inputs: &[&DocumentInput],
        mut f: impl FnMut(&[(usize, usize)], &Tensor, &[usize]) -> Result<()>,
    ) -> Result<()> {
        let mut items: Vec<(usize, usize)> = inputs
            .iter()
            .enumerate()
            .flat_map(|(d, i)| (0..i.windows.len()).map(move |w| (d, w)))
            .collect();
        let len = |&(d, w): &(usize, usize)| inputs[d].windows[w].ids.len();
        items.sort_by_key(|item| std::cmp::Reverse(len(item)));
        let mut start = 0;
        while start < items.len() {
            let longest = len(&items[start]);
            let take = (self.predict_batch_tokens / longest.max(1)).max(1);
            let chunk = &items[start..(start + take).min(items.len())];
            start += chunk.len();
            let windows: Vec<_> = chunk.iter().map(|&(d, w)| &inputs[d].windows[w]).collect();
            let (batch, positions) = self.batch_inputs(
                windows
                    .iter()
                    .map(|w| (&w.ids[..], &w.casing[..], &w.first[..])),
            )?;
            let hidden = self.encode(&batch, false)?;
            let words = positions.gather(&hidden)?; // (batch, words, hidden)
            f(chunk, &words, positions.lengths())?;
        }
        Ok(())
    }
}

/// Which word vectors a prediction keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeepVectors {
    None,
    /// The first and last words of the spans of head `heads[i]` (what the linker reads), and
    /// the word after each (a dash after a quote that decoding makes its cue).
    SpanEnds(usize),
    /// Every word within [`PROPOSAL_REACH`] words (in its window) of a span of head
    /// `heads[i]` (what a proposing linker reads); as `SpanEnds` in a document of more than
    /// [`Tagger::set_max_proposal_words`] words.
    Near(usize),
    /// Every word's.
    All,
}

/// A batch's word vectors `(batch, words, hidden)` copied out of the tensor in one piece.
struct BatchVectors {
    data: Vec<f32>,
    words: usize,
    hidden: usize,
}

impl BatchVectors {
    fn new(words: &Tensor) -> Result<Self> {
        let (_, n, hidden) = words.dims3()?;
        let data = words
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(BatchVectors {
            data,
            words: n,
            hidden,
        })
    }

    /// The vector of word `at` of window `b`.
    fn get(&self, b: usize, at: usize) -> &[f32] {
        let start = (b * self.words + at) * self.hidden;
        &self.data[start..start + self.hidden]
    }
}

/// Which positions lie within `reach` positions of one whose tag `tagged` says yes to.
fn near_tagged<T>(tags: &[T], tagged: impl Fn(&T) -> bool, reach: usize) -> Vec<bool> {
    let mut out = vec![false; tags.len()];
    let mut last: Option<usize> = None;
    for (i, t) in tags.iter().enumerate() {
        if tagged(t) {
            last = Some(i);
        }
        out[i] = last.is_some_and(|l| i - l <= reach);
    }
    let mut next: Option<usize> = None;
    for (i, t) in tags.iter().enumerate().rev() {
        if tagged(t) {
            next = Some(i);
        }
        out[i] |= next.is_some_and(|n| n - i <= reach);
    }
    out
}

/// Whether a word tagged `tag`, between words tagged `prev` and `next` (`None`: not in the same
/// window, or none), starts or ends a span: the words whose vectors the linker reads.
fn span_end(prev: Option<Tag>, tag: Tag, next: Option<Tag>) -> bool {
    use byline_core::Prefix;
    if tag.prefix() == Prefix::O {
        return false;
    }
    let continues = |a: Tag, b: Tag| {
        a.label() == b.label()
            && matches!(b.prefix(), Prefix::I | Prefix::E)
            && a.prefix() != Prefix::O
    };
    let starts = prev.is_none_or(|p| !continues(p, tag));
    let ends = next.is_none_or(|n| !continues(tag, n));
    starts || ends
}

#[cfg(test)]
mod near_tests {
    use super::near_tagged;

    #[test]
    fn near_marks_positions_within_reach_of_a_tagged_one() {
        let tags = [0, 0, 0, 1, 0, 0, 0, 0, 1, 0];
        let near = near_tagged(&tags, |&t| t == 1, 2);
        let expect = [false, true, true, true, true, true, true, true, true, true];
        assert_eq!(near, expect);
        assert!(near_tagged(&[0, 0], |&t| t == 1, 5).iter().all(|&x| !x));
        assert_eq!(
            near_tagged(&[1, 0, 0], |&t| t == 1, 0),
            [true, false, false]
        );
    }
}

#[cfg(test)]
mod span_end_tests {
    use super::span_end;
    use byline_core::{LabelId, Prefix, Tag};

    #[test]
    fn span_ends_are_first_and_last_words_of_spans() {
        let t = |p: Prefix, l: u16| Tag::new(p, Some(LabelId(l))).unwrap();
        let (b, i, o) = (Prefix::B, Prefix::I, Tag::O);
        let cases: &[(Option<Tag>, Tag, Option<Tag>, bool)] = &[
            (None, o, None, false),
            (Some(o), t(b, 0), Some(t(i, 0)), true), // starts
            (Some(t(b, 0)), t(i, 0), Some(t(i, 0)), false), // inside
            (Some(t(b, 0)), t(i, 0), Some(o), true), // ends
            (Some(t(b, 0)), t(i, 0), Some(t(b, 0)), true), // ends before a new span
            (Some(t(i, 1)), t(i, 0), Some(t(i, 0)), true), // another label before
            (Some(t(b, 0)), t(i, 0), None, true),    // the window's last owned word
            (None, t(i, 0), Some(t(i, 0)), true),    // the window's first owned word
        ];
        for &(prev, tag, next, expect) in cases {
            assert_eq!(
                span_end(prev, tag, next),
                expect,
                "{prev:?} {tag:?} {next:?}"
            );
        }
    }
}
