//! The tagger's training side: document windows, training examples with gold tags, padded
//! batches, and the loss.

use super::*;

impl Tagger {
    /// Cuts a tokenised document into windows (see [`crate::features`]).
    pub fn windows(&self, doc: &Document) -> Result<DocumentInput> {
        document_windows(&self.tokenizer, self.specials, &self.spec.window, doc)
    }

    /// Training examples of head `head` from documents with gold annotations (entities or
    /// attributions, by the head's kind): one per window. Documents without tokens are tokenised
    /// first. Also returns how many gold spans had to be approximated, clipped or dropped.
    pub fn examples(
        &self,
        head: usize,
        docs: &[Document],
    ) -> Result<(Vec<TagExample>, byline_core::align::AlignStats)> {
        let spec = self.head_spec(head)?;
        let tag_set = self.heads[head].tag_set();
        let mut stats = byline_core::align::AlignStats::default();
        let mut examples = Vec::new();
        for doc in docs {
            let doc = tokenized(doc);
            let word_tags = match spec.kind {
                HeadKind::Entities => entity_tags(&doc, tag_set),
                HeadKind::Attributions => role_tags(&doc, tag_set),
            };
            stats += word_tags.stats;
            let gold = word_tags
                .tags
                .iter()
                .map(|&t| {
                    tag_set.index(t).ok_or_else(|| Error::InvalidTagger {
                        message: format!("document `{}`: a gold tag is not in the tag set", doc.id),
                    })
                })
                .collect::<Result<Vec<usize>>>()?;
            for w in self.windows(&doc)?.windows {
                examples.push(TagExample {
                    head,
                    gold: gold[w.words.clone()].to_vec(),
                    ids: w.ids,
                    casing: w.casing,
                    first: w.first,
                });
            }
        }
        Ok((examples, stats))
    }

    /// Pads training examples of head `head` into a batch.
    pub fn collate(&self, head: usize, examples: &[&TagExample]) -> Result<TagTrainBatch> {
        let tags = self.head(head)?.tag_set().len();
        let (batch, positions) = self.batch_inputs(
            examples
                .iter()
                .map(|e| (&e.ids[..], &e.casing[..], &e.first[..])),
        )?;
        let gold: Vec<&[usize]> = examples.iter().map(|e| &e.gold[..]).collect();
        let gold = TagBatch::new(&gold, tags, &self.device)?;
        Ok(TagTrainBatch {
            head,
            batch,
            positions,
            gold,
        })
    }

    /// Pads windows, each given as (subword ids, casing ids, position of each word's first
    /// subword), into an encoder batch and the word positions to gather from its output.
    pub(super) fn batch_inputs<'a>(
        &self,
        windows: impl Iterator<Item = (&'a [u32], &'a [u32], &'a [Option<usize>])>,
    ) -> Result<(Batch, WordPositions)> {
        let mut seqs = Vec::new();
        let mut first = Vec::new();
        for (ids, casing, words) in windows {
            seqs.push((ids, casing));
            first.push(words);
        }
        let batch = Batch::from_parts(
            &seqs,
            self.tokenizer.pad_id(),
            self.config.max_positions(),
            &self.device,
        )?;
        let seq_len = batch.input_ids.dims2()?.1;
        let positions = WordPositions::new(&first, seq_len, &self.device)?;
        Ok((batch, positions))
    }

    /// The loss of a training batch (mean per word); dropout when `train`.
    pub fn loss(&self, batch: &TagTrainBatch, train: bool) -> Result<Tensor> {
        let hidden = self.encode(&batch.batch, train)?;
        self.head_loss(batch.head, &hidden, &batch.positions, &batch.gold, train)
    }

    /// The loss of head `head` from encoder output `hidden` (batch, seq, hidden): only each
    /// word's first subword is read.
    pub fn head_loss(
        &self,
        head: usize,
        hidden: &Tensor,
        positions: &WordPositions,
        gold: &TagBatch,
        train: bool,
    ) -> Result<Tensor> {
        let head = self.head(head)?;
        let words = positions.gather(hidden)?; // (batch, words, hidden)
        let emissions = head.forward(&words, train)?; // (batch, words, tags)
        head.loss(&emissions, gold)
    }
}
