//! The layer stacks of each encoder family, behind one [`crate::Encoder`].
//!
//! Each family is a small module with its embeddings, attention and position scheme and layer
//! layout, over the shared kernels of [`crate::kernels`]:
//!
//! * [`bert`]: BERT's layers, which DistilBERT, RoBERTa, XLM-RoBERTa and ELECTRA also run
//!   (their weight names and position rules are mapped in [`crate::family`]);
//! * [`modernbert`]: rotary positions, alternating local and global attention, GeGLU;
//! * [`deberta`]: DeBERTa-v2/v3's disentangled attention over relative positions.
//!
//! Every stack takes the same inputs (word ids, byline's casing ids, an additive padding mask)
//! and returns the last hidden states; the tagger, the trainer and the exporter never see which
//! family runs.

pub mod bert;
pub mod deberta;
pub mod modernbert;
