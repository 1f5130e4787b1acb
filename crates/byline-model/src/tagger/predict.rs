//! The prediction loop: windows of all documents sorted by length and batched, each head's
//! emissions averaged per word over the windows that hold it and each document decoded whole,
//! and the word vectors the linker reads (each word's from the window where it is most central).

use super::*;
use crate::chain::Chain;

impl Tagger {
    /// Per-word predictions of head `head` for each document (documents without tokens are
    /// tokenised with [`tokenize_document`] first). Windows of all documents are sorted by
    /// length and batched by padded tokens; each document is decoded whole from its words'
    /// emissions averaged over the windows that hold them.
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
    /// [`Tagger::set_predict_batch_tokens`] padded subwords a batch); each document is decoded
    /// whole (see [`Tagger::predict`]).
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
    ///
    /// Each head's emissions of every window are averaged per word over the windows that hold
    /// it, and each document is decoded once as a whole (one Viterbi path, one set of
    /// marginals): no seam where one window's tags meet the next's, the CRF's start and end
    /// scores only at the document's ends, and each word of an overlap read in two contexts.
    fn predict_keeping(
        &self,
        inputs: &[&DocumentInput],
        heads: &[usize],
        keep: KeepVectors,
    ) -> Result<(Vec<Vec<WordPredictions>>, Vec<WordVectors>)> {
        let mut sums = Vec::with_capacity(heads.len());
        for &h in heads {
            let tags = self.head(h)?.tag_set().len();
            sums.push(
                inputs
                    .iter()
                    .map(|i| EmissionSum::new(i.owner.len(), tags))
                    .collect::<Vec<_>>(),
            );
        }
        let chains = heads
            .iter()
            .map(|&h| self.heads[h].chain())
            .collect::<Result<Vec<_>>>()?;
        let mut vectors = vec![WordVectors::default(); inputs.len()];
        let windows = all_windows(inputs);
        self.for_each_batch(inputs, &windows, |chunk, words, lengths| {
            let v = match keep {
                KeepVectors::None => None,
                _ => Some(HostRows::new(words)?),
            };
            if let (KeepVectors::All, Some(v)) = (keep, &v) {
                for (b, &(d, w)) in chunk.iter().enumerate() {
                    for word in owned(inputs[d], w) {
                        let at = word - inputs[d].windows[w].words.start;
                        vectors[d].insert(word, v.get(b, at).to_vec());
                    }
                }
            }
            for (i, (&h, sums)) in heads.iter().zip(sums.iter_mut()).enumerate() {
                let emissions = self.heads[h].forward(words, false)?;
                let host = HostRows::new(&emissions)?;
                for (b, &(d, w)) in chunk.iter().enumerate() {
                    let window = &inputs[d].windows[w].words;
                    for word in window.clone() {
                        sums[d].add(word, host.get(b, word - window.start));
                    }
                }
                // The vectors the linker will read are chosen by the document's tags, known
                // only after the last batch; meanwhile each window's own best path picks the
                // likely ones, and the few it misses are fetched afterwards.
                if let (KeepVectors::SpanEnds(k) | KeepVectors::Near(k), Some(v)) = (keep, &v) {
                    if k != i {
                        continue;
                    }
                    let tag_set = self.heads[h].tag_set();
                    for (b, &(d, w)) in chunk.iter().enumerate() {
                        let start = inputs[d].windows[w].words.start;
                        let tags = chains[i].best_path(host.rows(b, 0, lengths[b]));
                        let wanted = self.wanted_words(keep, &tags, tag_set, inputs[d]);
                        for word in owned(inputs[d], w) {
                            if wanted[word - start] {
                                vectors[d].insert(word, v.get(b, word - start).to_vec());
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
        let out: Vec<Vec<WordPredictions>> = sums
            .into_iter()
            .zip(&chains)
            .map(|(sums, chain)| sums.into_iter().map(|s| s.decode(chain)).collect())
            .collect();
        if let KeepVectors::SpanEnds(i) | KeepVectors::Near(i) = keep {
            let tag_set = self.heads[heads[i]].tag_set();
            let wanted: Vec<Vec<bool>> = out[i]
                .iter()
                .zip(inputs)
                .map(|(pred, input)| self.wanted_words(keep, &pred.tags, tag_set, input))
                .collect();
            self.fetch_missing_vectors(inputs, &wanted, &mut vectors)?;
            for (v, wanted) in vectors.iter_mut().zip(&wanted) {
                v.retain(|word| wanted[word]);
            }
        }
        Ok((out, vectors))
    }

    /// Which words of a tag sequence (a window's or a whole document's) the linker reads under
    /// `keep`: the first and last word of each span and the word after it (a dash after a
    /// quote that decoding makes its cue), or, for a proposing linker, every word within
    /// [`PROPOSAL_REACH`] of a span (span ends only in a document too long for proposals).
    fn wanted_words(
        &self,
        keep: KeepVectors,
        tags: &[usize],
        tag_set: &TagSet,
        input: &DocumentInput,
    ) -> Vec<bool> {
        let tag = |j: usize| tag_set.tag(tags[j]);
        let long = input.owner.len() > self.max_proposal_words;
        if matches!(keep, KeepVectors::Near(_)) && !long {
            let tagged = |t: &usize| tag_set.tag(*t).is_some_and(|t| t != Tag::O);
            return near_tagged(tags, tagged, PROPOSAL_REACH);
        }
        let mut wanted = vec![false; tags.len()];
        for j in 0..tags.len() {
            let prev = j.checked_sub(1).and_then(tag);
            let next = (j + 1 < tags.len()).then(|| tag(j + 1)).flatten();
            if tag(j).is_some_and(|t| span_end(prev, t, next)) {
                wanted[j] = true;
                if j + 1 < tags.len() {
                    wanted[j + 1] = true;
                }
            }
        }
        wanted
    }

    /// Encodes again the windows that own a `wanted` word of which `vectors` has no vector yet
    /// (the document's decoding moved a span end away from where its window's put it), and
    /// takes those words' vectors.
    fn fetch_missing_vectors(
        &self,
        inputs: &[&DocumentInput],
        wanted: &[Vec<bool>],
        vectors: &mut [WordVectors],
    ) -> Result<()> {
        let mut windows: Vec<(usize, usize)> = Vec::new();
        for (d, (input, wanted)) in inputs.iter().zip(wanted).enumerate() {
            for (word, _) in wanted.iter().enumerate().filter(|(_, &w)| w) {
                if vectors[d].get(word).is_none() {
                    windows.push((d, input.owner[word]));
                }
            }
        }
        windows.dedup();
        if windows.is_empty() {
            return Ok(());
        }
        tracing::debug!(
            windows = windows.len(),
            "encoding windows again for vectors"
        );
        self.for_each_batch(inputs, &windows, |chunk, words, _| {
            let v = HostRows::new(words)?;
            for (b, &(d, w)) in chunk.iter().enumerate() {
                let start = inputs[d].windows[w].words.start;
                for word in owned(inputs[d], w) {
                    if wanted[d][word] && vectors[d].get(word).is_none() {
                        vectors[d].insert(word, v.get(b, word - start).to_vec());
                    }
                }
            }
            Ok(())
        })
    }

    /// Runs the encoder over `windows` ((document, window) pairs of `inputs`), sorted by length
    /// and batched by padded subwords, and hands `f` each batch: its pairs, the words' vectors
    /// (batch, words, hidden) and the windows' word counts.
    fn for_each_batch(
        &self,
        inputs: &[&DocumentInput],
        windows: &[(usize, usize)],
        mut f: impl FnMut(&[(usize, usize)], &Tensor, &[usize]) -> Result<()>,
    ) -> Result<()> {
        let mut items = windows.to_vec();
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

/// Every (document, window) pair of `inputs`.
fn all_windows(inputs: &[&DocumentInput]) -> Vec<(usize, usize)> {
    inputs
        .iter()
        .enumerate()
        .flat_map(|(d, i)| (0..i.windows.len()).map(move |w| (d, w)))
        .collect()
}

/// The words window `w` of `input` owns (whose vectors are taken from it).
fn owned(input: &DocumentInput, w: usize) -> impl Iterator<Item = usize> + '_ {
    input.windows[w]
        .words
        .clone()
        .filter(move |&x| input.owner[x] == w)
}

/// One head's emissions of a document, summed per word over the windows that hold it.
struct EmissionSum {
    sum: Vec<f32>,
    count: Vec<u32>,
    tags: usize,
}

impl EmissionSum {
    fn new(words: usize, tags: usize) -> Self {
        EmissionSum {
            sum: vec![0.0; words * tags],
            count: vec![0; words],
            tags,
        }
    }

    fn add(&mut self, word: usize, emissions: &[f32]) {
        let row = &mut self.sum[word * self.tags..(word + 1) * self.tags];
        for (s, e) in row.iter_mut().zip(emissions) {
            *s += e;
        }
        self.count[word] += 1;
    }

    /// The document's tags and marginals from the mean emissions. A word no window held (none
    /// in a document without words) cannot occur: every word belongs to a window.
    fn decode(mut self, chain: &Chain) -> WordPredictions {
        for (row, &n) in self.sum.chunks_exact_mut(self.tags).zip(&self.count) {
            let inv = 1.0 / n.max(1) as f32;
            row.iter_mut().for_each(|x| *x *= inv);
        }
        let decoded = chain.decode(&self.sum);
        WordPredictions {
            tags: decoded.tags,
            scores: decoded.scores,
            vectors: WordVectors::default(),
        }
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

/// A batch's rows `(batch, words, width)` (word vectors, or a head's emissions) copied out of
/// the tensor in one piece.
struct HostRows {
    data: Vec<f32>,
    words: usize,
    width: usize,
}

impl HostRows {
    fn new(words: &Tensor) -> Result<Self> {
        let (_, n, width) = words.dims3()?;
        let data = words
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(HostRows {
            data,
            words: n,
            width,
        })
    }

    /// Row `at` (a word) of window `b`.
    fn get(&self, b: usize, at: usize) -> &[f32] {
        self.rows(b, at, 1)
    }

    /// `count` consecutive rows of window `b` from word `at`, flat.
    fn rows(&self, b: usize, at: usize, count: usize) -> &[f32] {
        let start = (b * self.words + at) * self.width;
        &self.data[start..start + count * self.width]
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
