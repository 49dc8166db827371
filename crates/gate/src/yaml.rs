//! YAML (and JSON, its subset) documents with the byte position of every
//! scalar, so that an image can be rewritten in place: `--pin` edits the
//! text at the scalar and leaves comments, key order, quoting and
//! indentation alone.
//!
//! Bounds: nesting depth ([`MAX_DEPTH`]) and nodes per stream including
//! what aliases expand to ([`MAX_NODES`]), so a hostile manifest (deep
//! nesting, a billion-laughs alias chain) is an error, not a hang.

use std::collections::HashMap;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 256;
/// Most nodes in one stream, counting alias expansions.
pub const MAX_NODES: usize = 2_000_000;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum YamlError {
    #[error("line {line}, column {col}: {reason}")]
    Syntax {
        line: usize,
        col: usize,
        reason: String,
    },
    #[error("{0}")]
    Limit(String),
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// Literal or folded block scalars: never rewritten in place.
    Block,
}

/// One parsed node. Scalars keep where they start in the text.
#[derive(Debug, Clone)]
pub enum Node {
    Scalar {
        value: String,
        style: Style,
        /// Byte offset of the scalar's first character (its opening quote
        /// for quoted scalars).
        start: usize,
        /// 1-based line, for messages.
        line: usize,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// One segment of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `/a/b/0/c` (RFC 6901), as JSONPatch wants.
pub fn pointer(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// `a.b[0].c`, for people.
pub fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if k.contains(['.', '[', ']']) => out.push_str(&format!("[{k:?}]")),
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

impl Node {
    /// The node at `path` (map keys compared as scalar strings).
    pub fn at(&self, path: &[Seg]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (node, seg) {
                (Node::Map(entries), Seg::Key(k)) => entries
                    .iter()
                    .rev()
                    .find(|(key, _)| matches!(key, Node::Scalar { value, .. } if value == k))
                    .map(|(_, v)| v)?,
                (Node::Seq(items), Seg::Index(i)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The node as JSON, with YAML 1.2 core-schema resolution of plain
    /// scalars.
    pub fn to_json(&self) -> Value {
        match self {
            Node::Scalar { value, style, .. } => match style {
                Style::Plain => plain_scalar(value),
                _ => Value::String(value.clone()),
            },
            Node::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    let key = match k {
                        Node::Scalar { value, .. } => value.clone(),
                        other => other.to_json().to_string(),
                    };
                    map.insert(key, v.to_json());
                }
                Value::Object(map)
            }
        }
    }
}

fn plain_scalar(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    let numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && s.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        if let Some(n) = s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

/// Converts the parser's character offsets to byte offsets, walking
/// forward from the last position asked for.
struct Offsets<'a> {
    text: &'a str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl Offsets<'_> {
    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        if char_index < self.chars {
            self.chars = 0;
            self.bytes = 0;
        }
        let mut iter = self.text[self.bytes..].char_indices();
        while self.chars < char_index {
            match iter.next() {
                Some((_, c)) => {
                    self.bytes += c.len_utf8();
                    self.chars += 1;
                }
                None => break,
            }
        }
        self.bytes
    }
}

enum Frame {
    Seq(Vec<Node>, usize),
    Map(Vec<(Node, Node)>, Option<Node>, usize),
}

/// Parses every document of a YAML stream (or one JSON text).
pub fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut offsets = Offsets {
        text,
        ascii: text.is_ascii(),
        chars: 0,
        bytes: 0,
    };
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<Node> = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| YamlError::Syntax {
            line: e.marker().line(),
            col: e.marker().col() + 1,
            reason: e.info().to_string(),
        })?;
        let (node, anchor) = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                root = None;
                continue;
            }
            Event::DocumentEnd => {
                match root.take() {
                    // An empty document (a trailing `---`).
                    Some(Node::Scalar {
                        value,
                        style: Style::Plain,
                        ..
                    }) if value.is_empty() => {}
                    Some(r) => docs.push(r),
                    None => {}
                }
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError::Limit(format!(
                        "nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                stack.push(Frame::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError::Limit(format!(
                        "nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                stack.push(Frame::Map(Vec::new(), None, anchor));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => (Node::Seq(items), anchor),
                _ => return Err(limit("unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _, anchor)) => (Node::Map(merge_keys(entries)?), anchor),
                _ => return Err(limit("unbalanced mapping")),
            },
            Event::Scalar(value, style, anchor, _) => {
                let style = match style {
                    TScalarStyle::Plain => Style::Plain,
                    TScalarStyle::SingleQuoted => Style::SingleQuoted,
                    TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    _ => Style::Block,
                };
                (
                    Node::Scalar {
                        value,
                        style,
                        start: offsets.byte(mark.index()),
                        line: mark.line(),
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| limit("alias to an unknown anchor"))?;
                nodes = nodes.saturating_add(count(&node));
                (node, 0)
            }
            Event::Nothing | Event::StreamStart => continue,
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(YamlError::Limit(format!(
                "more than {MAX_NODES} nodes (aliases included)"
            )));
        }
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(entries, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(docs)
}

/// Applies YAML merge keys (`<<: *base` or `<<: [*a, *b]`) as go-yaml,
/// and so kubectl, Helm and Argo CD, do: the merged maps' keys join the
/// map unless it sets them itself (among several merged maps the first
/// wins). Without this an image written under `<<` would reach the cluster
/// unseen by the gate.
fn merge_keys(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, YamlError> {
    let is_merge =
        |k: &Node| matches!(k, Node::Scalar { value, style: Style::Plain, .. } if value == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return Ok(entries);
    }
    let mut own = Vec::new();
    let mut merged: Vec<Node> = Vec::new();
    for (k, v) in entries {
        if !is_merge(&k) {
            own.push((k, v));
            continue;
        }
        match v {
            Node::Map(_) => merged.push(v),
            Node::Seq(items) if items.iter().all(|i| matches!(i, Node::Map(_))) => {
                merged.extend(items)
            }
            _ => {
                return Err(limit(
                    "a merge key (<<) takes a mapping or a sequence of mappings",
                ))
            }
        }
    }
    let key_text = |k: &Node| match k {
        Node::Scalar { value, .. } => Some(value.clone()),
        _ => None,
    };
    let mut seen: std::collections::HashSet<String> =
        own.iter().filter_map(|(k, _)| key_text(k)).collect();
    for source in merged {
        if let Node::Map(source_entries) = source {
            for (k, v) in source_entries {
                if key_text(&k).is_none_or(|t| seen.insert(t)) {
                    own.push((k, v));
                }
            }
        }
    }
    Ok(own)
}

fn limit(reason: &str) -> YamlError {
    YamlError::Limit(reason.to_string())
}

fn count(node: &Node) -> usize {
    match node {
        Node::Scalar { .. } => 1,
        Node::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Node::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
    }
}

/// The byte range of the scalar written at `start` in `text`, if it is a
/// one-line plain or quoted scalar whose text decodes to `value`.
pub fn scalar_span(text: &str, start: usize, style: Style, value: &str) -> Option<(usize, usize)> {
    let rest = text.get(start..)?;
    let end = match style {
        Style::Plain => {
            let len = rest
                .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | '#'))
                .unwrap_or(rest.len());
            (rest.get(..len)? == value).then_some(len)?
        }
        Style::DoubleQuoted => {
            let body = rest.strip_prefix('"')?;
            let close = body.find(['"', '\\', '\n'])?;
            (body.as_bytes()[close] == b'"' && &body[..close] == value).then_some(close + 2)?
        }
        Style::SingleQuoted => {
            let body = rest.strip_prefix('\'')?;
            let close = body.find(['\'', '\n'])?;
            let after = body.as_bytes().get(close + 1);
            (body.as_bytes()[close] == b'\'' && after != Some(&b'\'') && &body[..close] == value)
                .then_some(close + 2)?
        }
        Style::Block => return None,
    };
    Some((start, start + end))
}

/// Writes `value` in the style of the scalar it replaces.
pub fn render_scalar(style: Style, value: &str) -> String {
    match style {
        Style::DoubleQuoted => format!("\"{value}\""),
        Style::SingleQuoted => format!("'{value}'"),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_unicode_comments_and_quotes() {
        let text = "# héllo ✓\na: 'x'\nb: \"nginx:1\"  # pin me\nc: [ plain, 2 ]\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 1);
        let b = docs[0].at(&[Seg::Key("b".into())]).unwrap();
        let Node::Scalar {
            value,
            style,
            start,
            ..
        } = b
        else {
            panic!("not a scalar")
        };
        assert_eq!(*style, Style::DoubleQuoted);
        let (s, e) = scalar_span(text, *start, *style, value).unwrap();
        assert_eq!(&text[s..e], "\"nginx:1\"");
        let c0 = docs[0].at(&[Seg::Key("c".into()), Seg::Index(0)]).unwrap();
        let Node::Scalar { value, start, .. } = c0 else {
            panic!()
        };
        assert_eq!(
            scalar_span(text, *start, Style::Plain, value),
            Some((*start, *start + 5))
        );
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!({"a": "x", "b": "nginx:1", "c": ["plain", 2]})
        );
    }

    #[test]
    fn multi_document_and_json() {
        let docs = parse_documents("a: 1\n---\nb: 2\n---\n").unwrap();
        assert_eq!(docs.len(), 2);
        let docs = parse_documents("{\"kind\": \"Pod\", \"n\": [1, true, null]}").unwrap();
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!({"kind": "Pod", "n": [1, true, null]})
        );
    }

    #[test]
    fn aliases_expand_and_bombs_are_bounded() {
        let docs = parse_documents("x: &img nginx:1\ny: *img\n").unwrap();
        assert_eq!(docs[0].to_json()["y"], "nginx:1");
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for n in names {
            bomb.push_str(&format!(
                "{n}: &{n} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = n;
        }
        assert!(matches!(parse_documents(&bomb), Err(YamlError::Limit(_))));
        let deep = "[".repeat(MAX_DEPTH + 5) + &"]".repeat(MAX_DEPTH + 5);
        assert!(parse_documents(&deep).is_err());
    }

    #[test]
    fn merge_keys_merge_as_go_yaml_does() {
        let text = "base: &base {image: evil.example/miner:1, name: base}\n\
                    one:\n  <<: *base\n  name: one\n\
                    two:\n  <<: [{image: first:1}, {image: second:1, extra: x}]\n";
        let doc = &parse_documents(text).unwrap()[0];
        let json = doc.to_json();
        // Merged keys appear; the map's own keys win.
        assert_eq!(json["one"]["image"], "evil.example/miner:1");
        assert_eq!(json["one"]["name"], "one");
        assert!(json["one"].get("<<").is_none());
        // Several maps: the first wins.
        assert_eq!(json["two"]["image"], "first:1");
        assert_eq!(json["two"]["extra"], "x");
        let at = doc.at(&[Seg::Key("one".into()), Seg::Key("image".into())]);
        assert!(matches!(at, Some(Node::Scalar { value, .. }) if value == "evil.example/miner:1"));
        // Anything else under << is an error, not a key called "<<".
        assert!(parse_documents("a:\n  <<: just-a-string\n").is_err());
        // A quoted "<<" is an ordinary key.
        let quoted = parse_documents("a:\n  '<<': x\n").unwrap();
        assert_eq!(quoted[0].to_json()["a"]["<<"], "x");
    }

    #[test]
    fn paths_render() {
        let p = [
            Seg::Key("spec".into()),
            Seg::Key("containers".into()),
            Seg::Index(0),
            Seg::Key("a/b~c".into()),
        ];
        assert_eq!(pointer(&p), "/spec/containers/0/a~1b~0c");
        assert_eq!(dotted(&p[..3]), "spec.containers[0]");
    }
}
