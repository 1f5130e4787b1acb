//! Checkpoint averaging: one model whose every weight is the element-wise mean of the same
//! weight in several trained models of one shape (checkpoints of a run, or runs continuing one
//! another). Averaged weights often generalise better than any one of them.
//!
//! The models must have the same heads (names, kinds, schemes, labels, decoders) and the same
//! tensors with the same shapes; the first model gives the tokenizer, `config.json`, windows,
//! casing and the heads' decoding settings (decode biases, `relabel_below`, dropout), which may
//! differ between the models. The source scorer is left out: it was trained on one model's
//! frozen encoder vectors, and none of those is the average's, so train it again (`byline
//! train-linker`).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::{Tagger, TaggerConfig, BYLINE_FILE};
use crate::weights::{save_safetensors, SAFETENSORS_FILE};
use crate::{Error, LoadOptions, Result};

/// Files of a model directory the average does not copy from the first model.
const NOT_COPIED: &[&str] = &[
    SAFETENSORS_FILE,
    BYLINE_FILE,
    crate::linker::LINKER_FILE,
    "best.json",
    "README.md",
];

/// What [`average_models`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Averaged {
    pub models: usize,
    pub tensors: usize,
    /// Whether a model had a source scorer, which the average leaves out.
    pub dropped_linker: bool,
}

/// Writes to `out` the model whose weights are the mean of the models in `dirs` (at least two,
/// see the [module docs](self)), stored as `dtype`, and checks that it loads.
pub fn average_models(dirs: &[PathBuf], out: &Path, dtype: DType) -> Result<Averaged> {
    let bad = |path: &Path, message: String| Error::BadModelDir {
        path: path.to_path_buf(),
        message,
    };
    let [first, ..] = dirs else {
        return Err(bad(out, "no model to average".into()));
    };
    if dirs.len() < 2 {
        return Err(bad(first, "averaging needs at least two models".into()));
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let Some(d) = dirs.iter().find(|d| same(d, out)) {
        return Err(bad(
            d,
            "the output directory is one of the models averaged".into(),
        ));
    }
    let specs = dirs
        .iter()
        .map(|d| TaggerConfig::read(d))
        .collect::<Result<Vec<_>>>()?;
    let dropped_linker = specs.iter().any(|s| s.linker.is_some());
    for (dir, spec) in dirs.iter().zip(&specs).skip(1) {
        if !same_shape(spec, &specs[0]) {
            return Err(bad(
                dir,
                format!(
                    "its heads or casing differ from those of {} (heads {:?} against {:?})",
                    first.display(),
                    names(spec),
                    names(&specs[0])
                ),
            ));
        }
    }

    let mut sum: HashMap<String, Tensor> = HashMap::new();
    for (i, dir) in dirs.iter().enumerate() {
        let path = dir.join(SAFETENSORS_FILE);
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| match e {
            candle_core::Error::Io(source) => Error::io(&path, source),
            e => Error::Candle(e),
        })?;
        if i > 0 {
            let have: BTreeSet<&String> = tensors.keys().collect();
            let want: BTreeSet<&String> = sum.keys().collect();
            if let Some(name) = want.symmetric_difference(&have).next() {
                return Err(Error::MissingWeight {
                    path: if have.contains(name) {
                        first.join(SAFETENSORS_FILE)
                    } else {
                        path
                    },
                    name: name.to_string(),
                });
            }
        }
        for (name, t) in tensors {
            let t = t.to_dtype(DType::F32)?;
            let total = match sum.remove(&name) {
                None => t,
                Some(s) if s.shape() == t.shape() => (s + t)?,
                Some(s) => {
                    return Err(Error::WeightShape {
                        path,
                        name,
                        expected: s.dims().to_vec(),
                        found: t.dims().to_vec(),
                    })
                }
            };
            sum.insert(name, total);
        }
    }
    let n = dirs.len() as f64;
    let mean = sum
        .into_iter()
        .map(|(name, t)| Ok((name, (t / n)?)))
        .collect::<Result<HashMap<_, _>>>()?;
    let tensors = mean.len();

    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    copy_files(first, out)?;
    save_safetensors(mean, &out.join(SAFETENSORS_FILE), dtype)?;
    TaggerConfig {
        linker: None,
        ..specs[0].clone()
    }
    .write(out)?;
    Tagger::load(out, &LoadOptions::default())?;
    Ok(Averaged {
        models: dirs.len(),
        tensors,
        dropped_linker,
    })
}

fn names(spec: &TaggerConfig) -> Vec<&str> {
    spec.heads.iter().map(|h| h.name.as_str()).collect()
}

/// The first model's other files (config, tokenizer, vocabulary) into `out`.
fn copy_files(from: &Path, out: &Path) -> Result<()> {
    let entries = std::fs::read_dir(from).map_err(|e| Error::io(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let name = entry.file_name();
        let keep = entry.file_type().is_ok_and(|t| t.is_file())
            && !NOT_COPIED.iter().any(|n| name == std::ffi::OsStr::new(n));
        if keep {
            let to = out.join(&name);
            std::fs::copy(entry.path(), &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    Ok(())
}

/// Whether two models' heads and casing have the same shape (names, kinds, schemes, labels,
/// decoders): what averaging needs. Decoding settings may differ.
fn same_shape(a: &TaggerConfig, b: &TaggerConfig) -> bool {
    a.casing == b.casing
        && a.heads.len() == b.heads.len()
        && a.heads.iter().zip(&b.heads).all(|(x, y)| {
            (&x.name, x.kind, x.scheme, &x.labels, x.decoder)
                == (&y.name, y.kind, y.scheme, &y.labels, y.decoder)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::forced_tagger;

    /// Two copies of the fixture with different weights for one tensor of the encoder.
    fn two_models(root: &Path) -> Result<(PathBuf, PathBuf, String)> {
        let (a, b) = (root.join("a"), root.join("b"));
        let tagger = forced_tagger()?;
        tagger.save(&a)?;
        let (name, var, _) = tagger
            .trainable()
            .into_iter()
            .find(|t| t.0.contains("layer.0") && t.0.ends_with("weight"))
            .expect("a trainable encoder weight");
        var.set(&(var.as_tensor() + 1.0)?)?;
        tagger.save(&b)?;
        Ok((a, b, name))
    }

    #[test]
    fn the_average_is_the_mean_of_each_weight_and_loads() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io(Path::new("tmp"), e))?;
        let (a, b, name) = two_models(root.path())?;
        // Decoding settings may differ: the first model's are kept.
        let mut spec_b = TaggerConfig::read(&b)?;
        spec_b.heads[0].decode_bias.insert("PER".into(), 0.5);
        spec_b.heads[0].relabel_below = 0.5;
        spec_b.heads[0].dropout = 0.3;
        std::fs::write(
            b.join(BYLINE_FILE),
            serde_json::to_string(&spec_b).expect("json"),
        )
        .map_err(|e| Error::io(&b, e))?;
        let out = root.path().join("avg");
        let got = average_models(&[a.clone(), b.clone()], &out, DType::F32)?;
        assert_eq!(
            TaggerConfig::read(&out)?.heads,
            TaggerConfig::read(&a)?.heads
        );
        assert_eq!(got.models, 2);
        assert!(!got.dropped_linker);
        let load =
            |d: &Path| candle_core::safetensors::load(d.join(SAFETENSORS_FILE), &Device::Cpu);
        let (wa, wb, wo) = (load(&a)?, load(&b)?, load(&out)?);
        assert_eq!(wo.len(), wa.len());
        assert_eq!(got.tensors, wa.len());
        let diff = (&wo[&name] - &wa[&name])?.flatten_all()?.to_vec1::<f32>()?;
        assert!(diff.iter().all(|d| (d - 0.5).abs() < 1e-6), "{diff:?}");
        let other = wa.keys().find(|k| **k != name).expect("another tensor");
        let same = (&wo[other] - &wb[other])?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(same < 1e-6);
        assert!(out.join(crate::tagger::TOKENIZER_FILE).exists());
        Ok(())
    }

    #[test]
    fn models_of_other_shapes_and_bad_arguments_are_refused() -> Result<()> {
        let root = tempfile::tempdir().map_err(|e| Error::io(Path::new("tmp"), e))?;
        let (a, b, name) = two_models(root.path())?;
        let out = root.path().join("avg");
        // One model: nothing to average. The output among the inputs: refused.
        assert!(average_models(std::slice::from_ref(&a), &out, DType::F32).is_err());
        let err = average_models(&[a.clone(), b.clone()], &b, DType::F32).unwrap_err();
        assert!(err.to_string().contains("one of the models"), "{err}");
        // A tensor missing from the second model: named, with the file.
        let mut tensors = candle_core::safetensors::load(b.join(SAFETENSORS_FILE), &Device::Cpu)?;
        tensors.remove(&name);
        candle_core::safetensors::save(&tensors, b.join(SAFETENSORS_FILE))?;
        let err = average_models(&[a.clone(), b.clone()], &out, DType::F32).unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
        // Other heads: refused, naming the model.
        let mut spec = TaggerConfig::read(&a)?;
        spec.heads.pop();
        let c = root.path().join("c");
        forced_tagger()?.save(&c)?;
        std::fs::write(
            c.join(BYLINE_FILE),
            serde_json::to_string(&spec).expect("json"),
        )
        .map_err(|e| Error::io(&c, e))?;
        let err = average_models(&[a, c.clone()], &out, DType::F32).unwrap_err();
        assert!(err.to_string().contains(&c.display().to_string()), "{err}");
        Ok(())
    }
}
