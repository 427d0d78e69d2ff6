//! Container shapes: turns the bytes of one file or object into the JSON items it holds.
//!
//! CloudTrail data comes as S3 delivery files (`{"Records":[...]}`), bare JSON arrays of records,
//! single records, JSON Lines, EventBridge envelopes (alone, in arrays or one per line) and
//! LookupEvents output (`{"Events":[{"CloudTrailEvent":"<record as a string>"}]}`). The shape is
//! detected from the content, never from the file name. Items are handed out either as raw byte
//! spans, which the caller prefilters before parsing, or as already-parsed values when the shape
//! had to be parsed to be understood.
//!
//! Text is not checked as a whole: a record that is parsed is validated (JSON and UTF-8) then,
//! and a record the prefilter skips cannot produce a finding whatever its bytes are.

use super::split::{self, Span, SplitError};
use super::{MAX_DEPTH, skip_ws};
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

/// The container shape a buffer was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Empty,
    /// `{"Records":[...]}`, as CloudTrail delivers to S3.
    Delivery,
    /// A bare JSON array of items.
    Array,
    /// One item per line (or concatenated values).
    JsonLines,
    /// A single item.
    Single,
    /// `aws cloudtrail lookup-events` output.
    LookupEvents,
    /// A CloudTrail digest file: skipped.
    Digest,
}

/// One item of a container.
#[derive(Debug)]
pub enum Item<'a> {
    /// JSON text of an item, balanced, with its measured nesting depth.
    Raw { bytes: &'a [u8], depth: u32 },
    /// An item that was already parsed.
    Value(Value),
}

/// Why the container itself could not be read (fully). Items delivered before the error are
/// still valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    #[error("not JSON (starts with byte 0x{0:02x})")]
    NotJson(u8),
    #[error("{0}")]
    Structure(#[from] SplitError),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unexpected data after the JSON value at byte {0}")]
    Trailing(usize),
}

/// Where an item sits in its container.
#[derive(Debug, Clone, Copy)]
pub struct Pos {
    /// 1-based position of the item in the container.
    pub index: usize,
    /// Byte offset of the item in the buffer (0 for items that were parsed out of a value).
    pub offset: usize,
    pub shape: Shape,
}

/// What [`decode`] found.
#[derive(Debug)]
pub struct Decoded {
    pub shape: Shape,
    pub error: Option<ContainerError>,
}

/// Reads `buf` and calls `on_item` for every item, in order.
pub fn decode(buf: &[u8], mut on_item: impl FnMut(Pos, Item<'_>)) -> Decoded {
    let buf = buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(buf);
    let at = skip_ws(buf, 0);
    let done = |shape, error| Decoded { shape, error };
    match buf.get(at) {
        None => done(Shape::Empty, None),
        Some(b'[') => {
            let s = split::split_array(buf, at);
            emit_spans(buf, &s.elements, Shape::Array, &mut on_item);
            let error = s
                .error
                .map(ContainerError::from)
                .or_else(|| trailing(buf, s.end));
            done(Shape::Array, error)
        }
        Some(b'{') => decode_object(buf, at, &mut on_item),
        Some(&b) => done(Shape::Empty, Some(ContainerError::NotJson(b))),
    }
}

fn decode_object(buf: &[u8], at: usize, on_item: &mut impl FnMut(Pos, Item<'_>)) -> Decoded {
    // Fast path for delivery files: `{"Records":[` ... `]}` with nothing else.
    if let Some(open) = records_array(buf, at) {
        let s = split::split_array(buf, open);
        let tail_ok = s.error.is_some() || closes_object(buf, s.end);
        if tail_ok {
            emit_spans(buf, &s.elements, Shape::Delivery, on_item);
            return Decoded {
                shape: Shape::Delivery,
                error: s.error.map(ContainerError::from),
            };
        }
    }
    let values = split::split_values(buf, at);
    if values.elements.len() == 1 && values.error.is_none() {
        return decode_single(buf, values.elements[0], on_item);
    }
    let shape = if values.elements.len() > 1 {
        Shape::JsonLines
    } else {
        Shape::Single
    };
    emit_spans(buf, &values.elements, shape, on_item);
    Decoded {
        shape,
        error: values.error.map(ContainerError::from),
    }
}

/// One top-level object: a delivery file with extra keys, LookupEvents output, a digest, or a
/// single item.
fn decode_single(buf: &[u8], span: Span, on_item: &mut impl FnMut(Pos, Item<'_>)) -> Decoded {
    let bytes = &buf[span.start..span.end];
    let fail = |e| Decoded {
        shape: Shape::Single,
        error: Some(e),
    };
    if span.depth > MAX_DEPTH {
        return fail(ContainerError::TooDeep);
    }
    // Cheap look at the keys before paying for a parse of the whole thing.
    let has = |key: &[u8]| memchr::memmem::find(bytes, key).is_some();
    let wrapper = has(b"\"Records\"") || has(b"\"Events\"") || has(b"\"digestS3Object\"");
    if !wrapper {
        let pos = Pos {
            index: 1,
            offset: span.start,
            shape: Shape::Single,
        };
        on_item(
            pos,
            Item::Raw {
                bytes,
                depth: span.depth,
            },
        );
        return Decoded {
            shape: Shape::Single,
            error: None,
        };
    }
    let value: Value = match sonic_rs::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return fail(ContainerError::InvalidJson(first_line(&e.to_string()))),
    };
    let list = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().cloned())
    };
    if let Some(records) = list("Records") {
        emit_values(records, Shape::Delivery, on_item);
        return Decoded {
            shape: Shape::Delivery,
            error: None,
        };
    }
    if value.get("CloudTrailEvent").is_none()
        && let Some(events) = list("Events")
    {
        emit_values(events, Shape::LookupEvents, on_item);
        return Decoded {
            shape: Shape::LookupEvents,
            error: None,
        };
    }
    if value.get("digestS3Object").is_some() || value.get("digestPublicKeyFingerprint").is_some() {
        return Decoded {
            shape: Shape::Digest,
            error: None,
        };
    }
    on_item(
        Pos {
            index: 1,
            offset: 0,
            shape: Shape::Single,
        },
        Item::Value(value),
    );
    Decoded {
        shape: Shape::Single,
        error: None,
    }
}

fn emit_spans(buf: &[u8], spans: &[Span], shape: Shape, on_item: &mut impl FnMut(Pos, Item<'_>)) {
    for (i, s) in spans.iter().enumerate() {
        let pos = Pos {
            index: i + 1,
            offset: s.start,
            shape,
        };
        on_item(
            pos,
            Item::Raw {
                bytes: &buf[s.start..s.end],
                depth: s.depth,
            },
        );
    }
}

fn emit_values(
    values: impl Iterator<Item = Value>,
    shape: Shape,
    on_item: &mut impl FnMut(Pos, Item<'_>),
) {
    for (i, v) in values.enumerate() {
        on_item(
            Pos {
                index: i + 1,
                offset: 0,
                shape,
            },
            Item::Value(v),
        );
    }
}

/// If the object at `at` starts with the key `"Records"` holding an array, the array's offset.
fn records_array(buf: &[u8], at: usize) -> Option<usize> {
    let key = skip_ws(buf, at + 1);
    let after = key + b"\"Records\"".len();
    if buf.get(key..after)? != b"\"Records\"" {
        return None;
    }
    let colon = skip_ws(buf, after);
    (buf.get(colon) == Some(&b':')).then_some(())?;
    let open = skip_ws(buf, colon + 1);
    (buf.get(open) == Some(&b'[')).then_some(open)
}

/// Whether only `}` and whitespace follow `at`.
fn closes_object(buf: &[u8], at: usize) -> bool {
    let close = skip_ws(buf, at);
    buf.get(close) == Some(&b'}') && skip_ws(buf, close + 1) == buf.len()
}

fn trailing(buf: &[u8], end: usize) -> Option<ContainerError> {
    let rest = skip_ws(buf, end);
    (rest < buf.len()).then_some(ContainerError::Trailing(rest))
}

fn first_line(msg: &str) -> String {
    msg.lines()
        .next()
        .unwrap_or(msg)
        .chars()
        .take(160)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(buf: &str) -> (Decoded, Vec<String>) {
        let mut out = Vec::new();
        let d = decode(buf.as_bytes(), |pos, item| {
            let i = pos.index;
            out.push(match item {
                Item::Raw { bytes, .. } => format!("{i}:{}", String::from_utf8_lossy(bytes)),
                Item::Value(v) => format!("{i}={}", sonic_rs::to_string(&v).unwrap()),
            })
        });
        (d, out)
    }

    #[test]
    fn shapes() {
        let (d, v) = items(r#"{"Records":[{"a":1},{"b":2}]}"#);
        assert_eq!(
            (d.shape, v),
            (
                Shape::Delivery,
                vec!["1:{\"a\":1}".into(), "2:{\"b\":2}".into()]
            )
        );
        let (d, v) = items("\u{feff}\n[{\"a\":1}, 2]");
        assert_eq!((d.shape, v.len()), (Shape::Array, 2));
        let (d, v) = items("{\"a\":1}\n{\"b\":2}\n");
        assert_eq!((d.shape, v.len()), (Shape::JsonLines, 2));
        let (d, v) = items("{\n  \"eventName\": \"X\"\n}\n");
        assert_eq!((d.shape, v.len()), (Shape::Single, 1));
        let (d, v) = items(r#"{"NextToken":"x","Events":[{"CloudTrailEvent":"{}"}]}"#);
        assert_eq!(
            (d.shape, v),
            (
                Shape::LookupEvents,
                vec!["1={\"CloudTrailEvent\":\"{}\"}".into()]
            )
        );
        let (d, v) = items(r#"{"awsAccountId":"1","digestS3Object":"k","logFiles":[]}"#);
        assert_eq!((d.shape, v.len()), (Shape::Digest, 0));
        let (d, v) = items(r#"{"x":1,"Records":[{"a":1}]}"#);
        assert_eq!((d.shape, v.len()), (Shape::Delivery, 1));
        let (d, _) = items("   \n");
        assert_eq!((d.shape, d.error), (Shape::Empty, None));
    }

    #[test]
    fn broken_inputs_keep_what_was_read() {
        let (d, v) = items(r#"{"Records":[{"a":1},{"b":"#);
        assert_eq!(v.len(), 1);
        assert!(matches!(
            d.error,
            Some(ContainerError::Structure(SplitError::Truncated(_)))
        ));
        let (d, _) = items("hello");
        assert_eq!(d.error, Some(ContainerError::NotJson(b'h')));
        let (d, _) = items("[1] x");
        assert_eq!(d.error, Some(ContainerError::Trailing(4)));
        // Invalid UTF-8 inside a record is found when (and only if) the record is parsed.
        let mut n = 0;
        let d = decode(b"[{\"a\":\"\xff\"}]", |_, item| {
            if let Item::Raw { bytes, depth } = item {
                assert!(matches!(
                    crate::record::Record::parse_item(bytes, depth),
                    Err(crate::record::RecordError::InvalidJson(_))
                ));
                n += 1;
            }
        });
        assert_eq!((d.error, n), (None, 1));
    }
}
