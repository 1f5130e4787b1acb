//! Documents in, tagged documents out: chunked, in input order, one result per document.

use std::collections::VecDeque;

use byline_core::tokenize::prepare_for_tagging;
use byline_core::{Document, LabelSet};
use byline_model::{Annotated, DocumentInput, Heads, Tagger, TextInput};

use crate::error::{DocError, Error, Result};
use crate::model::{Model, PlainModel};

/// Documents per chunk, by default.
pub const CHUNK_DOCUMENTS: usize = 64;
/// Bytes of text per chunk, by default (a longer document is a chunk of its own).
pub const CHUNK_BYTES: usize = 1 << 20;

/// One tagged document: the document with its predicted entities and attributions, and each
/// attribution's speaker link (byline-model's [`Annotated`], the output of the one path from a
/// document to its annotations).
pub type Tagged = Annotated;

/// The tagging pipeline over a loaded model: for byline's own tagger, its first entity head and
/// its first attribution head (either may be absent, not both); for a plain token-classification
/// checkpoint, its entities.
#[derive(Debug, Clone)]
pub struct Pipeline<'t> {
    engine: Engine<'t>,
    chunk_documents: usize,
    chunk_bytes: usize,
}

#[derive(Debug, Clone, Copy)]
enum Engine<'t> {
    Tagger { tagger: &'t Tagger, heads: Heads },
    Plain(&'t PlainModel),
}

impl<'t> Pipeline<'t> {
    pub fn new(tagger: &'t Tagger) -> Result<Self> {
        let heads = tagger.default_heads();
        if heads.entities.is_none() && heads.attributions.is_none() {
            return Err(Error::NoHeads);
        }
        Ok(Self::with_engine(Engine::Tagger { tagger, heads }))
    }

    /// The pipeline of any [`Model`].
    pub fn for_model(model: &'t Model) -> Result<Self> {
        match model {
            Model::Tagger(t) => Self::new(t),
            Model::Plain(p) => Ok(Self::with_engine(Engine::Plain(p))),
        }
    }

    fn with_engine(engine: Engine<'t>) -> Self {
        Pipeline {
            engine,
            chunk_documents: CHUNK_DOCUMENTS,
            chunk_bytes: CHUNK_BYTES,
        }
    }

    /// Sets how much is tagged at once: at most `documents` documents, and no more documents
    /// once `bytes` bytes of text are gathered (at least one document per chunk).
    pub fn with_chunks(mut self, documents: usize, bytes: usize) -> Self {
        self.chunk_documents = documents.max(1);
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// byline's tagger, when the model is one.
    pub fn tagger(&self) -> Option<&'t Tagger> {
        match self.engine {
            Engine::Tagger { tagger, .. } => Some(tagger),
            Engine::Plain(_) => None,
        }
    }

    /// The index of the tagger's head whose entities are predicted, if any.
    pub fn entity_head(&self) -> Option<usize> {
        match self.engine {
            Engine::Tagger { heads, .. } => heads.entities,
            Engine::Plain(_) => None,
        }
    }

    /// The index of the tagger's head whose attributions are predicted, if any.
    pub fn attribution_head(&self) -> Option<usize> {
        match self.engine {
            Engine::Tagger { heads, .. } => heads.attributions,
            Engine::Plain(_) => None,
        }
    }

    /// The entity types the model tags, if it tags entities.
    pub fn entity_labels(&self) -> Option<LabelSet> {
        match self.engine {
            Engine::Tagger { tagger, heads } => heads
                .entities
                .map(|h| LabelSet::from_names(&tagger.spec().heads[h].labels)),
            Engine::Plain(p) => Some(LabelSet::from_names(p.classifier.entity_types())),
        }
    }

    /// Tags documents (or passes on their read errors), one result per input, in input order.
    pub fn tag<'a, I>(&'a self, inputs: I) -> impl Iterator<Item = Result<Tagged, DocError>> + 'a
    where
        I: IntoIterator<Item = Result<Document, DocError>>,
        I::IntoIter: 'a,
    {
        self.run(inputs.into_iter().map(|d| ((), d)))
            .map(|(_, result)| result)
    }

    /// Like [`Pipeline::tag`], with a payload carried along with each document (for instance
    /// the lines a document was read from).
    pub fn run<T, I>(&self, inputs: I) -> Tagging<'_, 't, T, I::IntoIter>
    where
        I: IntoIterator<Item = (T, Result<Document, DocError>)>,
    {
        Tagging {
            pipeline: self,
            inputs: inputs.into_iter(),
            ready: VecDeque::new(),
            next: None,
        }
    }

    /// Tags one chunk of documents, one result per document in order. When the chunk as a
    /// whole fails, each document is tagged on its own, so the failure stays with its document.
    pub fn tag_chunk(&self, docs: Vec<Document>) -> Vec<Result<Tagged, DocError>> {
        self.tag_prepared(self.prepare(docs.into_iter().map(Ok)))
    }

    /// The tensor-free first stage: tokenises each document and cuts it into the model's
    /// windows. A document that cannot be prepared gets its error, a read error passes through;
    /// the others go on. One result per input, in order.
    pub fn prepare(
        &self,
        docs: impl IntoIterator<Item = Result<Document, DocError>>,
    ) -> Vec<Result<Ready, DocError>> {
        let _span = tracing::debug_span!("prepare").entered();
        docs.into_iter()
            .map(|doc| {
                let doc = prepare_for_tagging(doc?);
                let input = match self.engine {
                    Engine::Tagger { tagger, .. } => tagger.prepare(&doc).map(Input::Windows),
                    Engine::Plain(p) => p.classifier.prepare(&doc.text).map(Input::Text),
                };
                match input {
                    Ok(input) => Ok(Ready { doc, input }),
                    Err(e) => Err(DocError::new(&doc.id, chain(&e))),
                }
            })
            .collect()
    }

    /// The second stage: the encoder and heads over prepared documents, then entities and
    /// attributions. When the batch as a whole fails, each document is run on its own, so the
    /// failure stays with its document.
    pub fn tag_prepared(
        &self,
        ready: Vec<Result<Ready, DocError>>,
    ) -> Vec<Result<Tagged, DocError>> {
        let _span = tracing::debug_span!("tag", documents = ready.len()).entered();
        let mut out: Vec<Option<Result<Tagged, DocError>>> = Vec::with_capacity(ready.len());
        let mut batch = Vec::new();
        for r in ready {
            match r {
                Ok(r) => {
                    out.push(None);
                    batch.push(r);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        let mut tagged = match self.tag_batch(&batch) {
            Ok(tagged) => tagged,
            Err(e) if batch.len() == 1 => vec![Err(DocError::new(&batch[0].doc.id, chain(&e)))],
            Err(e) => {
                tracing::debug!(
                    "batch failed ({}); tagging its documents one by one",
                    chain(&e)
                );
                batch
                    .into_iter()
                    .flat_map(|r| self.tag_prepared(vec![Ok(r)]))
                    .collect()
            }
        }
        .into_iter();
        out.into_iter()
            .map(|slot| {
                slot.or_else(|| tagged.next()).unwrap_or_else(|| {
                    Err(DocError::new(
                        "?",
                        "the tagger gave fewer results than documents",
                    ))
                })
            })
            .collect()
    }

    /// A failure of the encoder fails the whole batch.
    fn tag_batch(&self, batch: &[Ready]) -> Result<Vec<Result<Tagged, DocError>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        match self.engine {
            Engine::Tagger { tagger, heads } => tag_with_tagger(tagger, heads, batch),
            Engine::Plain(p) => tag_plain(p, batch),
        }
    }
}

fn tag_with_tagger(
    tagger: &Tagger,
    heads: Heads,
    batch: &[Ready],
) -> Result<Vec<Result<Tagged, DocError>>> {
    let inputs = batch
        .iter()
        .map(|r| match &r.input {
            Input::Windows(w) => Ok(w),
            Input::Text(_) => Err(Error::WrongInput),
        })
        .collect::<Result<Vec<&DocumentInput>>>()?;
    let docs: Vec<Document> = batch.iter().map(|r| r.doc.clone()).collect();
    Ok(tagger
        .annotate_prepared(&docs, &inputs, heads)?
        .into_iter()
        .zip(batch)
        .map(|(result, r)| result.map_err(|e| DocError::new(&r.doc.id, chain(&e))))
        .collect())
}

fn tag_plain(model: &PlainModel, batch: &[Ready]) -> Result<Vec<Result<Tagged, DocError>>> {
    let inputs = batch
        .iter()
        .map(|r| match &r.input {
            Input::Text(t) => Ok(t),
            Input::Windows(_) => Err(Error::WrongInput),
        })
        .collect::<Result<Vec<&TextInput>>>()?;
    let probs = model.classifier.predict(&inputs)?;
    Ok(batch
        .iter()
        .zip(inputs.iter().zip(&probs))
        .map(|(Ready { doc, .. }, (input, probs))| {
            let mut document = doc.clone();
            document.entities = model.classifier.entities(input, probs, model.aggregation);
            Ok(Tagged {
                document,
                source_entities: Vec::new(),
            })
        })
        .collect())
}

/// What the model reads of a prepared document.
#[derive(Debug, Clone)]
pub enum Input {
    /// byline's tagger: windows of the document's words.
    Windows(DocumentInput),
    /// A plain checkpoint: the text's own subwords and their windows.
    Text(TextInput),
}

/// A document through the first stage: tokenised, and its model input.
#[derive(Debug, Clone)]
pub struct Ready {
    pub doc: Document,
    pub input: Input,
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The results of [`Pipeline::run`], in input order, chunk by chunk. While the model tags one
/// chunk, the next is read on this thread and prepared (tokenised, windowed) on another.
#[derive(Debug)]
pub struct Tagging<'p, 't, T, I> {
    pipeline: &'p Pipeline<'t>,
    inputs: I,
    ready: VecDeque<(T, Result<Tagged, DocError>)>,
    /// The next chunk, prepared while the previous one was tagged.
    next: Option<Chunk<T, Ready>>,
}

/// A chunk of inputs: the payloads and, in the same order, their documents (or read errors),
/// read or prepared.
#[derive(Debug)]
struct Chunk<T, D> {
    payloads: Vec<T>,
    docs: Vec<Result<D, DocError>>,
}

impl<T, I> Iterator for Tagging<'_, '_, T, I>
where
    I: Iterator<Item = (T, Result<Document, DocError>)>,
{
    type Item = (T, Result<Tagged, DocError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() {
            self.fill();
        }
        self.ready.pop_front()
    }
}

impl<T, I> Tagging<'_, '_, T, I>
where
    I: Iterator<Item = (T, Result<Document, DocError>)>,
{
    /// Reads the next chunk of inputs (nothing when they are exhausted).
    fn read(&mut self) -> Option<Chunk<T, Document>> {
        let (max_docs, max_bytes) = (self.pipeline.chunk_documents, self.pipeline.chunk_bytes);
        let mut payloads = Vec::new();
        let mut docs = Vec::new();
        let mut bytes = 0;
        while payloads.len() < max_docs && bytes < max_bytes {
            let Some((payload, input)) = self.inputs.next() else {
                break;
            };
            bytes += input.as_ref().map_or(0, |doc| doc.text.len());
            payloads.push(payload);
            docs.push(input);
        }
        (!payloads.is_empty()).then_some(Chunk { payloads, docs })
    }

    /// Tags the prepared chunk while the next one is read and prepared.
    fn fill(&mut self) {
        let current = match self.next.take() {
            Some(chunk) => chunk,
            None => match self.read() {
                Some(Chunk { payloads, docs }) => Chunk {
                    payloads,
                    docs: self.pipeline.prepare(docs),
                },
                None => return,
            },
        };
        let upcoming = self.read();
        let pipeline = self.pipeline;
        let (tagged, next) = std::thread::scope(|s| {
            let next = upcoming.map(|Chunk { payloads, docs }| {
                // What each input becomes should the worker panic: its read error, or an
                // internal error under its id.
                let fallback: Vec<Result<Ready, DocError>> = docs
                    .iter()
                    .map(|d| match d {
                        Ok(doc) => Err(DocError::new(&doc.id, "internal error while preparing")),
                        Err(e) => Err(e.clone()),
                    })
                    .collect();
                let worker = s.spawn(move || pipeline.prepare(docs));
                (payloads, fallback, worker)
            });
            let tagged = pipeline.tag_prepared(current.docs);
            let next = next.map(|(payloads, fallback, worker)| Chunk {
                payloads,
                docs: worker.join().unwrap_or(fallback),
            });
            (tagged, next)
        });
        self.next = next;
        // `tag_prepared` gives one result per input, in order.
        self.ready.extend(current.payloads.into_iter().zip(tagged));
    }
}
