//! Padding a list of encodings into the tensors the encoder takes.

use candle_core::{Device, Tensor};

use crate::casing::Casing;
use crate::error::{Error, Result};
use crate::tokenize::Encoding;

/// A padded batch, right-padded to the longest sequence.
#[derive(Debug, Clone)]
pub struct Batch {
    /// (batch, seq) u32.
    pub input_ids: Tensor,
    /// (batch, seq) u32; padding is [`Casing::Special`].
    pub casing_ids: Tensor,
    /// (batch, seq) u32: 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// Real length of each sequence.
    pub lengths: Vec<usize>,
}

impl Batch {
    /// Pads `encodings` with `pad_id`. Fails on an empty list or a sequence longer than
    /// `max_len` (the model's `max_position_embeddings`).
    pub fn new(
        encodings: &[&Encoding],
        pad_id: u32,
        max_len: usize,
        device: &Device,
    ) -> Result<Self> {
        let seqs: Vec<(&[u32], &[u32])> = encodings
            .iter()
            .map(|e| (&e.ids[..], &e.casing[..]))
            .collect();
        Self::from_parts(&seqs, pad_id, max_len, device)
    }

    /// Like [`Batch::new`] from `(subword ids, casing ids)` pairs of equal length.
    pub fn from_parts(
        seqs: &[(&[u32], &[u32])],
        pad_id: u32,
        max_len: usize,
        device: &Device,
    ) -> Result<Self> {
        let lengths: Vec<usize> = seqs.iter().map(|(ids, _)| ids.len()).collect();
        let seq = lengths.iter().copied().max().ok_or(Error::EmptyBatch)?;
        if seq > max_len {
            return Err(Error::TooLong {
                len: seq,
                max: max_len,
            });
        }
        let n = seqs.len();
        let mut ids = vec![pad_id; n * seq];
        let mut casing = vec![Casing::Special.id(); n * seq];
        let mut mask = vec![0u32; n * seq];
        for (row, (seq_ids, seq_casing)) in seqs.iter().enumerate() {
            if seq_casing.len() != seq_ids.len() {
                return Err(Error::Shape {
                    what: format!("casing ids of sequence {row}"),
                    found: vec![seq_casing.len()],
                    expected: vec![seq_ids.len()],
                });
            }
            let at = row * seq;
            ids[at..at + seq_ids.len()].copy_from_slice(seq_ids);
            casing[at..at + seq_ids.len()].copy_from_slice(seq_casing);
            mask[at..at + seq_ids.len()].fill(1);
        }
        Ok(Self {
            input_ids: Tensor::from_vec(ids, (n, seq), device)?,
            casing_ids: Tensor::from_vec(casing, (n, seq), device)?,
            attention_mask: Tensor::from_vec(mask, (n, seq), device)?,
            lengths,
        })
    }
}
