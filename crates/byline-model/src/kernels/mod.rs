//! The fused CPU kernels under the encoder, each with a hand-written backward pass where it
//! trains, and the composed candle ops they fall back to off the CPU or off f32: LayerNorm, GELU
//! (with its bias add), the masked softmax, attention's products and softmax per head, dropout,
//! the 8-bit GEMM, and the fast `exp`/`erf` they share. [`check`] holds the input checks they
//! have in common.

pub mod activation;
pub mod attention_core;
pub mod bias;
pub mod check;
pub(crate) mod cpu;
pub mod disentangled;
pub mod dropout;
pub(crate) mod fast_math;
pub mod layer_norm;
pub mod matmul;
pub mod quant;
pub mod rotary;
pub mod softmax;
