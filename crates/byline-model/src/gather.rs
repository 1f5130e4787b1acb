//! From subwords to words: pick each word's first subword out of the encoder output.
//!
//! A word's label is carried by its first subword (as in BERT's CoNLL-2003 recipe). The
//! encoder output (batch, seq, hidden) is flattened to (batch * seq, hidden) and one
//! `index_select` picks (batch * max_words) rows, so the gradient flows back to exactly the
//! subwords picked.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// Where each word's first subword sits in a padded batch of subword sequences.
#[derive(Debug, Clone)]
pub struct WordPositions {
    /// (batch * max_words,) u32: rows of the flattened (batch * seq, hidden) encoder output.
    index: Tensor,
    /// (batch, max_words) f32: 1 for real words, 0 for padding.
    mask: Tensor,
    lengths: Vec<usize>,
    seq_len: usize,
}

impl WordPositions {
    /// `first_subwords[b][w]` is the subword position of word `w` of sequence `b` (as from
    /// [`crate::Encoding::first_subwords`]) in a batch padded to `seq_len` subwords.
    ///
    /// A word the tokenizer produced nothing for (`None`) reads the previous word's first
    /// subword, or position 0 (`[CLS]`) when it is the first word: it still gets a tag, from
    /// its context. A position `>= seq_len` is an error.
    pub fn new<S: AsRef<[Option<usize>]>>(
        first_subwords: &[S],
        seq_len: usize,
        device: &Device,
    ) -> Result<Self> {
        if first_subwords.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let batch = first_subwords.len();
        let lengths: Vec<usize> = first_subwords.iter().map(|f| f.as_ref().len()).collect();
        let width = lengths.iter().copied().max().unwrap_or(0);
        let mut index = vec![0u32; batch * width];
        let mut mask = vec![0f32; batch * width];
        for (sequence, words) in first_subwords.iter().enumerate() {
            let base = sequence * seq_len;
            let mut previous = 0;
            for (word, &position) in words.as_ref().iter().enumerate() {
                let position = position.unwrap_or(previous);
                if position >= seq_len {
                    return Err(Error::BadSubword {
                        sequence,
                        word,
                        position,
                        seq_len,
                    });
                }
                previous = position;
                index[sequence * width + word] = to_u32(base + position)?;
                mask[sequence * width + word] = 1.0;
            }
            // Padding words read the sequence's first row: any valid row will do.
            for slot in &mut index[sequence * width + words.as_ref().len()..(sequence + 1) * width]
            {
                *slot = to_u32(base)?;
            }
        }
        Ok(Self {
            index: Tensor::from_vec(index, batch * width, device)?,
            mask: Tensor::from_vec(mask, (batch, width), device)?,
            lengths,
            seq_len,
        })
    }

    pub fn batch_size(&self) -> usize {
        self.lengths.len()
    }

    /// Words in each sequence.
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    pub fn max_words(&self) -> usize {
        self.lengths.iter().copied().max().unwrap_or(0)
    }

    /// (batch, max_words) f32: 1 for real words, 0 for padding.
    pub fn mask(&self) -> &Tensor {
        &self.mask
    }

    /// `hidden` (batch, seq, hidden) -> (batch, max_words, hidden), padding words filled with
    /// each sequence's first subword (mask them out).
    pub fn gather(&self, hidden: &Tensor) -> Result<Tensor> {
        let (batch, seq, dim) = hidden.dims3()?;
        if batch != self.batch_size() || seq != self.seq_len {
            return Err(Error::Shape {
                what: "encoder output (batch, seq, hidden)".into(),
                found: vec![batch, seq, dim],
                expected: vec![self.batch_size(), self.seq_len, dim],
            });
        }
        let words = self.max_words();
        if words == 0 {
            return Ok(Tensor::zeros(
                (batch, 0, dim),
                hidden.dtype(),
                hidden.device(),
            )?);
        }
        Ok(hidden
            .reshape((batch * seq, dim))? // (batch * seq, hidden)
            .index_select(&self.index, 0)? // (batch * words, hidden)
            .reshape((batch, words, dim))?)
    }
}

fn to_u32(row: usize) -> Result<u32> {
    u32::try_from(row).map_err(|_| Error::Shape {
        what: "flattened encoder output rows".into(),
        found: vec![row],
        expected: vec![u32::MAX as usize],
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor, Var};

    use super::WordPositions;
    use crate::error::Error;

    /// (batch, seq, 2) with row `b * seq + s` holding `[b * seq + s, -(b * seq + s)]`.
    fn numbered(batch: usize, seq: usize) -> Tensor {
        let v: Vec<f32> = (0..batch * seq)
            .flat_map(|r| [r as f32, -(r as f32)])
            .collect();
        Tensor::from_vec(v, (batch, seq, 2), &Device::Cpu).unwrap()
    }

    #[test]
    fn gather_picks_first_subwords() {
        let seq = 6;
        // [CLS] Angela Mer ##kel . [SEP] / [CLS] Paris [SEP] <pad>...; a word without subwords.
        let first = [
            vec![Some(1), Some(2), Some(4)],
            vec![Some(1)],
            vec![None, Some(2), None],
        ];
        let positions = WordPositions::new(&first, seq, &Device::Cpu).unwrap();
        assert_eq!(positions.lengths(), &[3, 1, 3]);
        let words = positions.gather(&numbered(3, seq)).unwrap();
        assert_eq!(words.dims(), &[3, 3, 2]);
        let picked: Vec<Vec<f32>> = words
            .narrow(2, 0, 1)
            .unwrap()
            .squeeze(2)
            .unwrap()
            .to_vec2()
            .unwrap();
        // Padding words read row 0 of their sequence; a missing word its predecessor's row
        // (or [CLS]).
        assert_eq!(
            picked,
            vec![
                vec![1.0, 2.0, 4.0],
                vec![7.0, 6.0, 6.0],
                vec![12.0, 14.0, 14.0]
            ]
        );
        let mask: Vec<Vec<f32>> = positions.mask().to_vec2().unwrap();
        assert_eq!(mask, vec![vec![1.0; 3], vec![1.0, 0.0, 0.0], vec![1.0; 3]]);
    }

    #[test]
    fn gradient_reaches_only_the_picked_subwords() {
        let positions = WordPositions::new(&[vec![Some(2), Some(0)]], 3, &Device::Cpu).unwrap();
        let hidden = Var::from_tensor(&numbered(1, 3)).unwrap();
        let loss = positions
            .gather(hidden.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let g: Vec<Vec<f32>> = grads
            .get(hidden.as_tensor())
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(g, vec![vec![1.0, 1.0], vec![0.0, 0.0], vec![1.0, 1.0]]);
    }

    #[test]
    fn bad_positions_and_shapes_are_errors() {
        let dev = &Device::Cpu;
        let err = WordPositions::new(&[vec![Some(1)], vec![Some(0), Some(4)]], 4, dev).unwrap_err();
        assert!(matches!(
            err,
            Error::BadSubword {
                sequence: 1,
                word: 1,
                position: 4,
                seq_len: 4
            }
        ));
        assert!(matches!(
            WordPositions::new::<Vec<Option<usize>>>(&[], 4, dev),
            Err(Error::EmptyBatch)
        ));
        let positions = WordPositions::new(&[vec![Some(1)]], 4, dev).unwrap();
        assert!(matches!(
            positions.gather(&numbered(1, 5)),
            Err(Error::Shape { .. })
        ));
        let empty = WordPositions::new(&[Vec::<Option<usize>>::new()], 4, dev).unwrap();
        let words = empty
            .gather(&Tensor::zeros((1, 4, 2), DType::F32, dev).unwrap())
            .unwrap();
        assert_eq!(words.dims(), &[1, 0, 2]);
    }
}
