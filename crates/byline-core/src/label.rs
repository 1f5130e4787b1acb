//! Label sets: the entity (or role) type names a task uses, in a fixed order, each with a small
//! integer id.
//!
//! ```
//! use byline_core::{LabelId, LabelSet};
//!
//! let labels = LabelSet::from_names(["PER", "LOC", "ORG", "MISC", "PER"]);
//! assert_eq!(labels.len(), 4);
//! assert_eq!(labels.id("ORG"), Some(LabelId(2)));
//! assert_eq!(labels.name(LabelId(1)), "LOC");
//! assert_eq!(serde_json::to_string(&labels).unwrap(), r#"["PER","LOC","ORG","MISC"]"#);
//! ```

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The id of a label in its [`LabelSet`]: the label's position in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelId(pub u16);

impl LabelId {
    /// The id as an index into the set's names.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Why a label set could not be built or extended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    #[error("label name is empty")]
    EmptyName,
    #[error("label `{0}` appears more than once")]
    Duplicate(String),
    #[error("too many labels: at most {max} are supported", max = LabelSet::MAX)]
    TooMany,
}

/// Ordered, deduplicated label names. A label's [`LabelId`] is its position, so the order is part
/// of a trained model's meaning: it is serialized as a JSON list of names, in order.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct LabelSet {
    names: Vec<String>,
    ids: HashMap<String, LabelId>,
}

impl LabelSet {
    /// The largest number of labels a set can hold (ids are `u16`).
    pub const MAX: usize = u16::MAX as usize + 1;

    /// An empty set.
    pub fn new() -> Self {
        LabelSet::default()
    }

    /// A set of the given names in first-seen order; repeated names are kept once.
    ///
    /// For names from a file, prefer [`LabelSet::insert`], which reports empty names and
    /// overflow as errors.
    ///
    /// # Panics
    ///
    /// If a name is empty or there are more than [`LabelSet::MAX`] distinct names: both are
    /// programming errors for a label set written in code.
    pub fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = LabelSet::new();
        for name in names {
            let name = name.as_ref();
            if let Err(e) = set.insert(name) {
                panic!("LabelSet::from_names({name:?}): {e}");
            }
        }
        set
    }

    /// Adds `name` if it is not in the set yet; returns its id either way.
    pub fn insert(&mut self, name: &str) -> Result<LabelId, LabelError> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        if name.is_empty() {
            return Err(LabelError::EmptyName);
        }
        let id = u16::try_from(self.names.len()).map_err(|_| LabelError::TooMany)?;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), LabelId(id));
        Ok(LabelId(id))
    }

    pub fn id(&self, name: &str) -> Option<LabelId> {
        self.ids.get(name).copied()
    }

    /// The name of a label.
    ///
    /// # Panics
    ///
    /// If `id` does not come from this set (ids are only made by a set, so this is a programming
    /// error). Use [`LabelSet::get`] for a checked lookup.
    pub fn name(&self, id: LabelId) -> &str {
        &self.names[id.index()]
    }

    /// The name of a label, or `None` if `id` is out of range.
    pub fn get(&self, id: LabelId) -> Option<&str> {
        self.names.get(id.index()).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Ids and names in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (LabelId, &str)> + '_ {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (LabelId(i as u16), n.as_str()))
    }

    /// The names in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl PartialEq for LabelSet {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Eq for LabelSet {}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LabelSet").field(&self.names).finish()
    }
}

impl TryFrom<Vec<String>> for LabelSet {
    type Error = LabelError;

    /// Strict: a serialized set with a repeated name is an error, not silently deduplicated.
    fn try_from(names: Vec<String>) -> Result<Self, LabelError> {
        let mut set = LabelSet::new();
        for name in names {
            if set.id(&name).is_some() {
                return Err(LabelError::Duplicate(name));
            }
            set.insert(&name)?;
        }
        Ok(set)
    }
}

impl From<LabelSet> for Vec<String> {
    fn from(set: LabelSet) -> Self {
        set.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_first_seen_order() {
        let set = LabelSet::from_names(["B", "A", "B", "C"]);
        let got: Vec<(LabelId, &str)> = set.iter().collect();
        assert_eq!(
            got,
            [(LabelId(0), "B"), (LabelId(1), "A"), (LabelId(2), "C")]
        );
        assert_eq!(set.id("C"), Some(LabelId(2)));
        assert_eq!(set.id("D"), None);
        assert_eq!(set.get(LabelId(3)), None);
    }

    #[test]
    fn insert_reports_bad_names() {
        let mut set = LabelSet::new();
        assert_eq!(set.insert(""), Err(LabelError::EmptyName));
        assert_eq!(set.insert("X"), Ok(LabelId(0)));
        assert_eq!(set.insert("X"), Ok(LabelId(0)));
        for i in 1..LabelSet::MAX {
            set.insert(&i.to_string()).unwrap();
        }
        assert_eq!(set.len(), LabelSet::MAX);
        assert_eq!(set.insert("one too many"), Err(LabelError::TooMany));
    }

    #[test]
    fn serde_is_a_list_of_names() {
        let set = LabelSet::from_names(["PER", "LOC"]);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["PER","LOC"]"#);
        let back: LabelSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        assert_eq!(back.id("LOC"), Some(LabelId(1)));
        let err = serde_json::from_str::<LabelSet>(r#"["A","A"]"#).unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
        assert!(serde_json::from_str::<LabelSet>(r#"[""]"#).is_err());
    }
}
