//! A dense layer that flattens leading dimensions into one matrix multiply.
//!
//! `candle_nn::Linear` multiplies a (batch, seq, in) input by a weight broadcast over the batch,
//! i.e. `batch` small GEMMs; one (batch * seq, in) x (in, out) GEMM is faster on the CPU.
//! A quantized layer ([`Linear::quantize`]) runs the int8 GEMM of [`crate::kernels::quant`] instead.

use std::sync::Arc;

use candle_core::{Result, Tensor, D};
use candle_nn::VarBuilder;

use crate::kernels::quant::{Q8Linear, Quantization};

/// `t` in the dtype of `xs`: mixed precision keeps f32 weights (the optimiser's master copy) and
/// computes in the activations' dtype; the cast is differentiable, so gradients reach the f32
/// weights in f32.
pub(crate) fn in_dtype(t: &Tensor, xs: &Tensor) -> Result<Tensor> {
    if t.dtype() == xs.dtype() {
        Ok(t.clone())
    } else {
        t.to_dtype(xs.dtype())
    }
}

#[derive(Debug, Clone)]
pub struct Linear {
    /// (out, in), as in PyTorch.
    weight: Tensor,
    /// (out,)
    bias: Tensor,
    /// The int8 form used by `forward` when the layer is quantized (inference only).
    q8: Option<Arc<Q8Linear>>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Tensor) -> Self {
        Self {
            weight,
            bias,
            q8: None,
        }
    }

    /// The same layer computing in `q`: `Quantization::None` gives the f32 layer back.
    pub fn quantize(&self, q: Quantization) -> Result<Self> {
        let q8 = match q {
            Quantization::None => None,
            Quantization::Q8 => Some(Arc::new(Q8Linear::new(&self.weight, Some(&self.bias))?)),
        };
        Ok(Self { q8, ..self.clone() })
    }

    pub fn quantization(&self) -> Quantization {
        match self.q8 {
            Some(_) => Quantization::Q8,
            None => Quantization::None,
        }
    }

    /// Loads `weight` (out, in) and `bias` (out,), initialised like `torch.nn.Linear` when
    /// created from scratch.
    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        Self::load_maybe_bias(vb, in_dim, out_dim, true)
    }

    /// Loads `weight` (out, in) of a layer without bias (ModernBERT's): the bias is a zero
    /// constant, not a parameter, so it neither trains nor is saved.
    pub fn load_no_bias(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        Self::load_maybe_bias(vb, in_dim, out_dim, false)
    }

    /// Loads a layer with a bias when `bias` (the config's `..._bias` switch), else without.
    pub fn load_maybe_bias(
        vb: VarBuilder,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
    ) -> Result<Self> {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let init = candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
        let bias = match bias {
            true => vb.get_with_hints(out_dim, "bias", init)?,
            false => Tensor::zeros(out_dim, weight.dtype(), weight.device())?,
        };
        Ok(Self::new(weight, bias))
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// `xs`: (..., in) -> (..., out).
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match &self.q8 {
            Some(q8) => q8.forward(xs),
            None => crate::kernels::bias::bias_add(&self.forward_no_bias(xs)?, &self.bias),
        }
    }

    /// `xs` times the weight without the bias, for callers that fuse the bias add into the next
    /// op: (..., in) -> (..., out).
    pub fn forward_no_bias(&self, xs: &Tensor) -> Result<Tensor> {
        if let Some(q8) = &self.q8 {
            return q8.forward_no_bias(xs);
        }
        let in_dim = xs.dim(D::Minus1)?;
        let rows = xs.elem_count() / in_dim.max(1);
        let mut out_dims = xs.dims().to_vec();
        out_dims.pop();
        out_dims.push(self.weight.dim(0)?);
        let x2 = xs.reshape((rows, in_dim))?; // (rows, in)
        crate::kernels::matmul::matmul_t(&x2, &in_dtype(&self.weight, xs)?)? // (rows, out)
            .reshape(out_dims)
    }
}
