//! The body of `POST /v1/tag`: `{"documents": [{"id", "text"}, ...]}` or one `{"text"}` (`id`
//! optional), read into documents or refused with the status that says why.

use byline_core::Document;
use serde_json::{Map, Value};

use crate::api_error::ApiError;

/// A request's documents, and whether it was the single-document form.
#[derive(Debug, Clone, PartialEq)]
pub struct TagRequest {
    pub documents: Vec<Document>,
    pub single: bool,
}

/// Reads a request body. Invalid UTF-8, malformed JSON and a missing `text` are 400; a
/// well-formed request that cannot be served (empty or too long `documents`, an `id` or `text`
/// that is not a string) is 422. A document without `id` is named by its 1-based position.
pub fn parse(body: &[u8], max_documents: usize) -> Result<TagRequest, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(ApiError::bad_request(
            "expected a JSON object with \"documents\" or \"text\"",
        ));
    };
    match (object.get("documents"), object.contains_key("text")) {
        (Some(documents), _) => {
            let Value::Array(documents) = documents else {
                return Err(ApiError::unprocessable("\"documents\" must be an array"));
            };
            if documents.is_empty() {
                return Err(ApiError::unprocessable("\"documents\" is empty"));
            }
            if documents.len() > max_documents {
                return Err(ApiError::unprocessable(format!(
                    "{} documents in one request; at most {max_documents}",
                    documents.len()
                )));
            }
            let documents = documents
                .iter()
                .enumerate()
                .map(|(i, d)| match d {
                    Value::Object(d) => document(d, i + 1, &format!("documents[{i}]")),
                    _ => Err(ApiError::unprocessable(format!(
                        "documents[{i}] must be an object"
                    ))),
                })
                .collect::<Result<_, _>>()?;
            Ok(TagRequest {
                documents,
                single: false,
            })
        }
        (None, true) => Ok(TagRequest {
            documents: vec![document(&object, 1, "the document")?],
            single: true,
        }),
        (None, false) => Err(ApiError::bad_request("missing \"text\" (or \"documents\")")),
    }
}

fn document(
    object: &Map<String, Value>,
    position: usize,
    what: &str,
) -> Result<Document, ApiError> {
    let text = match object.get("text") {
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            return Err(ApiError::unprocessable(format!(
                "{what}: \"text\" must be a string"
            )))
        }
        None => return Err(ApiError::bad_request(format!("{what}: missing \"text\""))),
    };
    let id = match object.get("id") {
        Some(Value::String(id)) => id.clone(),
        None | Some(Value::Null) => position.to_string(),
        Some(_) => {
            return Err(ApiError::unprocessable(format!(
                "{what}: \"id\" must be a string"
            )))
        }
    };
    Ok(Document::new(id, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case: a body and the status it is refused with.
    #[test]
    fn refuses_bad_bodies_with_their_status() {
        let cases: &[(&[u8], u16)] = &[
            (b"\xff\xfe", 400),
            (b"{\"text\": \"a\xffb\"}", 400),
            (b"{\"text\": ", 400),
            (b"[1, 2]", 400),
            (b"{}", 400),
            (b"{\"id\": \"x\"}", 400),
            (b"{\"documents\": [{\"id\": \"x\"}]}", 400),
            (b"{\"documents\": []}", 422),
            (b"{\"documents\": {}}", 422),
            (b"{\"documents\": [1]}", 422),
            (b"{\"documents\": [{\"id\": 7, \"text\": \"a\"}]}", 422),
            (b"{\"text\": 3}", 422),
            (
                b"{\"documents\": [{\"text\":\"a\"},{\"text\":\"b\"},{\"text\":\"c\"}]}",
                422,
            ),
        ];
        for &(body, status) in cases {
            let err = parse(body, 2).expect_err(&String::from_utf8_lossy(body));
            assert_eq!(
                err.status.as_u16(),
                status,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn reads_both_forms_and_names_documents_by_position() {
        let r = parse(br#"{"text": "Merkel said."}"#, 4).unwrap();
        assert!(r.single);
        assert_eq!(r.documents, vec![Document::new("1", "Merkel said.")]);
        let r = parse(
            br#"{"documents": [{"id": "a", "text": "x"}, {"text": "y", "extra": 1}]}"#,
            4,
        )
        .unwrap();
        assert!(!r.single);
        assert_eq!(
            r.documents,
            vec![Document::new("a", "x"), Document::new("2", "y")]
        );
    }
}
