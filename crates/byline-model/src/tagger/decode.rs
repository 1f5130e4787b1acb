//! Decoding into documents: word tags into entities, and role tags into assembled attributions
//! (with the linker when the model has one).

use super::*;

impl Tagger {
    /// Predicts with head `head` and returns the documents (tokenised, ids and texts unchanged)
    /// carrying only that head's output: entities, or assembled attributions.
    pub fn annotate(&self, docs: &[Document], head: &str) -> Result<Vec<Document>> {
        let h = self.head_index(head)?;
        let kind = self.spec.heads[h].kind;
        let predictions = self.predict(docs, head)?;
        docs.iter()
            .zip(&predictions)
            .map(|(doc, pred)| {
                let mut out = tokenized(doc).into_owned();
                out.entities.clear();
                out.attributions.clear();
                match kind {
                    HeadKind::Entities => out.entities = self.entities(&out, pred, h)?,
                    HeadKind::Attributions => {
                        out.attributions = self.attributions(&out, pred, h)?
                    }
                }
                Ok(out)
            })
            .collect()
    }

    /// Entities of a tokenised document from head `head`'s predictions.
    pub fn entities(
        &self,
        doc: &Document,
        pred: &WordPredictions,
        head: usize,
    ) -> Result<Vec<Entity>> {
        let tag_set = self.head(head)?.tag_set();
        let tags = self.tags(pred, tag_set)?;
        Ok(entities_from_tags(doc, &tags, Some(&pred.scores), tag_set)?)
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
            Some(l) => assemble_with(doc, &roles, |p| l.score(p, &roles, &pred.vectors)),
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
