//! Tests of the tagging heads: CRF loss and gradients, decoding, cross-entropy, the head.
//! Checked against brute-force enumeration of every tag path on tiny examples.

use byline_core::scheme::is_valid;
use byline_core::{LabelSet, Scheme, TagSet};
use candle_core::{DType, Device, Result as CandleResult, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use proptest::prelude::*;

use crate::chain::{log_sum_exp, Chain};
use crate::crf::Crf;
use crate::error::Error;
use crate::head::{DecoderKind, HeadConfig, TaggerHead};
use crate::loss::cross_entropy;
use crate::tag_batch::TagBatch;
use crate::testing::{assert_close, finite_difference_check};

/// Deterministic pseudo-random numbers in `[-scale, scale)` (xorshift).
fn noise(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn tag_set(scheme: Scheme, labels: &[&str]) -> TagSet {
    TagSet::new(scheme, &LabelSet::from_names(labels))
}

/// Raw (unmasked) CRF scores for a tag set, fixed by `seed`.
struct Scores {
    transitions: Vec<f32>,
    start: Vec<f32>,
    end: Vec<f32>,
}

impl Scores {
    fn random(n: usize, seed: u64) -> Self {
        Self {
            transitions: noise(seed, n * n, 1.5),
            start: noise(seed + 1, n, 1.0),
            end: noise(seed + 2, n, 1.0),
        }
    }

    fn crf(&self, tags: &TagSet) -> CandleResult<Crf> {
        let n = tags.len();
        let dev = &Device::Cpu;
        Crf::new(
            tags,
            Tensor::from_vec(self.transitions.clone(), (n, n), dev)?,
            Tensor::from_vec(self.start.clone(), n, dev)?,
            Tensor::from_vec(self.end.clone(), n, dev)?,
        )
        .map_err(|e| candle_core::Error::Msg(e.to_string()))
    }

    /// Score of a valid path, `None` for an invalid one.
    fn path(&self, tags: &TagSet, em: &[f32], path: &[usize]) -> Option<f32> {
        let n = tags.len();
        let (&first, &last) = (path.first()?, path.last()?);
        if !tags.allowed_start(first) || !tags.allowed_end(last) {
            return None;
        }
        let mut score = self.start[first] + self.end[last];
        for (s, &t) in path.iter().enumerate() {
            score += em[s * n + t];
            if s > 0 {
                let prev = path[s - 1];
                if !tags.allowed_transition(prev, t) {
                    return None;
                }
                score += self.transitions[prev * n + t];
            }
        }
        Some(score)
    }

    /// All valid paths of `len` words with their scores.
    fn all_paths(&self, tags: &TagSet, em: &[f32], len: usize) -> Vec<(Vec<usize>, f32)> {
        let n = tags.len();
        (0..n.pow(len as u32))
            .filter_map(|mut code| {
                let path: Vec<usize> = (0..len)
                    .map(|_| {
                        let t = code % n;
                        code /= n;
                        t
                    })
                    .collect();
                self.path(tags, em, &path).map(|s| (path, s))
            })
            .collect()
    }
}

fn emissions(values: Vec<f32>, batch: usize, words: usize, tags: usize) -> Tensor {
    Tensor::from_vec(values, (batch, words, tags), &Device::Cpu).unwrap()
}

#[test]
fn crf_nll_equals_brute_force() -> CandleResult<()> {
    // (scheme, labels): each gives 3 tags, with and without forbidden transitions.
    let cases = [
        (Scheme::Iob2, &["X"][..]),
        (Scheme::Iob1, &["X"][..]),
        (Scheme::Io, &["A", "B"][..]),
    ];
    for (k, (scheme, labels)) in cases.into_iter().enumerate() {
        let tags = tag_set(scheme, labels);
        assert_eq!(tags.len(), 3);
        let scores = Scores::random(3, 10 + k as u64);
        let crf = scores.crf(&tags)?;
        let em = noise(20 + k as u64, 3 * 3, 2.0);
        let paths = scores.all_paths(&tags, &em, 3);
        let log_z = log_sum_exp(&paths.iter().map(|p| p.1).collect::<Vec<_>>());
        for (gold, gold_score) in &paths {
            let batch = TagBatch::new(&[gold], 3, &Device::Cpu).unwrap();
            let nll = crf.nll(&emissions(em.clone(), 1, 3, 3), &batch).unwrap();
            let expected = (log_z - gold_score) / 3.0;
            let got = nll.to_scalar::<f32>()?;
            assert!(
                (got - expected).abs() < 1e-5,
                "{scheme} {gold:?}: {got} vs {expected}"
            );
        }
    }
    Ok(())
}

#[test]
fn crf_nll_of_a_batch_is_the_word_weighted_mean_and_ignores_padding() -> CandleResult<()> {
    let tags = tag_set(Scheme::Bioes, &["PER", "LOC"]); // 9 tags
    let n = tags.len();
    let crf = Scores::random(n, 3).crf(&tags)?;
    let (b_per, e_per, s_loc) = (1, 3, 8);
    let a = vec![b_per, e_per, 0, s_loc];
    let b = vec![s_loc, 0];
    let em_a = noise(5, 4 * n, 3.0);
    let em_b = noise(6, 2 * n, 3.0);
    let alone = |gold: &Vec<usize>, em: &[f32]| -> f32 {
        let batch = TagBatch::new(&[gold], n, &Device::Cpu).unwrap();
        let len = gold.len();
        let nll = crf.nll(&emissions(em.to_vec(), 1, len, n), &batch).unwrap();
        nll.to_scalar::<f32>().unwrap() * len as f32
    };
    // Sequence b padded to 6 words with junk scores; a padded with 2.
    let mut padded = em_a.clone();
    padded.extend(noise(7, 2 * n, 50.0));
    padded.extend(&em_b);
    padded.extend(noise(8, 4 * n, 50.0));
    let batch = TagBatch::new(&[a.clone(), b.clone()], n, &Device::Cpu).unwrap();
    let got = crf
        .nll(&emissions(padded, 2, 6, n), &batch)
        .unwrap()
        .to_scalar::<f32>()?;
    let expected = (alone(&a, &em_a) + alone(&b, &em_b)) / 6.0;
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");

    // An empty sequence adds nothing but words to divide by: none.
    let batch = TagBatch::new(&[a.clone(), vec![]], n, &Device::Cpu).unwrap();
    let mut em = em_a.clone();
    em.extend(noise(9, 4 * n, 50.0));
    let got = crf
        .nll(&emissions(em, 2, 4, n), &batch)
        .unwrap()
        .to_scalar::<f32>()?;
    assert!((got - alone(&a, &em_a) / 4.0).abs() < 1e-5);
    Ok(())
}

#[test]
fn crf_gradients_match_finite_differences() -> CandleResult<()> {
    let tags = tag_set(Scheme::Iob2, &["X", "Y"]); // 5 tags
    let n = tags.len();
    let scores = Scores::random(n, 30);
    let gold = TagBatch::new(&[vec![1, 2, 0, 3], vec![3, 4]], n, &Device::Cpu).unwrap();
    let dev = &Device::Cpu;
    let em = Var::from_vec(noise(31, 2 * 4 * n, 2.0), (2, 4, n), dev)?;
    let trans = Var::from_vec(scores.transitions.clone(), (n, n), dev)?;
    let start = Tensor::from_vec(scores.start.clone(), n, dev)?;
    let end = Var::from_vec(scores.end.clone(), n, dev)?;
    let loss = |em: &Tensor, trans: &Tensor, end: &Tensor| -> CandleResult<Tensor> {
        let crf = Crf::new(&tags, trans.clone(), start.clone(), end.clone())
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        crf.nll(em, &gold)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    };
    let grads = loss(em.as_tensor(), trans.as_tensor(), end.as_tensor())?.backward()?;
    let numeric_em = finite_difference_check(em.as_tensor(), |t| loss(t, &trans, &end))?;
    let numeric_trans = finite_difference_check(trans.as_tensor(), |t| loss(&em, t, &end))?;
    let numeric_end = finite_difference_check(end.as_tensor(), |t| loss(&em, &trans, t))?;
    let grad_trans = grads
        .get(trans.as_tensor())
        .expect("transitions get a gradient");
    assert_close(
        grads.get(em.as_tensor()).expect("emissions get a gradient"),
        &numeric_em,
        2e-3,
    )?;
    assert_close(grad_trans, &numeric_trans, 2e-3)?;
    assert_close(
        grads
            .get(end.as_tensor())
            .expect("end scores get a gradient"),
        &numeric_end,
        2e-3,
    )?;
    // Forbidden transitions are not learnt: exactly zero gradient.
    let g = grad_trans.flatten_all()?.to_vec1::<f32>()?;
    for (k, allowed) in tags.transition_matrix().iter().enumerate() {
        if !allowed {
            assert_eq!(g[k], 0.0, "transition {} -> {}", k / n, k % n);
        }
    }
    Ok(())
}

#[test]
fn viterbi_equals_brute_force_argmax_and_scores_are_marginals() -> CandleResult<()> {
    for scheme in [Scheme::Iob2, Scheme::Bioes, Scheme::Iob1] {
        let tags = tag_set(scheme, &["X"]);
        let n = tags.len();
        for seed in 0..20u64 {
            let scores = Scores::random(n, 100 + seed);
            let chain = scores.crf(&tags)?.chain().unwrap();
            let len = 1 + seed as usize % 4;
            let em = noise(200 + seed, len * n, 3.0);
            let paths = scores.all_paths(&tags, &em, len);
            let (best, best_score) =
                paths
                    .iter()
                    .fold((vec![], f32::NEG_INFINITY), |acc, (p, s)| {
                        if *s > acc.1 {
                            (p.clone(), *s)
                        } else {
                            acc
                        }
                    });
            let log_z = log_sum_exp(&paths.iter().map(|p| p.1).collect::<Vec<_>>());
            let decoded = chain.decode(&em);
            assert_eq!(decoded.tags, best, "{scheme} seed {seed}");
            assert!((decoded.log_prob - (best_score - log_z)).abs() < 1e-4);
            for (s, (&tag, &score)) in decoded.tags.iter().zip(&decoded.scores).enumerate() {
                let through: Vec<f32> = paths
                    .iter()
                    .filter(|p| p.0[s] == tag)
                    .map(|p| p.1)
                    .collect();
                let marginal = (log_sum_exp(&through) - log_z).exp();
                assert!(
                    (score - marginal).abs() < 1e-4,
                    "word {s}: {score} vs {marginal}"
                );
            }
        }
    }
    Ok(())
}

/// Viterbi path and per-word marginals in f64, the textbook way (no shifting): the reference
/// for a sequence long enough that f32 sums would not do.
fn decode_f64(tags: &TagSet, scores: &Scores, em: &[f32]) -> (Vec<usize>, Vec<f64>) {
    let n = tags.len();
    let len = em.len() / n;
    let lse = |xs: &[f64]| {
        let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            m
        } else {
            m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
        }
    };
    let edge = |i: usize, j: usize| {
        if tags.allowed_transition(i, j) {
            scores.transitions[i * n + j] as f64
        } else {
            f64::NEG_INFINITY
        }
    };
    let first = |j: usize| {
        if tags.allowed_start(j) {
            scores.start[j] as f64
        } else {
            f64::NEG_INFINITY
        }
    };
    let last = |j: usize| {
        if tags.allowed_end(j) {
            scores.end[j] as f64
        } else {
            f64::NEG_INFINITY
        }
    };
    let e = |s: usize, j: usize| em[s * n + j] as f64;
    let mut v: Vec<f64> = (0..n).map(|j| first(j) + e(0, j)).collect();
    let mut back = vec![0usize; len * n];
    let mut alpha = vec![0f64; len * n];
    alpha[..n].copy_from_slice(&v);
    for s in 1..len {
        let mut next = vec![f64::NEG_INFINITY; n];
        for j in 0..n {
            let (mut best, mut arg) = (f64::NEG_INFINITY, 0);
            for (i, &vi) in v.iter().enumerate() {
                let x = vi + edge(i, j);
                if x > best {
                    (best, arg) = (x, i);
                }
            }
            next[j] = best + e(s, j);
            back[s * n + j] = arg;
            let terms: Vec<f64> = (0..n)
                .map(|i| alpha[(s - 1) * n + i] + edge(i, j))
                .collect();
            alpha[s * n + j] = lse(&terms) + e(s, j);
        }
        v = next;
    }
    let mut tag = (0..n)
        .max_by(|&a, &b| (v[a] + last(a)).total_cmp(&(v[b] + last(b))))
        .unwrap();
    let mut path = vec![0; len];
    for s in (0..len).rev() {
        path[s] = tag;
        tag = back[s * n + tag];
    }
    let mut beta = vec![0f64; len * n];
    for j in 0..n {
        beta[(len - 1) * n + j] = last(j);
    }
    for s in (0..len - 1).rev() {
        for i in 0..n {
            let terms: Vec<f64> = (0..n)
                .map(|j| edge(i, j) + e(s + 1, j) + beta[(s + 1) * n + j])
                .collect();
            beta[s * n + i] = lse(&terms);
        }
    }
    let log_z = lse(&(0..n)
        .map(|j| alpha[(len - 1) * n + j] + last(j))
        .collect::<Vec<_>>());
    let marginals = path
        .iter()
        .enumerate()
        .map(|(s, &j)| (alpha[s * n + j] + beta[s * n + j] - log_z).exp())
        .collect();
    (path, marginals)
}

#[test]
fn a_whole_document_decodes_as_in_f64() -> CandleResult<()> {
    // A document decoded whole is one chain of 100,000 words: its running scores reach about
    // 10^5 times an emission, where f32 keeps only about 0.01 of them. The path and the
    // marginals must still be those of an f64 computation.
    let tags = tag_set(Scheme::Iob2, &["LOC", "MISC", "ORG", "PER"]);
    let n = tags.len();
    let scores = Scores::random(n, 7);
    let chain = scores.crf(&tags)?.chain().unwrap();
    let len = 100_000;
    let em: Vec<f32> = noise(8, len * n, 4.0).iter().map(|x| x + 2.0).collect();
    let decoded = chain.decode(&em);
    let (path, marginals) = decode_f64(&tags, &scores, &em);
    let differ = decoded
        .tags
        .iter()
        .zip(&path)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differ, 0, "{differ} of {len} tags differ from f64");
    for (s, (&got, &want)) in decoded.scores.iter().zip(&marginals).enumerate() {
        assert!(
            (got as f64 - want).abs() < 1e-3,
            "word {s}: {got} vs {want}"
        );
    }
    Ok(())
}

#[test]
fn softmax_decoder_repairs_what_argmax_gets_wrong() {
    // IOB2 over one label: O, B-X, I-X. Per-word argmax says I-X first: not allowed.
    let tags = tag_set(Scheme::Iob2, &["X"]);
    let chain = Chain::constrained(&tags);
    let em = [0.0, 1.0, 2.0, /* */ 0.0, 0.0, 3.0];
    assert_eq!(chain.decode(&em).tags, vec![1, 2]);
}

#[test]
fn cross_entropy_equals_per_word_softmax_and_ignores_padding() -> CandleResult<()> {
    let n = 4;
    let gold = TagBatch::new(&[vec![1, 3, 0], vec![2]], n, &Device::Cpu).unwrap();
    let em = noise(40, 2 * 3 * n, 4.0);
    let got = cross_entropy(&emissions(em.clone(), 2, 3, n), &gold)
        .unwrap()
        .to_scalar::<f32>()?;
    let mut expected = 0.0;
    for (b, s, t) in [(0, 0, 1), (0, 1, 3), (0, 2, 0), (1, 0, 2)] {
        let row = &em[(b * 3 + s) * n..(b * 3 + s + 1) * n];
        expected += log_sum_exp(row) - row[t];
    }
    assert!(
        (got - expected / 4.0).abs() < 1e-5,
        "{got} vs {}",
        expected / 4.0
    );
    Ok(())
}

#[test]
fn bad_input_is_an_error() {
    let tags = tag_set(Scheme::Iob2, &["X"]);
    let crf = Scores::random(3, 1).crf(&tags).unwrap();
    assert!(matches!(
        TagBatch::new(&[vec![0, 3]], 3, &Device::Cpu),
        Err(Error::BadTag {
            sequence: 0,
            word: 1,
            tag: 3,
            num_tags: 3
        })
    ));
    assert!(matches!(
        TagBatch::new::<Vec<usize>>(&[], 3, &Device::Cpu),
        Err(Error::EmptyBatch)
    ));
    let gold = TagBatch::new(&[vec![0, 1, 2]], 3, &Device::Cpu).unwrap();
    // Too few words, wrong tag count, wrong batch size.
    for (b, w, t) in [(1, 2, 3), (1, 3, 4), (2, 3, 3)] {
        let em = emissions(vec![0.0; b * w * t], b, w, t);
        assert!(
            matches!(crf.nll(&em, &gold), Err(Error::Shape { .. })),
            "{b}x{w}x{t}"
        );
        assert!(
            matches!(cross_entropy(&em, &gold), Err(Error::Shape { .. })),
            "{b}x{w}x{t}"
        );
    }
    let em = emissions(vec![0.0; 3 * 3], 1, 3, 3);
    assert!(matches!(crf.decode(&em, &[4]), Err(Error::Shape { .. })));
    assert!(matches!(crf.decode(&em, &[1, 1]), Err(Error::Shape { .. })));
    let wrong = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(
        Crf::new(&tags, wrong.clone(), wrong.clone(), wrong),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn heads_are_named_for_saving_and_train_end_to_end() -> CandleResult<()> {
    let tags = tag_set(Scheme::Iob2, &["SOURCE", "CUE", "CONTENT"]); // 7 tags
    let n = tags.len();
    let dev = &Device::Cpu;
    let words = Tensor::from_vec(noise(50, 2 * 3 * 8, 1.0), (2, 3, 8), dev)?;
    let gold = TagBatch::new(&[vec![1, 2, 0], vec![5]], n, dev).unwrap();
    for kind in [DecoderKind::Crf, DecoderKind::Softmax] {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
        let head = TaggerHead::load(vb, &HeadConfig::new("quotes", kind), 8, &tags).unwrap();
        let mut names: Vec<String> = varmap.data().lock().unwrap().keys().cloned().collect();
        names.sort();
        let mut expected = vec![
            "heads.quotes.classifier.bias",
            "heads.quotes.classifier.weight",
        ];
        if kind == DecoderKind::Crf {
            expected.extend([
                "heads.quotes.crf.end_transitions",
                "heads.quotes.crf.start_transitions",
                "heads.quotes.crf.transitions",
            ]);
        }
        assert_eq!(names, expected, "{kind:?}");

        let em = head.forward(&words, true).unwrap();
        assert_eq!(em.dims(), &[2, 3, n]);
        let loss = head.loss(&em, &gold).unwrap();
        let grads = loss.backward()?;
        for var in varmap.all_vars() {
            let g = grads
                .get(var.as_tensor())
                .expect("every head weight gets a gradient");
            assert!(g.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0, "{kind:?}");
        }
        let decoded = head
            .decode(&head.forward(&words, false).unwrap(), &[3, 1])
            .unwrap();
        assert_eq!(
            decoded.iter().map(|d| d.tags.len()).collect::<Vec<_>>(),
            vec![3, 1]
        );
    }
    let bad = HeadConfig {
        dropout: 1.0,
        ..HeadConfig::new("a", DecoderKind::Crf)
    };
    let vb = VarBuilder::zeros(DType::F32, dev);
    assert!(matches!(
        TaggerHead::load(vb.clone(), &bad, 8, &tags),
        Err(Error::InvalidHead { .. })
    ));
    let bad = HeadConfig::new("a.b", DecoderKind::Crf);
    assert!(matches!(
        TaggerHead::load(vb, &bad, 8, &tags),
        Err(Error::InvalidHead { .. })
    ));
    Ok(())
}

fn any_emission() -> impl Strategy<Value = f32> {
    prop_oneof![
        20 => -30.0f32..30.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(1e20f32),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn decoding_never_violates_the_scheme(
        scheme in prop::sample::select(vec![Scheme::Iob1, Scheme::Iob2, Scheme::Bioes, Scheme::Io]),
        labels in 1usize..4,
        len in 0usize..12,
        seed in any::<u64>(),
        raw in prop::collection::vec(any_emission(), 12 * 13),
        learnt in any::<bool>(),
    ) {
        let names: Vec<String> = (0..labels).map(|i| format!("L{i}")).collect();
        let tags = TagSet::new(scheme, &LabelSet::from_names(&names));
        let n = tags.len();
        let chain = if learnt {
            let s = Scores::random(n, seed);
            Chain::with_scores(&tags, &s.transitions, &s.start, &s.end).unwrap()
        } else {
            Chain::constrained(&tags)
        };
        let decoded = chain.decode(&raw[..len * n]);
        prop_assert_eq!(decoded.tags.len(), len);
        let as_tags: Vec<_> = decoded.tags.iter().map(|&i| tags.tag(i).unwrap()).collect();
        prop_assert!(is_valid(&as_tags, scheme), "{:?}", decoded.tags);
        prop_assert!(decoded.scores.iter().all(|s| (0.0..=1.0).contains(s)));
    }
}
