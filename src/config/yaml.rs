//! A YAML tree that remembers where every node came from.
//!
//! serde_yaml gives typed values but no positions; we need `file:line:column` for every
//! error, including semantic ones found after parsing, and we want every error at once.
//! So services.yaml is first read into this spanned tree (yaml-rust2's event parser),
//! checked against the JSON Schema of the model, and only then deserialized.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    /// The line and column (in characters) of a byte offset of `text` (clamped to the text,
    /// and back to the start of a character it falls inside).
    pub fn at_byte(text: &str, byte: usize) -> Pos {
        let mut byte = byte.min(text.len());
        while !text.is_char_boundary(byte) {
            byte -= 1;
        }
        let before = &text[..byte];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Pos {
            line: before.matches('\n').count() + 1,
            col: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

/// A problem found while reading the YAML text itself.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlIssue {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The node at a path of map keys and list indexes, if present.
    pub fn get_path<S: AsRef<str>>(&self, path: &[S]) -> Option<&Node> {
        let mut node = self;
        for part in path {
            let part = part.as_ref();
            node = match &node.kind {
                NodeKind::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.name == part)
                    .map(|(_, v)| v)?,
                NodeKind::Seq(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Leaves the node at `path` out of the tree (a key and its value, or a list item);
    /// nothing when there is none.
    pub fn remove<S: AsRef<str>>(&mut self, path: &[S]) {
        let Some((last, parent)) = path.split_last() else {
            return;
        };
        let mut node = self;
        for part in parent {
            let part = part.as_ref();
            let next = match &mut node.kind {
                NodeKind::Map(entries) => entries
                    .iter_mut()
                    .find(|(k, _)| k.name == part)
                    .map(|(_, v)| v),
                NodeKind::Seq(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return,
            }
        }
        let last = last.as_ref();
        match &mut node.kind {
            NodeKind::Map(entries) => entries.retain(|(k, _)| k.name != last),
            NodeKind::Seq(items) => {
                if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                    items.remove(i);
                }
            }
            _ => {}
        }
    }

    /// The position of the deepest existing node along `path` (so a missing key points at
    /// its parent mapping).
    pub fn pos_of<S: AsRef<str>>(&self, path: &[S]) -> Pos {
        let mut node = self;
        for part in path {
            let part = part.as_ref();
            let next = match &node.kind {
                NodeKind::Map(entries) => {
                    entries.iter().find(|(k, _)| k.name == part).map(|(_, v)| v)
                }
                NodeKind::Seq(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.pos
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Said where a second document starts.
const SECOND_DOCUMENT: &str = "a second YAML document starts here; the file holds one: delete \
                               from here on, or move what it says into the first document";

/// Parses a file of one YAML document into a spanned tree. An empty document is a null
/// node. Duplicate keys, non-scalar keys and unknown tags are reported as issues (all of
/// them); a syntax error stops the parse and is the only issue. A second document (after
/// `---` or `...`), junk or not, is an issue at its start, not ignored (attacker review
/// 15b, A3).
pub fn parse(text: &str) -> Result<Node, Vec<YamlIssue>> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Event by event, not `Parser::load`, which recurses once per nesting level of a
    // block collection and so can be made to overflow the stack.
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, mark)) => {
                let ends_document = event == Event::DocumentEnd;
                builder.on_event(event, mark);
                if builder.done {
                    // After the document, only the stream's end (comments, a `...`).
                    if ends_document {
                        match parser.next_token() {
                            Ok((Event::StreamEnd, _)) => {}
                            Ok((_, mark)) => builder.issues.push(YamlIssue {
                                pos: line_start(text, pos(&mark)),
                                message: SECOND_DOCUMENT.into(),
                            }),
                            Err(e) => return Err(vec![syntax_issue(text, &e, &[])]),
                        }
                    }
                    break;
                }
            }
            Err(e) => return Err(vec![syntax_issue(text, &e, &builder.stack)]),
        }
    }
    if !builder.issues.is_empty() {
        return Err(builder
            .issues
            .into_iter()
            .map(|issue| unquoted_template(text, issue))
            .collect());
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Null,
        pos: Pos { line: 1, col: 1 },
    }))
}

/// A syntax error as a user can act on it: at the offending character, in plain words.
/// yaml-rust2 reports an unclosed `[` or `{` where it gave up (often the end of the file),
/// a tab in the indentation after the tab, and a wrongly indented key at its `:`; each is
/// moved to the character at fault.
fn syntax_issue(text: &str, e: &yaml_rust2::ScanError, open: &[Frame]) -> YamlIssue {
    let at = pos(e.marker());
    let info = e.info();
    let issue = |pos: Pos, message: String| YamlIssue {
        pos,
        message: format!("invalid YAML: {message}"),
    };
    if info.contains("recursion limit exceeded") {
        return YamlIssue {
            pos: at,
            message: format!("nested more than {MAX_DEPTH} levels deep"),
        };
    }
    if info.contains("tab") {
        // yaml-rust2 may report it at the end of the line before (a plain scalar that
        // would run on into the next line): the line at fault is the one a tab indents.
        let indented = (at.line..=at.line + 1).find_map(|n| {
            let line = text.lines().nth(n.checked_sub(1)?)?;
            let col = line
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .position(|c| c == '\t')?;
            Some(Pos {
                line: n,
                col: col + 1,
            })
        });
        return issue(indented.unwrap_or(at), TAB_INDENT.into());
    }
    let unclosed = |opener: char, closer: char| {
        let start = open.iter().rev().find_map(|frame| {
            let p = frame.pos();
            (char_at(text, p) == Some(opener)).then_some(p)
        })?;
        Some(issue(
            start,
            format!(
                "this `{opener}` is never closed (expected `,` or `{closer}` at line {} column {})",
                at.line, at.col
            ),
        ))
    };
    let found = if info.contains("parsing a flow sequence") {
        unclosed('[', ']')
    } else if info.contains("parsing a flow mapping") {
        unclosed('{', '}')
    } else if info.contains("illegal placement of ':'")
        || info.contains("invalid indentation in flow construct")
        || info == "invalid indentation"
        || info.contains("did not find expected node content")
    {
        // A key on the line after an unclosed `[` or `{`, or a line less indented than
        // the list it would continue (new-user review 13f, N10); or than the mapping the
        // `[` is in, and a `[` at the end of the file (new-user review 13h, F3: "invalid
        // indentation" two lines below, and libyaml's "did not find expected node content").
        unclosed('[', ']').or_else(|| unclosed('{', '}'))
    } else {
        None
    };
    if let Some(found) = found {
        return found;
    }
    // Reported at the opening quote (new-user review 13f, N10: before, "invalid
    // indentation in quoted scalar").
    if info.contains("invalid indentation in quoted scalar")
        && let Some(quote) = char_at(text, at).filter(|c| matches!(c, '"' | '\''))
    {
        return issue(
            at,
            format!("this `{quote}` is never closed on its line: end the value with `{quote}`"),
        );
    }
    if info.contains("block mapping, did not find expected key")
        && let Some(col) = template_value_at(text, at.line)
    {
        // `key: {{ x }} more`: YAML's `{ … }`, then text after it (new-user review 13f,
        // N10; `key: {{ x }}` alone is told by `unquoted_template`).
        return YamlIssue {
            pos: Pos { line: at.line, col },
            message: UNQUOTED_TEMPLATE.into(),
        };
    }
    if info.contains("simple key expect ':'") || info.contains("could not find expected ':'") {
        // Reported where the next key starts: the key without its `:` is the line above
        // (new-user review 13b, N10; before: libyaml's words, a line late).
        let above = (1..at.line).rev().find_map(|n| {
            let line = text.lines().nth(n - 1)?;
            let content = line.trim_start_matches(' ');
            (!content.trim().is_empty() && !content.starts_with('#')).then_some((n, line))
        });
        if let Some((n, line)) = above {
            let indent = line.len() - line.trim_start_matches(' ').len();
            let content = line[indent..].trim_end();
            if let Some(item) = glued_dash(content) {
                return issue(
                    Pos {
                        line: n,
                        col: indent + 1,
                    },
                    format!(
                        "`{content}` has no space after its `-`, so YAML reads it as text, not \
                         as an item of the list; write `- {item}`"
                    ),
                );
            }
            let (col, content) = match content.strip_prefix("- ") {
                Some(item) => (indent + 3, item.trim_start()),
                None => (indent + 1, content),
            };
            let fix = match content.split_once(' ') {
                Some((key, value)) if !key.contains(':') => format!("{key}: {}", value.trim()),
                _ => format!("{content}:"),
            };
            return issue(
                Pos { line: n, col },
                format!(
                    "`{content}` is a key without its `:`; write `{fix}` (a key, then `:` and \
                     a space, then its value)"
                ),
            );
        }
    }
    if info.contains("mapping values are not allowed")
        && let Some((n, line)) = content_line_above(text, at.line)
        && let Some((key, value)) = glued_key(line.trim())
    {
        // `key:0` is one plain text that runs on into the next line, whose `:` libyaml
        // then refuses (new-user review 13c, N7; before: reported a line late).
        let body = line.trim_start_matches([' ', '-']);
        return issue(
            Pos {
                line: n,
                col: line.len() - body.len() + 1,
            },
            format!(
                "`{}` has no space after its `:`, so YAML reads it as text, not as a key; \
                 write `{key}: {value}`",
                body.trim_end()
            ),
        );
    }
    if info.contains("mapping values are not allowed")
        || info.contains("block mapping, did not find expected key")
        || info.contains("did not find expected '-' indicator")
    {
        // Reported at the `:`; the fault is where the line's content starts.
        let line = text
            .lines()
            .nth(at.line.saturating_sub(1))
            .unwrap_or_default();
        let col = line_start(text, at).col;
        let item_above = list_item_above(text, at.line);
        let content = line.trim_start_matches(' ');
        let is_item = content == "-" || content.starts_with("- ");
        if let Some((dash, item_line)) = item_above.filter(|(dash, _)| is_item && *dash != col) {
            return issue(
                Pos { line: at.line, col },
                format!(
                    "this list item is indented to column {col}, but the item above it \
                     (line {item_line}) starts at column {dash}; the items of one list \
                     start in the same column"
                ),
            );
        }
        let new_item = item_above
            .map(|(dash, item_line)| {
                format!(
                    "; or, to start a new item of the list at line {item_line}, begin it \
                     with `- ` at column {dash}"
                )
            })
            .unwrap_or_default();
        let open = open_keys_above(text, at.line);
        let message = if open.is_empty() || open.iter().any(|(c, _, _)| *c == col) {
            format!(
                "{info} (is this line indented like its neighbours? a value holding `: ` must be quoted)"
            )
        } else {
            let columns: Vec<String> = open
                .iter()
                .map(|(c, key, line)| format!("column {c} (as `{key}`, line {line})"))
                .collect();
            format!(
                "this line is indented to column {col}, but a key must start where one above it \
                 does: {}{new_item}; or, if this line holds a value with `: `, quote it",
                columns.join(" or ")
            )
        };
        return issue(Pos { line: at.line, col }, message);
    }
    issue(at, info.to_string())
}

/// The last line above `line` (1-based) with content, not a comment: its number and text.
fn content_line_above(text: &str, line: usize) -> Option<(usize, &str)> {
    (1..line).rev().find_map(|n| {
        let l = text.lines().nth(n - 1)?;
        let body = l.trim_start();
        (!body.is_empty() && !body.starts_with('#')).then_some((n, l))
    })
}

/// `key:value` (a key glued to its value, no space after the `:`) as its key and value;
/// `None` for anything else, a URL's `https://…` among them. `- ` before it is left out.
fn glued_key(content: &str) -> Option<(&str, &str)> {
    let content = content.strip_prefix("- ").unwrap_or(content).trim_start();
    let (key, value) = content.split_once(':')?;
    let key_like = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    let glued = value
        .chars()
        .next()
        .is_some_and(|c| !c.is_whitespace() && c != '/');
    (key_like && glued && !value.contains(": ")).then_some((key, value.trim_end()))
}

/// The item of `-item` (a list dash glued to its value); `None` for anything else, such
/// as `---` or `- item`.
fn glued_dash(content: &str) -> Option<&str> {
    let item = content.strip_prefix('-')?;
    let first = item.chars().next()?;
    (!first.is_whitespace() && first != '-').then_some(item)
}

/// Said of a line a tab indents.
pub const TAB_INDENT: &str = "a tab indents this line; YAML is indented with spaces only";

/// The nearest list item (`- …`) above `line`, less indented than or as indented as
/// everything between: its dash's column and its line, both 1-based.
fn list_item_above(text: &str, line: usize) -> Option<(usize, usize)> {
    let above: Vec<&str> = text.lines().take(line.saturating_sub(1)).collect();
    for (i, l) in above.iter().enumerate().rev() {
        let body = l.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if body == "-" || body.starts_with("- ") {
            return Some((l.len() - body.len() + 1, i + 1));
        }
        if l.len() == body.len() {
            // A key at the left margin: no list above it is open.
            return None;
        }
    }
    None
}

/// The keys above `line` that a key on it could belong beside: going up, each key less
/// indented than every one after it, with its column, its name and its line.
fn open_keys_above(text: &str, line: usize) -> Vec<(usize, String, usize)> {
    let mut out = Vec::new();
    let mut limit = usize::MAX;
    let above: Vec<&str> = text.lines().take(line.saturating_sub(1)).collect();
    for (i, l) in above.iter().enumerate().rev() {
        let body = l.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let mut indent = l.len() - body.len();
        let mut body = body;
        // In a list item the key starts after the `- `.
        while let Some(rest) = body.strip_prefix('-') {
            let item = rest.trim_start_matches(' ');
            if item.len() == rest.len() {
                break;
            }
            indent += body.len() - item.len();
            body = item;
        }
        if indent >= limit {
            continue;
        }
        let Some((key, _)) = body.split_once(':') else {
            continue;
        };
        if key.is_empty() || key.contains(['{', '[', '"', '\'', ' ']) {
            continue;
        }
        limit = indent;
        out.push((indent + 1, key.to_string(), i + 1));
        if indent == 0 {
            break;
        }
    }
    out
}

/// A map as a key where the text holds `{{`: a template written unquoted, which YAML reads
/// as its own `{…}` (new-user review 13e, N6: before, only "a mapping key must be a plain
/// string"), said so, with the form to write.
fn unquoted_template(text: &str, issue: YamlIssue) -> YamlIssue {
    let before = Pos {
        col: issue.pos.col.saturating_sub(1),
        ..issue.pos
    };
    let template = issue.message == KEY_NOT_PLAIN
        && char_at(text, issue.pos) == Some('{')
        && char_at(text, before) == Some('{');
    if !template {
        return issue;
    }
    YamlIssue {
        pos: before,
        message: UNQUOTED_TEMPLATE.into(),
    }
}

/// Said of a value that starts with `{{`, unquoted.
const UNQUOTED_TEMPLATE: &str = "a value that starts with `{{` is read as YAML's own `{ … }` \
                                 (a map), not as a template: quote the whole value, \
                                 `\"{{ … }}\"`";

/// The column of a plain value starting with `{{` on `line` (`key: {{ x }}`, `- {{ x }}`).
fn template_value_at(text: &str, line: usize) -> Option<usize> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let body = l.trim_start_matches(' ');
    let body = body.strip_prefix("- ").unwrap_or(body);
    let value = match body.split_once(": ") {
        Some((_, value)) => value,
        None => body,
    }
    .trim_start_matches(' ');
    value
        .starts_with("{{")
        .then(|| l[..l.len() - value.len()].chars().count() + 1)
}

/// Where the content of `at`'s line starts, when before `at` (yaml-rust2 marks a document
/// without `---` at its first key's `:`).
fn line_start(text: &str, at: Pos) -> Pos {
    let line = text
        .lines()
        .nth(at.line.saturating_sub(1))
        .unwrap_or_default();
    let col = line
        .chars()
        .position(|c| c != ' ')
        .filter(|&i| i < at.col)
        .map_or(at.col, |i| i + 1);
    Pos { col, ..at }
}

/// The character at a 1-based line and column.
fn char_at(text: &str, p: Pos) -> Option<char> {
    text.lines()
        .nth(p.line.checked_sub(1)?)?
        .chars()
        .nth(p.col.checked_sub(1)?)
}

fn pos(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

enum Frame {
    Seq(Node, usize),
    Map {
        node: Node,
        anchor: usize,
        pending_key: Option<Key>,
    },
}

impl Frame {
    fn pos(&self) -> Pos {
        match self {
            Frame::Seq(node, _) | Frame::Map { node, .. } => node.pos,
        }
    }
}

/// What a key that is a map or a list is told.
const KEY_NOT_PLAIN: &str = "a mapping key must be a plain string";

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Each anchor's node and how many nodes it holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// How many nodes aliases have copied in so far (see [`MAX_ALIAS_NODES`]).
    aliased: usize,
    root: Option<Node>,
    issues: Vec<YamlIssue>,
    done: bool,
    /// How many levels below `MAX_DEPTH` are being skipped.
    too_deep: usize,
}

/// services.yaml never nests more than a dozen levels; far deeper input is refused (it
/// would otherwise be walked recursively, and a stack is finite).
const MAX_DEPTH: usize = 64;

/// How many nodes aliases (`*name`) may copy in, all told: far more than any services.yaml
/// needs, and few enough that aliases of aliases (a "billion laughs") are refused at once
/// instead of growing without bound.
pub const MAX_ALIAS_NODES: usize = 10_000;

/// How many nodes a node holds, itself included.
fn node_count(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Seq(items) => items.iter().map(node_count).sum(),
        NodeKind::Map(entries) => entries.iter().map(|(_, v)| 1 + node_count(v)).sum(),
        _ => 0,
    }
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let count = node_count(&node);
            self.anchors.insert(anchor, (node.clone(), count));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(seq, _)) => {
                if let NodeKind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map {
                node: map,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    let name = match node.kind {
                        // yaml-rust2 reads a tab before a key at the margin as part of the key.
                        NodeKind::Str(s) if s.starts_with('\t') => {
                            self.issues.push(YamlIssue {
                                pos: node.pos,
                                message: format!("invalid YAML: {TAB_INDENT}"),
                            });
                            s.trim_start().to_string()
                        }
                        NodeKind::Str(s) => s,
                        NodeKind::Int(i) => i.to_string(),
                        NodeKind::Bool(b) => b.to_string(),
                        NodeKind::Float(f) => f.to_string(),
                        NodeKind::Null => "null".to_string(),
                        NodeKind::Seq(_) | NodeKind::Map(_) => {
                            self.issues.push(YamlIssue {
                                pos: node.pos,
                                message: KEY_NOT_PLAIN.into(),
                            });
                            String::new()
                        }
                    };
                    *pending_key = Some(Key {
                        name,
                        pos: node.pos,
                    });
                }
                Some(key) => {
                    if let NodeKind::Map(entries) = &mut map.kind {
                        if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == key.name) {
                            self.issues.push(YamlIssue {
                                pos: key.pos,
                                message: format!(
                                    "duplicate key `{}` (first defined at line {})",
                                    key.name, first.pos.line
                                ),
                            });
                        } else {
                            entries.push((key, node));
                        }
                    }
                }
            },
        }
    }

    fn check_tag(
        &mut self,
        tag: &Option<yaml_rust2::parser::Tag>,
        at: Pos,
    ) -> Option<&'static str> {
        let tag = tag.as_ref()?;
        let full = format!("{}{}", tag.handle, tag.suffix);
        match full.as_str() {
            "tag:yaml.org,2002:str" | "!!str" => Some("str"),
            "tag:yaml.org,2002:map" | "tag:yaml.org,2002:seq" | "!!map" | "!!seq" => None,
            _ => {
                self.issues.push(YamlIssue {
                    pos: at,
                    message: format!("unsupported YAML tag `{full}`"),
                });
                None
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = pos(&mark);
        // Below the depth limit only the nesting is followed, to know when it ends.
        if self.too_deep > 0
            || (self.stack.len() >= MAX_DEPTH
                && matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..)))
        {
            match ev {
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    if self.too_deep == 0 {
                        self.issues.push(YamlIssue {
                            pos: at,
                            message: format!("nested more than {MAX_DEPTH} levels deep"),
                        });
                    }
                    self.too_deep += 1;
                }
                Event::SequenceEnd | Event::MappingEnd => self.too_deep -= 1,
                _ => {}
            }
            return;
        }
        match ev {
            Event::DocumentEnd => self.done = true,
            Event::Scalar(value, style, anchor, tag) => {
                let forced_str = self.check_tag(&tag, at) == Some("str");
                let kind = if style != TScalarStyle::Plain || forced_str {
                    NodeKind::Str(value)
                } else {
                    plain_scalar(value)
                };
                self.push_value(Node { kind, pos: at }, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(&tag, at);
                self.stack.push(Frame::Seq(
                    Node {
                        kind: NodeKind::Seq(Vec::new()),
                        pos: at,
                    },
                    anchor,
                ));
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(&tag, at);
                self.stack.push(Frame::Map {
                    node: Node {
                        kind: NodeKind::Map(Vec::new()),
                        pos: at,
                    },
                    anchor,
                    pending_key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let (node, anchor) = match frame {
                        Frame::Seq(node, anchor) => (node, anchor),
                        Frame::Map {
                            mut node, anchor, ..
                        } => {
                            // yaml-rust2 marks a block mapping at the `:` of its first key;
                            // it starts at that key (a flow mapping starts earlier, at `{`).
                            if let NodeKind::Map(entries) = &node.kind
                                && let Some((first, _)) = entries.first()
                            {
                                node.pos = node.pos.min(first.pos);
                            }
                            (node, anchor)
                        }
                    };
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((_, count)) if self.aliased + count > MAX_ALIAS_NODES => {
                    self.issues.push(YamlIssue {
                        pos: at,
                        message: format!(
                            "aliases copy in more than {MAX_ALIAS_NODES} values (aliases of \
                             aliases multiply); write the values out, or alias less"
                        ),
                    });
                    // Nothing after this is read: the input is built to be too big.
                    self.done = true;
                }
                Some((node, count)) => {
                    self.aliased += count;
                    let mut node = node.clone();
                    node.pos = at;
                    self.push_value(node, 0);
                }
                None => self.issues.push(YamlIssue {
                    pos: at,
                    message: "alias to an unknown anchor".into(),
                }),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
        }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn plain_scalar(value: String) -> NodeKind {
    match yaml_rust2::Yaml::from_str(&value) {
        yaml_rust2::Yaml::Null => NodeKind::Null,
        yaml_rust2::Yaml::Boolean(b) => NodeKind::Bool(b),
        yaml_rust2::Yaml::Integer(i) => NodeKind::Int(i),
        yaml_rust2::Yaml::Real(r) => match r.parse::<f64>() {
            Ok(f) => NodeKind::Float(f),
            Err(_) => NodeKind::Str(value),
        },
        _ => NodeKind::Str(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let tree = parse("project: demo\nagents:\n  - name: review\n    timeout: 5m\n").unwrap();
        assert_eq!(tree.pos_of(&["project"]), Pos { line: 1, col: 10 });
        assert_eq!(
            tree.pos_of(&["agents", "0", "timeout"]),
            Pos { line: 4, col: 14 }
        );
    }

    #[test]
    fn scalars_resolve_like_yaml_1_2_and_quotes_keep_strings() {
        let tree = parse("a: 1\nb: '1'\nc: true\nd: yes\ne: ~\nf: 1.5\ng: !!str 2\n").unwrap();
        let json = tree.to_json();
        assert_eq!(json["a"], 1);
        assert_eq!(json["b"], "1");
        assert_eq!(json["c"], true);
        assert_eq!(json["d"], "yes");
        assert!(json["e"].is_null());
        assert_eq!(json["f"], 1.5);
        assert_eq!(json["g"], "2");
    }

    /// A file is one document: what follows it is an issue, not ignored (attacker review
    /// 15b, A3: services.yaml, then `---`, then junk, validated and loaded).
    #[test]
    fn what_follows_the_document_is_an_issue_at_its_start() {
        for text in [
            "a: 1\n",
            "---\na: 1\n",
            "a: 1\n...\n",
            "a: 1\n...\n# end\n",
            "",
        ] {
            assert!(parse(text).is_ok(), "{text:?}");
        }
        for (text, at) in [
            ("a: 1\n---\na: 2\n", Pos { line: 2, col: 1 }),
            ("a: 1\n---\n}junk{ [\n", Pos { line: 2, col: 1 }),
            ("a: 1\n---\n", Pos { line: 2, col: 1 }),
            ("a: 1\n...\n  a: 2\n", Pos { line: 3, col: 3 }),
            ("a: [1,\n  2]\n--- x\n", Pos { line: 3, col: 1 }),
        ] {
            let issues = parse(text).expect_err(text);
            assert_eq!(issues.len(), 1, "{text:?}: {issues:?}");
            assert_eq!(issues[0].pos, at, "{text:?}");
            assert!(
                issues[0]
                    .message
                    .starts_with("a second YAML document starts here"),
                "{text:?}: {}",
                issues[0].message
            );
        }
    }

    #[test]
    fn duplicate_keys_are_all_reported() {
        let issues = parse("a: 1\nb: 2\na: 3\nb: 4\n").unwrap_err();
        assert_eq!(issues.len(), 2);
        assert_eq!(issues[0].pos, Pos { line: 3, col: 1 });
        assert!(
            issues[0].message.contains("duplicate key `a`"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let issues = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message.starts_with("invalid YAML"));
        assert!(issues[0].pos.line >= 1);
    }

    #[test]
    fn a_tab_that_indents_a_line_is_named_at_that_line() {
        let message = format!("invalid YAML: {TAB_INDENT}");
        // A tab before a key at the left margin: read as part of the key by yaml-rust2.
        let issues = parse("a:\n  b: 1\n\tc: 2\n").unwrap_err();
        assert_eq!(issues[0].pos, Pos { line: 3, col: 1 });
        assert_eq!(issues[0].message, message);
        // A tab after spaces, below a plain scalar (reported on the line before).
        let issues = parse("a:\n  b: x\n\tc: 2\n  d: 3\n").unwrap_err();
        assert_eq!(issues[0].pos, Pos { line: 3, col: 1 }, "{issues:?}");
        assert_eq!(issues[0].message, message);
        let issues = parse("a:\n  b: x\n  \tc: 2\n").unwrap_err();
        assert_eq!(issues[0].pos, Pos { line: 3, col: 3 }, "{issues:?}");
    }

    #[test]
    fn aliases_are_resolved() {
        let tree = parse("base: &b {x: 1}\nother: *b\n").unwrap();
        assert_eq!(tree.to_json()["other"]["x"], 1);
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[test]
    fn aliases_of_aliases_are_refused_before_they_multiply() {
        // The review's seven lines: 9^7 (4.8 million) strings once expanded.
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (name, alias) in ["b", "c", "d", "e", "f", "g"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f"])
        {
            let items = vec![format!("*{alias}"); 9].join(",");
            text.push_str(&format!("{name}: &{name} [{items}]\n"));
        }
        let issues = parse(&text).unwrap_err();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(
            issues[0].message.starts_with(&format!(
                "aliases copy in more than {MAX_ALIAS_NODES} values"
            )),
            "{issues:?}"
        );
        // Well under the bound, aliases still work.
        let tree = parse("a: &a {x: 1}\nb: [*a, *a, *a]\n").unwrap();
        assert_eq!(tree.to_json()["b"][2]["x"], 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let block = "- ".repeat(20_000) + "x\n";
        let issues = parse(&block).unwrap_err();
        assert_eq!(
            issues[0].message,
            format!("nested more than {MAX_DEPTH} levels deep")
        );
        let keys: String = (0..3_000)
            .map(|i| format!("{}a:\n", "  ".repeat(i)))
            .collect();
        assert!(parse(&keys).is_err());
        let flow = "[".repeat(200_000);
        assert_eq!(
            parse(&flow).unwrap_err()[0].message,
            format!("nested more than {MAX_DEPTH} levels deep")
        );
    }
}
