//! Structural splitting of JSON text: finds where the elements of an array, or the values of a
//! JSON Lines stream, begin and end, without parsing them.
//!
//! This is the hot path of a scan. A CloudTrail delivery file is one big `{"Records":[...]}`
//! object; most of its records can never match a rule, so trailwatch only needs to know where
//! each record starts and ends, and fully parses just the few that pass the prefilter. The scan
//! here works on 64-byte blocks the way simdjson's first stage does: it builds bitmasks of quotes,
//! backslashes and brackets, derives which bytes are inside strings with a prefix-xor, and then
//! walks only the brackets that are outside strings. It never recurses, so nesting depth costs
//! nothing but a counter, and it reports the deepest nesting of each element so that callers can
//! refuse to hand pathological input to a recursive parser.
//!
//! It does not validate JSON grammar: a span it returns may still be invalid JSON. Everything that
//! is parsed later is validated then; records that the prefilter skips are counted but not
//! checked. Unbalanced brackets and unterminated strings are detected.

mod block;

#[cfg(test)]
use block::swar_eq;
use block::{Classified, State, classify, fast_path_available};

/// One element found by [`split_array`] or [`split_values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the first byte of the element.
    pub start: usize,
    /// Byte offset one past the last byte of the element.
    pub end: usize,
    /// Bracket nesting inside the element, counting the element itself as 1 (0 for scalars).
    /// It may overestimate shallow nesting (never beyond 100), and is exact above 100 levels, so
    /// it tells reliably whether an element is too deep to parse.
    pub depth: u32,
}

/// Why the structure of a buffer could not be followed to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("unexpected end of data at byte {0} (truncated or unbalanced JSON)")]
    Truncated(usize),
    #[error("unbalanced closing bracket at byte {0}")]
    Unbalanced(usize),
    #[error("expected '[' at byte {0}")]
    NotArray(usize),
    #[error("missing ',' between array elements at byte {0}")]
    MissingComma(usize),
    #[error("misplaced ',' in array at byte {0}")]
    StrayComma(usize),
}

/// The result of splitting: every complete element found, and the error that stopped the scan
/// early, if any. Elements before the error are still usable.
#[derive(Debug, Default)]
pub struct Split {
    pub elements: Vec<Span>,
    /// Offset one past the closing `]` of the array (or the end of the buffer for JSON Lines).
    pub end: usize,
    pub error: Option<SplitError>,
}

/// Splits the elements of the JSON array whose `[` is at `buf[open]`.
///
/// Scalars between elements (`1`, `"x"`, `null`) are returned as spans with depth 0, so callers
/// can count them as bad records.
pub fn split_array(buf: &[u8], open: usize) -> Split {
    if buf.get(open) != Some(&b'[') {
        return Split {
            error: Some(SplitError::NotArray(open)),
            ..Split::default()
        };
    }
    let mut split = Split::default();
    let mut walker = Walker::new(buf, open + 1, 1);
    walker.base = 1;
    let mut commas = Commas::default();
    let mut gap_start = open + 1;
    loop {
        match walker.next_event() {
            Event::Open { at } if walker.depth == 2 => {
                commas.gap(buf, gap_start, at, &mut split.elements);
                commas.item(at);
                walker.element_start = at;
                walker.max_depth = 1;
            }
            Event::Open { .. } => {}
            Event::Close { at } if walker.depth == 1 => {
                let depth = walker.max_depth;
                split.elements.push(Span {
                    start: walker.element_start,
                    end: at + 1,
                    depth,
                });
                gap_start = at + 1;
            }
            Event::Close { at } if walker.depth == 0 => {
                commas.gap(buf, gap_start, at, &mut split.elements);
                commas.end(at);
                split.end = at + 1;
                split.error = commas.error;
                return split;
            }
            Event::Close { .. } => {}
            Event::Unbalanced { at } => {
                split.error = Some(SplitError::Unbalanced(at));
                split.end = at;
                return split;
            }
            Event::End => {
                split.error = Some(SplitError::Truncated(buf.len()));
                split.end = buf.len();
                return split;
            }
        }
    }
}

/// Splits a stream of top-level JSON values (JSON Lines, or objects simply concatenated) that
/// starts at `buf[from]`.
pub fn split_values(buf: &[u8], from: usize) -> Split {
    let mut split = Split::default();
    let mut walker = Walker::new(buf, from, 0);
    let mut gap_start = from;
    loop {
        match walker.next_event() {
            Event::Open { at } if walker.depth == 1 => {
                Commas::lenient().gap(buf, gap_start, at, &mut split.elements);
                walker.element_start = at;
                walker.max_depth = 1;
            }
            Event::Open { .. } => {}
            Event::Close { at } if walker.depth == 0 => {
                let depth = walker.max_depth;
                split.elements.push(Span {
                    start: walker.element_start,
                    end: at + 1,
                    depth,
                });
                gap_start = at + 1;
            }
            Event::Close { .. } => {}
            Event::Unbalanced { at } => {
                split.error = Some(SplitError::Unbalanced(at));
                split.end = at;
                return split;
            }
            Event::End if walker.depth == 0 && !walker.in_string() => {
                Commas::lenient().gap(buf, gap_start, buf.len(), &mut split.elements);
                split.end = buf.len();
                return split;
            }
            Event::End => {
                split.error = Some(SplitError::Truncated(buf.len()));
                split.end = buf.len();
                return split;
            }
        }
    }
}

/// Finds the end of the single JSON value starting at `buf[at]` (an object or array), or `None`
/// if the structure is truncated or unbalanced. Also returns the deepest nesting seen.
pub fn value_end(buf: &[u8], at: usize) -> Option<(usize, u32)> {
    if !matches!(buf.get(at), Some(b'{' | b'[')) {
        return None;
    }
    let mut walker = Walker::new(buf, at + 1, 1);
    walker.max_depth = 1;
    loop {
        match walker.next_event() {
            Event::Close { at } if walker.depth == 0 => return Some((at + 1, walker.max_depth)),
            Event::Open { .. } | Event::Close { .. } => {}
            Event::Unbalanced { .. } | Event::End => return None,
        }
    }
}

/// Checks the separators of an array as its items go by: items must be separated by exactly one
/// comma, with none before the first or after the last. Also collects the scalars found between
/// containers (`1`, `"x"`, `null`), which callers count as bad records.
#[derive(Default)]
struct Commas {
    /// An item was seen and no comma after it yet.
    after_item: bool,
    seen_item: bool,
    /// Accept any commas (JSON Lines, where there should be none but they do no harm).
    lenient: bool,
    error: Option<SplitError>,
}

impl Commas {
    fn lenient() -> Commas {
        Commas {
            lenient: true,
            ..Commas::default()
        }
    }

    fn item(&mut self, at: usize) {
        if self.after_item && !self.lenient {
            self.error.get_or_insert(SplitError::MissingComma(at));
        }
        self.after_item = true;
        self.seen_item = true;
    }

    fn comma(&mut self, at: usize) {
        if !self.after_item && !self.lenient {
            self.error.get_or_insert(SplitError::StrayComma(at));
        }
        self.after_item = false;
    }

    fn end(&mut self, at: usize) {
        if self.seen_item && !self.after_item {
            self.error.get_or_insert(SplitError::StrayComma(at));
        }
    }

    /// Walks the bytes between two containers.
    fn gap(&mut self, buf: &[u8], from: usize, to: usize, out: &mut Vec<Span>) {
        let gap = &buf[from..to];
        let mut i = 0;
        while i < gap.len() {
            match gap[i] {
                b' ' | b'\n' | b'\r' | b'\t' => i += 1,
                b',' => {
                    self.comma(from + i);
                    i += 1;
                }
                _ => {
                    let end = i + scalar_len(&gap[i..]);
                    self.item(from + i);
                    out.push(Span {
                        start: from + i,
                        end: from + end,
                        depth: 0,
                    });
                    i = end;
                }
            }
        }
    }
}

/// Length of the scalar at the start of `s`: a string up to its closing quote, or anything else
/// up to the next separator.
fn scalar_len(s: &[u8]) -> usize {
    if s.first() == Some(&b'"') {
        let mut escaped = false;
        for (i, &b) in s.iter().enumerate().skip(1) {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => return i + 1,
                _ => {}
            }
        }
        return s.len();
    }
    s.iter()
        .position(|b| matches!(b, b',' | b' ' | b'\n' | b'\r' | b'\t'))
        .unwrap_or(s.len())
}

enum Event {
    Open { at: usize },
    Close { at: usize },
    Unbalanced { at: usize },
    End,
}

/// Walks the brackets outside strings, one 64-byte block at a time.
struct Walker<'a> {
    buf: &'a [u8],
    /// Offset of the current block.
    block: usize,
    /// Brackets of the current block not yet reported (bit i = byte block + i).
    pending: u64,
    /// Which of the pending brackets open.
    opens: u64,
    state: State,
    /// Whether the CPU has AVX2, PCLMULQDQ and POPCNT (x86_64 only).
    fast: bool,
    depth: u32,
    max_depth: u32,
    element_start: usize,
    started: bool,
    /// Depth of the elements' container, so `max_depth` counts from the element itself.
    base: u32,
}

impl<'a> Walker<'a> {
    fn new(buf: &'a [u8], from: usize, depth: u32) -> Self {
        Walker {
            buf,
            block: from,
            pending: 0,
            opens: 0,
            state: State::default(),
            fast: fast_path_available(),
            depth,
            max_depth: 0,
            element_start: from,
            started: false,
            base: 0,
        }
    }

    fn in_string(&self) -> bool {
        self.state.in_string != 0
    }

    fn next_event(&mut self) -> Event {
        loop {
            if self.pending != 0 {
                let i = self.pending.trailing_zeros() as usize;
                self.pending &= self.pending - 1;
                let at = self.block + i;
                if self.opens >> i & 1 == 1 {
                    self.depth += 1;
                    self.max_depth = self.max_depth.max(self.depth.saturating_sub(self.base));
                    return Event::Open { at };
                }
                if self.depth == 0 {
                    return Event::Unbalanced { at };
                }
                self.depth -= 1;
                return Event::Close { at };
            }
            if self.started {
                self.block += 64;
            }
            self.started = true;
            if self.block >= self.buf.len() {
                return Event::End;
            }
            self.load_block();
        }
    }

    fn load_block(&mut self) {
        let rest = &self.buf[self.block..];
        let mut tail = [b' '; 64];
        let block: &[u8; 64] = match rest.first_chunk::<64>() {
            Some(b) => b,
            None => {
                tail[..rest.len()].copy_from_slice(rest);
                &tail
            }
        };
        let Classified {
            brackets,
            opens,
            n_open,
            n_close,
        } = classify(block, &mut self.state, self.fast);
        self.pending = brackets;
        self.opens = opens;
        // Inside a record, most blocks cannot reach the depth where elements start or end: if
        // even all of the block's closing brackets in a row would stay above it, skip the
        // block's brackets wholesale. The depth bound recorded then may overestimate the true
        // nesting, but only up to SKIP_DEPTH, so any depth above that is still exact.
        let bound = self.depth + n_open - self.base;
        if self.depth >= self.base + 1 + n_close && bound <= SKIP_DEPTH {
            self.depth = self.depth + n_open - n_close;
            self.max_depth = self.max_depth.max(bound);
            self.pending = 0;
        }
    }
}

/// Depth bounds up to this may be recorded for skipped blocks (see [`Walker::load_block`]).
const SKIP_DEPTH: u32 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(buf: &'a str, s: &Split) -> Vec<&'a str> {
        s.elements.iter().map(|e| &buf[e.start..e.end]).collect()
    }

    #[test]
    fn splits_records_and_reports_scalars() {
        let buf = r#"{"Records":[{"a":"x}"},  {"b":[1,{"c":2}]} ,7,"s,]",null,[1]]}"#;
        let open = buf.find('[').unwrap();
        let s = split_array(buf.as_bytes(), open);
        assert_eq!(s.error, None);
        assert_eq!(
            texts(buf, &s),
            vec![
                r#"{"a":"x}"}"#,
                r#"{"b":[1,{"c":2}]}"#,
                "7",
                r#""s,]""#,
                "null",
                "[1]"
            ]
        );
        let depths: Vec<u32> = s.elements.iter().map(|e| e.depth).collect();
        assert_eq!(depths, vec![1, 3, 0, 0, 0, 1]);
        assert_eq!(&buf[s.end..], "}");
    }

    #[test]
    fn escapes_and_block_boundaries() {
        // Backslash runs of every parity, placed across 64-byte block edges.
        for pad in 0..70 {
            let buf = format!(
                r#"[{{"p":"{}","q":"a\\\\","r":"\"}}\\\"{{"}},{{"s":"\\\\\\\""}}]"#,
                "x".repeat(pad)
            );
            let s = split_array(buf.as_bytes(), 0);
            assert_eq!(s.error, None, "pad {pad}");
            assert_eq!(s.elements.len(), 2, "pad {pad}: {:?}", texts(&buf, &s));
        }
    }

    #[test]
    fn separators_are_checked() {
        let check = |buf: &str| split_array(buf.as_bytes(), 0).error;
        assert_eq!(
            check(r#"[{"a":1} {"b":2}]"#),
            Some(SplitError::MissingComma(9))
        );
        assert_eq!(
            check(r#"[{"a":1},,{"b":2}]"#),
            Some(SplitError::StrayComma(9))
        );
        assert_eq!(check(r#"[,{"a":1}]"#), Some(SplitError::StrayComma(1)));
        assert_eq!(check(r#"[{"a":1},]"#), Some(SplitError::StrayComma(9)));
        assert_eq!(check(r#"[1 2]"#), Some(SplitError::MissingComma(3)));
        assert_eq!(check("[ ]"), None);
        assert_eq!(check(r#"[ {"a":1} , "x,y" , {"b":[]} ]"#), None);
        // The elements stay usable.
        assert_eq!(split_array(br#"[{"a":1} {"b":2}]"#, 0).elements.len(), 2);
    }

    #[test]
    fn truncated_and_unbalanced() {
        let s = split_array(br#"[{"a":1},{"b":"#, 0);
        assert_eq!(s.elements.len(), 1);
        assert!(matches!(s.error, Some(SplitError::Truncated(_))));
        let s = split_values(b"{}\n}{}", 0);
        assert!(matches!(s.error, Some(SplitError::Unbalanced(3))));
    }

    #[test]
    fn json_lines() {
        let buf = "{\"a\":1}\n{\"b\":{\"c\":[]}}\r\n\n{\"d\":\"}\"}";
        let s = split_values(buf.as_bytes(), 0);
        assert_eq!(s.error, None);
        assert_eq!(
            texts(buf, &s),
            vec!["{\"a\":1}", "{\"b\":{\"c\":[]}}", "{\"d\":\"}\"}"]
        );
        assert_eq!(s.elements[1].depth, 3);
    }

    #[test]
    fn value_end_finds_first_value() {
        assert_eq!(value_end(br#"{"a":[1,2]} {"b":1}"#, 0), Some((11, 2)));
        assert_eq!(value_end(br#"{"a":[1,2]"#, 0), None);
    }

    #[test]
    fn deep_nesting_is_counted_not_recursed() {
        let n = 200_000;
        let buf = format!("[{}{}]", "[".repeat(n), "]".repeat(n));
        let s = split_array(buf.as_bytes(), 0);
        assert_eq!(s.error, None);
        assert_eq!(s.elements[0].depth as usize, n);
    }

    #[test]
    fn fast_and_portable_paths_agree() {
        let text = r#"{"a":"x\\\"}{[","b":[{"c":"\\"},"]"]}"#.repeat(9);
        for offset in 0..64 {
            let bytes = &text.as_bytes()[offset..];
            let (mut fast, mut slow) = (State::default(), State::default());
            for chunk in bytes.chunks_exact(64) {
                let block: &[u8; 64] = chunk.try_into().unwrap();
                let f = classify(block, &mut fast, fast_path_available());
                let s = classify(block, &mut slow, false);
                assert_eq!(f, s, "offset {offset}");
            }
        }
    }

    #[test]
    fn swar_matches_scalar() {
        let w = u64::from_le_bytes(*b"a\"{\\}\"[z");
        assert_eq!(swar_eq(w, b'"'), 0b0010_0010);
        assert_eq!(swar_eq(w, b'\\'), 0b0000_1000);
    }
}
