//! Where each key of a YAML document sits: a map from key path
//! (`servers.web.hosts.0`) to its 1-based line and column. serde_yaml parses
//! the values; this index, built from yaml-rust2's marked events, lets every
//! validation error name the line it is about.

use std::collections::BTreeMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

#[derive(Debug, Default, Clone)]
pub struct LineIndex {
    lines: BTreeMap<String, (usize, usize)>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    out: BTreeMap<String, (usize, usize)>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Builder {
    /// The path of the node that starts now, or None when it is a mapping key.
    fn node_path(&mut self, mark: Marker, scalar: Option<&str>) -> Option<String> {
        let pos = (mark.line(), mark.col() + 1);
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = join(path, &next.to_string());
                *next += 1;
                self.out.entry(p.clone()).or_insert(pos);
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    // This node is a key: remember where the key is written.
                    let k = scalar.unwrap_or("?").to_string();
                    self.out.entry(join(path, &k)).or_insert(pos);
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                self.node_path(mark, Some(&value));
            }
            Event::Alias(_) => {
                self.node_path(mark, None);
            }
            Event::MappingStart(..) => {
                if let Some(path) = self.node_path(mark, None) {
                    self.stack.push(Frame::Map { path, key: None });
                } else {
                    // A complex key: index nothing below it.
                    self.stack.push(Frame::Map { path: "?".into(), key: None });
                }
            }
            Event::SequenceStart(..) => {
                let path = self.node_path(mark, None).unwrap_or_else(|| "?".into());
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl LineIndex {
    /// Index `source`. A source that does not parse gives an empty index (the
    /// syntax error is reported by the value parser, with its position).
    pub fn build(source: &str) -> Self {
        let mut b = Builder::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut b, false).is_err() {
            return Self::default();
        }
        Self { lines: b.out }
    }

    /// The line of `path`, or of its nearest indexed ancestor.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some((line, _)) = self.lines.get(p) {
                return Some(*line);
            }
            match p.rfind('.') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    /// True when this exact path is written in the document.
    pub fn has(&self, path: &str) -> bool {
        self.lines.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_sequence_items() {
        let src = "service: app\nservers:\n  web:\n    hosts:\n      - 1.1.1.1\n      - 2.2.2.2\n  jobs: [3.3.3.3]\n";
        let idx = LineIndex::build(src);
        assert_eq!(idx.line_of("service"), Some(1));
        assert_eq!(idx.line_of("servers.web.hosts"), Some(4));
        assert_eq!(idx.line_of("servers.web.hosts.1"), Some(6));
        assert_eq!(idx.line_of("servers.jobs.0"), Some(7));
        assert_eq!(idx.line_of("servers.web.cmd"), Some(3));
        assert_eq!(idx.line_of("nope"), None);
    }
}
