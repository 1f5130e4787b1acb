//! Gold tag sequences of a batch, checked and laid out as the losses need them.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// The gold tags of a batch of word sequences of different lengths, padded to the longest.
///
/// Built once per batch (e.g. on a loader thread); every index is checked against the number of
/// tags here, so the losses never index out of range.
#[derive(Debug, Clone)]
pub struct TagBatch {
    num_tags: usize,
    lengths: Vec<usize>,
    total_words: usize,
    /// (batch, max_len) u32; padding is tag 0.
    pub(crate) tags: Tensor,
    /// (batch, max_len) f32: 1 for real words, 0 for padding.
    pub(crate) mask: Tensor,
    /// (batch, max_len) u8: the same, for `where_cond`.
    pub(crate) mask_u8: Tensor,
    /// (batch,) u32: each sequence's first and last tag (0 for an empty sequence).
    pub(crate) first: Tensor,
    pub(crate) last: Tensor,
    /// (batch * (max_len - 1),) u32: `prev * num_tags + next` for consecutive words; `None`
    /// when no sequence has two words.
    pub(crate) pairs: Option<Tensor>,
    /// (batch,) f32: 1 for a sequence with at least one word.
    pub(crate) nonempty: Tensor,
}

impl TagBatch {
    /// Pads `gold` (one slice of tag indices per sequence) for a tag set of `num_tags` tags.
    pub fn new<S: AsRef<[usize]>>(gold: &[S], num_tags: usize, device: &Device) -> Result<Self> {
        if gold.is_empty() {
            return Err(Error::EmptyBatch);
        }
        for (sequence, tags) in gold.iter().enumerate() {
            if let Some((word, &tag)) = tags
                .as_ref()
                .iter()
                .enumerate()
                .find(|(_, &t)| t >= num_tags)
            {
                return Err(Error::BadTag {
                    sequence,
                    word,
                    tag,
                    num_tags,
                });
            }
        }
        let batch = gold.len();
        let lengths: Vec<usize> = gold.iter().map(|t| t.as_ref().len()).collect();
        let width = lengths.iter().copied().max().unwrap_or(0);
        let mut tags = vec![0u32; batch * width];
        let mut mask = vec![0u8; batch * width];
        let mut pairs = vec![0u32; batch * width.saturating_sub(1)];
        let (mut first, mut last) = (vec![0u32; batch], vec![0u32; batch]);
        for (b, seq) in gold.iter().enumerate() {
            let seq = seq.as_ref();
            for (w, &t) in seq.iter().enumerate() {
                tags[b * width + w] = t as u32;
                mask[b * width + w] = 1;
            }
            for (w, pair) in seq.windows(2).enumerate() {
                pairs[b * (width - 1) + w] = (pair[0] * num_tags + pair[1]) as u32;
            }
            first[b] = seq.first().map_or(0, |&t| t as u32);
            last[b] = seq.last().map_or(0, |&t| t as u32);
        }
        let mask_f: Vec<f32> = mask.iter().map(|&m| f32::from(m)).collect();
        let nonempty: Vec<f32> = lengths
            .iter()
            .map(|&l| if l > 0 { 1.0 } else { 0.0 })
            .collect();
        Ok(Self {
            num_tags,
            total_words: lengths.iter().sum(),
            tags: Tensor::from_vec(tags, (batch, width), device)?,
            mask: Tensor::from_vec(mask_f, (batch, width), device)?,
            mask_u8: Tensor::from_vec(mask, (batch, width), device)?,
            first: Tensor::from_vec(first, batch, device)?,
            last: Tensor::from_vec(last, batch, device)?,
            pairs: (width > 1)
                .then(|| Tensor::from_vec(pairs, batch * (width - 1), device))
                .transpose()?,
            nonempty: Tensor::from_vec(nonempty, batch, device)?,
            lengths,
        })
    }

    pub fn num_tags(&self) -> usize {
        self.num_tags
    }

    pub fn batch_size(&self) -> usize {
        self.lengths.len()
    }

    /// Words in each sequence.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The longest sequence: the number of emission steps the losses read.
    pub fn max_len(&self) -> usize {
        self.lengths.iter().copied().max().unwrap_or(0)
    }

    /// Real words in the batch: the losses are averaged over these.
    pub fn total_words(&self) -> usize {
        self.total_words
    }

    /// Checks `emissions` (batch, words, tags) against this batch and returns the first
    /// `max_len` words of it as f32.
    pub(crate) fn fit(&self, emissions: &Tensor) -> Result<Tensor> {
        let (batch, words, tags) = emissions.dims3()?;
        if batch != self.batch_size() || words < self.max_len() || tags != self.num_tags {
            return Err(Error::Shape {
                what: "emissions (batch, words, tags)".into(),
                found: vec![batch, words, tags],
                expected: vec![self.batch_size(), self.max_len(), self.num_tags],
            });
        }
        Ok(emissions
            .narrow(1, 0, self.max_len())?
            .to_dtype(candle_core::DType::F32)?
            .contiguous()?)
    }
}
