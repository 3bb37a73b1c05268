//! Parse each shape of a template's output once.
//!
//! Parsing the rendered YAML is most of the cost of a render (a 3 KB Pod takes ~100 µs
//! through libyaml, the template itself ~10 µs). But in a YAML template every `{{ value }}`
//! prints one whole YAML node, so the output's *shape* (everything except those nodes)
//! depends only on the template's control flow, which rarely varies between events.
//!
//! So a render first runs with each printed value replaced by a placeholder (a quoted
//! private-use marker and an index) while the values are kept aside. That placeholder text
//! is the shape: parsed once and cached as JSON with the placeholders' positions. Each
//! render then fills the positions with the values, converted exactly as YAML would have
//! read them back (`escape::value_to_json`, the twin of `escape::write_yaml`), and types
//! the result. A shape where a placeholder is not a whole node (inside a longer string, a
//! block scalar, or a key), or where the markers do not add up, is never filled: it is
//! rendered and parsed in full each time, so the result is always what the full path gives.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use minijinja::{Output, Value};
use rustc_hash::FxHashMap;

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';
/// Past this many shapes the cache starts again, so event data that changes the control
/// flow (a loop over labels, say) cannot grow it without bound.
const MAX_SHAPES: usize = 256;

thread_local! {
    static CAPTURED: RefCell<Option<Vec<Value>>> = const { RefCell::new(None) };
}

/// Called by the YAML formatter: while a capture is on, keeps the value and prints its
/// placeholder instead. Returns whether it did.
pub(super) fn capture(value: &Value, out: &mut Output<'_>) -> bool {
    CAPTURED.with(|c| {
        let mut c = c.borrow_mut();
        let Some(values) = c.as_mut() else {
            return false;
        };
        let index = values.len();
        values.push(value.clone());
        out.write_str(&placeholder(index)).is_ok()
    })
}

/// `"<OPEN><index><CLOSE>"`: a quoted YAML string no template text or value can contain.
fn placeholder(index: usize) -> String {
    let mut s = String::with_capacity(16);
    s.push('"');
    s.push(OPEN);
    let mut digits = [0u8; 20];
    let mut n = index;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.extend(digits[i..].iter().map(|&d| d as char));
    s.push(CLOSE);
    s.push('"');
    s
}

/// Runs `render` with capturing on; returns its output and the captured values.
pub(super) fn capturing<T, E>(render: impl FnOnce() -> Result<T, E>) -> Result<(T, Vec<Value>), E> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CAPTURED.with(|c| c.borrow_mut().take());
        }
    }
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let _reset = Reset;
    let out = render()?;
    let values = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    Ok((out, values))
}

/// A parsed shape: its documents as JSON, each hole still a placeholder string.
#[derive(Debug)]
pub(super) struct Shape {
    documents: Vec<serde_json::Value>,
    values: usize,
}

/// The index of a placeholder string.
pub(super) fn hole_index(s: &str) -> Option<usize> {
    s.strip_prefix(OPEN)?.strip_suffix(CLOSE)?.parse().ok()
}

#[derive(Debug)]
pub(super) enum Cached {
    Shape(Shape),
    /// The placeholders are not all whole nodes (a key, a comment), or the text does not
    /// parse: render in full.
    Unusable,
    /// A value is printed inside a longer string or a block scalar, where its quotes are
    /// not quotes: refused, whatever the value (the loader refuses such templates too; this
    /// holds for every template the engine renders).
    Refused(String),
}

#[derive(Default)]
pub(super) struct ShapeCache {
    /// Keyed by the placeholder text itself; FxHash, as hashing that text (a few KB) with
    /// the default SipHash was ~5% of a render. The keys are our templates' output with
    /// every value taken out, so nobody outside can aim collisions at the map.
    shapes: Mutex<FxHashMap<String, Arc<Cached>>>,
    filled: AtomicU64,
    full: AtomicU64,
}

/// How renders went: filled into a cached shape, or rendered and parsed in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShapeStats {
    pub filled: u64,
    pub rendered_in_full: u64,
    pub shapes: usize,
}

impl ShapeCache {
    pub(super) fn count(&self, filled: bool) {
        let counter = if filled { &self.filled } else { &self.full };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn stats(&self) -> ShapeStats {
        ShapeStats {
            filled: self.filled.load(Ordering::Relaxed),
            rendered_in_full: self.full.load(Ordering::Relaxed),
            shapes: self.lock().len(),
        }
    }

    pub(super) fn get_or_parse(&self, text: String, values: usize) -> Arc<Cached> {
        if let Some(found) = self.lock().get(&text) {
            return found.clone();
        }
        let parsed = Arc::new(match parse_shape(&text, values) {
            Some(shape) => Cached::Shape(shape),
            None => misplaced(&text).map_or(Cached::Unusable, Cached::Refused),
        });
        let mut shapes = self.lock();
        if shapes.len() >= MAX_SHAPES {
            shapes.clear();
        }
        shapes.insert(text, parsed.clone());
        parsed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<String, Arc<Cached>>> {
        // A panic elsewhere cannot leave the map half-written: inserts are single calls.
        self.shapes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn parse_shape(text: &str, values: usize) -> Option<Shape> {
    if text.matches(OPEN).count() != values || text.matches(CLOSE).count() != values {
        return None;
    }
    let documents = super::objects::yaml_documents("", text).ok()?;
    let mut holes = Vec::new();
    for document in &documents {
        // What kind of object a document is must not depend on a value.
        for key in ["apiVersion", "kind"] {
            if document
                .get(key)
                .and_then(serde_json::Value::as_str)
                .is_some_and(|s| s.contains(OPEN))
            {
                return None;
            }
        }
        find_holes(document, &mut |index| holes.push(index))?;
    }
    // Every value must have exactly one whole-node place.
    let mut seen = vec![false; values];
    for index in holes {
        if std::mem::replace(seen.get_mut(index)?, true) {
            return None;
        }
    }
    if seen.iter().any(|s| !s) {
        return None;
    }
    Some(Shape { documents, values })
}

/// Why a shape must not be rendered: a placeholder that is part of a longer string or key
/// (in quotes, in a block scalar, after other text). `None` when there is none, or when the
/// text does not parse (the full render reports that).
fn misplaced(text: &str) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &str) -> Option<String> {
        let partial = |s: &str| (s.contains(OPEN) || s.contains(CLOSE)) && hole_index(s).is_none();
        match value {
            serde_json::Value::String(s) if partial(s) => Some(format!(
                "a value printed by `{{{{ … }}}}` is part of a longer string at `{}` (inside \
                 quotes, a block scalar, or after other text), where its own quotes would be \
                 text and a quote or newline in it could end the string; print it on its own, \
                 `key: {{{{ value }}}}`, and join text in the expression: \
                 `{{{{ \"prefix-\" ~ value }}}}`",
                if path.is_empty() { "." } else { path }
            )),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if partial(key) {
                    return Some(format!(
                        "a value printed by `{{{{ … }}}}` is part of a longer key at `{path}`; \
                         print a key on its own, `{{{{ key }}}}: value`"
                    ));
                }
                walk(item, &at)
            }),
            _ => None,
        }
    }
    let documents = super::objects::yaml_documents("", text).ok()?;
    documents.iter().find_map(|d| walk(d, ""))
}

/// Calls `hole` for every string that is exactly one placeholder; `None` when a marker
/// appears anywhere else (part of a string, a key).
fn find_holes(value: &serde_json::Value, hole: &mut impl FnMut(usize)) -> Option<()> {
    match value {
        serde_json::Value::String(s) if s.contains(OPEN) || s.contains(CLOSE) => {
            hole(hole_index(s)?)
        }
        serde_json::Value::Array(items) => {
            for item in items {
                find_holes(item, hole)?;
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                if key.contains(OPEN) || key.contains(CLOSE) {
                    return None;
                }
                find_holes(item, hole)?;
            }
        }
        _ => {}
    }
    Some(())
}

impl Shape {
    pub(super) fn documents(&self) -> &[serde_json::Value] {
        &self.documents
    }

    /// How many values fill it.
    pub(super) fn values(&self) -> usize {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn marker(i: usize) -> String {
        format!("\"{OPEN}{i}{CLOSE}\"")
    }

    #[test]
    fn placeholders_are_quoted_markers_with_the_index() {
        for i in [0, 7, 10, 12345, usize::MAX] {
            assert_eq!(placeholder(i), marker(i));
        }
    }

    #[test]
    fn whole_node_placeholders_become_holes() {
        let text = format!(
            "a: {}\nb:\n  - x\n  - {}\n---\nc: {}\n",
            marker(0),
            marker(1),
            marker(2)
        );
        let shape = parse_shape(&text, 3).expect("a usable shape");
        let values = [
            serde_json::json!("t: {x}"),
            serde_json::json!(7),
            serde_json::json!([true, false]),
        ];
        let ignored = std::cell::Cell::new(0);
        let read = |node| {
            serde_json::Value::deserialize(super::super::filled::Filled {
                node,
                values: &values,
                ignored: &ignored,
            })
            .unwrap()
        };
        let documents = shape.documents();
        assert_eq!(
            read(&documents[0]),
            serde_json::json!({"a": "t: {x}", "b": ["x", 7]})
        );
        assert_eq!(read(&documents[1]), serde_json::json!({"c": [true, false]}));
    }

    #[test]
    fn placeholders_that_are_not_whole_nodes_make_the_shape_unusable() {
        let part_of_a_string = format!("image: foo:{}\n", marker(0));
        let in_a_key = format!("{}: x\n", marker(0));
        let in_a_block_scalar = format!("data: |\n  hello {}\n", marker(0));
        let in_a_comment = format!("a: 1 # {}\n", marker(0));
        for text in [
            &part_of_a_string,
            &in_a_key,
            &in_a_block_scalar,
            &in_a_comment,
        ] {
            assert!(parse_shape(text, 1).is_none(), "{text:?}");
        }
        // Inside a string or a block scalar it is refused; a whole key or a comment is
        // only rendered in full.
        assert!(misplaced(&part_of_a_string).is_some_and(|m| m.contains("`image`")));
        assert!(misplaced(&in_a_block_scalar).is_some_and(|m| m.contains("`data`")));
        let in_quotes = format!("a:\n  - b: 'x-{}'\n", marker(0));
        assert!(
            misplaced(&in_quotes).is_some_and(|m| m.contains("`a[0].b`")),
            "{in_quotes}"
        );
        assert_eq!(misplaced(&in_a_key), None);
        assert_eq!(misplaced(&in_a_comment), None);
    }

    #[test]
    fn markers_that_do_not_add_up_make_the_shape_unusable() {
        // A marker forged in text the template printed raw (`| safe`), or a repeated one.
        let forged = format!("a: {}\nb: {}\n", marker(0), marker(0));
        assert!(parse_shape(&forged, 1).is_none());
        assert!(parse_shape(&forged, 2).is_none());
        let missing = format!("a: {}\n", marker(1));
        assert!(parse_shape(&missing, 2).is_none());
    }

    #[test]
    fn a_kind_that_depends_on_a_value_is_unusable() {
        let text = format!("apiVersion: v1\nkind: {}\n", marker(0));
        assert!(parse_shape(&text, 1).is_none());
    }

    #[test]
    fn text_that_is_not_yaml_is_unusable_and_left_to_the_full_path() {
        assert!(parse_shape("a: [1, 2\n", 0).is_none());
    }
}
