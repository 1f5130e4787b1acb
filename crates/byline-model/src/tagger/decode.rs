//! Decoding into documents: word tags into entities, role tags into assembled attributions
//! (with the linker when the model has one), sources linked to the entities they name; and
//! [`Tagger::annotate`], the one path from documents to their annotations.

use byline_core::consistency::relabel_consistently;
use byline_core::speaker::source_entities;
use byline_core::tokenize::prepare_for_tagging;

use super::*;

/// The heads whose output annotated documents carry: at most one entity head and one
/// attribution head (indices into [`Tagger::heads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heads {
    pub entities: Option<usize>,
    pub attributions: Option<usize>,
}

/// A document with its predicted annotations: what `byline tag` writes for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotated {
    /// The document as [`prepare_for_tagging`] left it (tokenised, long sentences cut), with
    /// the predicted entities and attributions only.
    pub document: Document,
    /// For each attribution, the index in `document.entities` of the entity its source names
    /// ([`source_entities`]).
    pub source_entities: Vec<Option<usize>>,
}

impl Tagger {
    /// What `byline tag` outputs: the first entity head and the first attribution head.
    pub fn default_heads(&self) -> Heads {
        let first = |kind| self.spec.heads.iter().position(|h| h.kind == kind);
        Heads {
            entities: first(HeadKind::Entities),
            attributions: first(HeadKind::Attributions),
        }
    }

    /// The heads that score the task of head `name`: that head; for an attribution head, also
    /// the first entity head, so that speakers are linked as `byline tag` links them.
    pub fn heads_for(&self, name: &str) -> Result<Heads> {
        let h = self.head_index(name)?;
        Ok(match self.spec.heads[h].kind {
            HeadKind::Entities => Heads {
                entities: Some(h),
                attributions: None,
            },
            HeadKind::Attributions => Heads {
                entities: self.default_heads().entities,
                attributions: Some(h),
            },
        })
    }

    /// The one path from documents to their annotations, shared by `byline tag`, `serve`,
    /// training's dev figures and `train-linker`: each document through
    /// [`prepare_for_tagging`], one encoder pass for both heads, constrained decoding, quote
    /// assembly (with the linker when the model has one) and speaker links. Any failure fails
    /// the call (the pipeline of `byline-infer` keeps failures per document instead).
    pub fn annotate(&self, docs: &[Document], heads: Heads) -> Result<Vec<Annotated>> {
        let docs: Vec<Document> = docs.iter().cloned().map(prepare_for_tagging).collect();
        let inputs = docs
            .iter()
            .map(|d| self.prepare(d))
            .collect::<Result<Vec<_>>>()?;
        self.annotate_prepared(&docs, &inputs.iter().collect::<Vec<_>>(), heads)?
            .into_iter()
            .collect()
    }

    /// [`Tagger::annotate`] on documents already through [`prepare_for_tagging`] and
    /// [`Tagger::prepare`] (`inputs[d]` of `docs[d]`). A failure of the encoder is the whole
    /// batch's (the outer `Err`); a failure to decode one document is that document's.
    pub fn annotate_prepared(
        &self,
        docs: &[Document],
        inputs: &[&DocumentInput],
        heads: Heads,
    ) -> Result<Vec<Result<Annotated>>> {
        for (h, kind) in [
            (heads.entities, HeadKind::Entities),
            (heads.attributions, HeadKind::Attributions),
        ] {
            if let Some(h) = h {
                let spec = self.spec.heads.get(h).ok_or_else(|| Error::InvalidTagger {
                    message: format!("no head #{h} ({} heads)", self.spec.heads.len()),
                })?;
                if spec.kind != kind {
                    return Err(Error::InvalidHead {
                        name: spec.name.clone(),
                        message: format!("asked for its {kind:?}, it tags {:?}", spec.kind),
                    });
                }
            }
        }
        let wanted: Vec<usize> = heads
            .entities
            .iter()
            .chain(&heads.attributions)
            .copied()
            .collect();
        let predictions = self.predict_prepared(inputs, &wanted)?;
        let of = |h: Option<usize>| {
            h.and_then(|h| wanted.iter().position(|&x| x == h))
                .map(|i| &predictions[i])
        };
        let (entities, attributions) = (of(heads.entities), of(heads.attributions));
        Ok(docs
            .iter()
            .enumerate()
            .map(|(d, doc)| {
                let mut document = doc.clone();
                document.entities.clear();
                document.attributions.clear();
                if let (Some(h), Some(pred)) = (heads.entities, entities) {
                    document.entities = self.entities(doc, &pred[d], h)?;
                }
                if let (Some(h), Some(pred)) = (heads.attributions, attributions) {
                    document.attributions = self.attributions(doc, &pred[d], h)?;
                }
                let source_entities = source_entities(&document);
                Ok(Annotated {
                    document,
                    source_entities,
                })
            })
            .collect())
    }

    /// Entities of a tokenised document from head `head`'s predictions, labels made
    /// consistent across the document ([`relabel_consistently`]).
    pub fn entities(
        &self,
        doc: &Document,
        pred: &WordPredictions,
        head: usize,
    ) -> Result<Vec<Entity>> {
        let tag_set = self.head(head)?.tag_set();
        let tags = self.tags(pred, tag_set)?;
        let mut entities = entities_from_tags(doc, &tags, Some(&pred.scores), tag_set)?;
        relabel_consistently(doc, &mut entities, self.spec.heads[head].relabel_below);
        Ok(entities)
    }

    /// Attributions of a tokenised document (with sentences) from head `head`'s role tags.
    pub fn attributions(
        &self,
        doc: &Document,
        pred: &WordPredictions,
        head: usize,
    ) -> Result<Vec<Attribution>> {
        let tag_set = self.head(head)?.tag_set();
        let tags = self.tags(pred, tag_set)?;
        let roles = roles_from_tags(doc, &tags, Some(&pred.scores), tag_set)?;
        let linker = self
            .linker
            .as_ref()
            .filter(|l| l.config().head == self.spec.heads[head].name && !pred.vectors.is_empty());
        Ok(match linker {
            Some(l) => {
                let available = |w: usize| pred.vectors.get(w).is_some();
                // A document too long for proposals kept span ends' vectors only (and the
                // word after each): it gets none.
                let long = doc.tokens.len() > self.max_proposal_words;
                let proposals = Proposals {
                    max_words: if long { 0 } else { l.config().proposals },
                    available: &available,
                };
                assemble_proposing(doc, &roles, &proposals, |p| {
                    l.score(p, &roles, &pred.vectors)
                })
            }
            None => assemble(doc, &roles),
        })
    }

    fn tags(&self, pred: &WordPredictions, tag_set: &TagSet) -> Result<Vec<Tag>> {
        pred.tags
            .iter()
            .map(|&i| {
                tag_set.tag(i).ok_or(Error::BadTag {
                    sequence: 0,
                    word: 0,
                    tag: i,
                    num_tags: tag_set.len(),
                })
            })
            .collect()
    }
}
