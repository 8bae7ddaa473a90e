//! YAML text to a JSON-like tree (`serde_json::Value`, key order kept), for
//! kubeconfigs: granit-parser's events, the YAML 1.2 core schema for untagged
//! plain scalars, and bounded work for hostile input (events, depth, aliases).
//!
//! This replaces serde-saphyr's deserializer (serde-saphyr still writes YAML):
//! the deserializer linked error-rendering and encoding tables that made the
//! web page's module 170 KB (gzip) larger, and a kubeconfig needs only a tree.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};

/// Work limits. A kubeconfig has a few dozen nodes and no aliases; a
/// billion-laughs document must fail fast, not take seconds per file.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Parser events in the whole text.
    pub max_events: usize,
    /// Nesting of sequences and mappings.
    pub max_depth: usize,
    /// Nodes copied by aliases, all aliases together.
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_events: 200_000,
            max_depth: 32,
            max_alias_nodes: 10_000,
        }
    }
}

/// Why a YAML text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// More events than [`Limits::max_events`].
    #[error("more than {0} YAML events; a kubeconfig is far smaller")]
    TooManyEvents(usize),
    /// Not YAML; the parser's message (it names the line and column).
    #[error("{0}")]
    Syntax(String),
    /// Valid YAML that kcerts refuses (a limit, an unknown alias, a second document).
    #[error("{problem} at line {line}")]
    Refused {
        /// What is wrong.
        problem: Refusal,
        /// The 1-based line of the event at fault.
        line: usize,
    },
}

/// Why a YAML text that parses is refused (the line is [`YamlError::Refused`]'s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A second document where one is read.
    #[error("more than one YAML document")]
    SecondDocument,
    /// A collection ends that was never opened.
    #[error("unbalanced collection end")]
    UnbalancedEnd,
    /// An alias to an anchor not defined before it.
    #[error("an alias to an unknown anchor")]
    UnknownAlias,
    /// Aliases copy more nodes than [`Limits::max_alias_nodes`].
    #[error("aliases expand to more than {0} nodes (a billion-laughs document?)")]
    AliasExpansion(usize),
    /// Nested deeper than [`Limits::max_depth`].
    #[error("nested deeper than {0} levels")]
    TooDeep(usize),
    /// A sequence or mapping used as a mapping key.
    #[error("a mapping key is a collection; kubeconfig keys are text")]
    CollectionKey,
    /// A `<<` merge key whose value is not mappings.
    #[error("a << merge key takes mappings")]
    MergeNotMapping,
    /// A scalar tagged `!!int`, `!!bool`, `!!null` or `!!float` that is not one.
    #[error("{text:?} is not a valid !!{kind}")]
    BadTag {
        /// The scalar's text.
        text: String,
        /// The tag's kind (`int`).
        kind: String,
    },
}

/// Parses one YAML document (an empty text is `null`).
pub fn parse(text: &str, limits: Limits) -> Result<Value, YamlError> {
    let mut docs = run(text, limits, false)?;
    Ok(docs.pop().unwrap_or(Value::Null))
}

/// Parses every document of a `---`-separated stream (kubeadm's configuration
/// files), in order; the limits apply to the whole text.
pub fn parse_documents(text: &str, limits: Limits) -> Result<Vec<Value>, YamlError> {
    run(text, limits, true)
}

fn run(text: &str, limits: Limits, multi: bool) -> Result<Vec<Value>, YamlError> {
    let options = granit_parser::options! {
        block_nesting_limit: limits.max_depth,
        flow_nesting_limit: limits.max_depth,
    };
    let mut builder = Builder {
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        document: None,
        documents: 0,
        multi,
        finished: Vec::new(),
    };
    for (events, next) in Parser::new_from_str_with_options(text, options).enumerate() {
        if events >= limits.max_events {
            return Err(YamlError::TooManyEvents(limits.max_events));
        }
        let (event, span) = next.map_err(|e| YamlError::Syntax(e.to_string()))?;
        builder.event(event).map_err(|problem| YamlError::Refused {
            problem,
            line: span.start.line(),
        })?;
    }
    if !multi && let Some(d) = builder.document.take() {
        builder.finished.push(d);
    }
    Ok(builder.finished)
}

/// A collection being built.
enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
    },
    Mapping {
        entries: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
        /// Entries from `<<` merge keys, applied under the mapping's own keys.
        merged: Vec<Map<String, Value>>,
    },
}

struct Builder {
    limits: Limits,
    stack: Vec<Frame>,
    /// Anchored nodes with their size in nodes (what an alias to them costs).
    anchors: HashMap<usize, (Value, usize)>,
    alias_nodes: usize,
    document: Option<Value>,
    documents: usize,
    /// Whether several documents are allowed (each ends in `finished`).
    multi: bool,
    finished: Vec<Value>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>) -> Result<(), Refusal> {
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 && !self.multi {
                    return Err(Refusal::SecondDocument);
                }
            }
            Event::DocumentEnd if self.multi => {
                let doc = self.document.take().unwrap_or(Value::Null);
                self.finished.push(doc);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref())?;
                let key_text = text.into_owned();
                self.node(value, anchor, Some(key_text))?;
            }
            Event::SequenceStart(_, anchor, _) => {
                self.open()?;
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    anchor,
                });
            }
            Event::MappingStart(_, anchor, _) => {
                self.open()?;
                self.stack.push(Frame::Mapping {
                    entries: Map::new(),
                    key: None,
                    anchor,
                    merged: Vec::new(),
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Sequence { items, anchor }) => (Value::Array(items), anchor),
                    Some(Frame::Mapping {
                        mut entries,
                        anchor,
                        merged,
                        ..
                    }) => {
                        for extra in merged {
                            for (k, v) in extra {
                                entries.entry(k).or_insert(v);
                            }
                        }
                        (Value::Object(entries), anchor)
                    }
                    None => return Err(Refusal::UnbalancedEnd),
                };
                self.node(value, anchor, None)?;
            }
            Event::Alias(id) => {
                let (value, size) = self.anchors.get(&id).ok_or(Refusal::UnknownAlias)?;
                self.alias_nodes += size;
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(Refusal::AliasExpansion(self.limits.max_alias_nodes));
                }
                let value = value.clone();
                self.node(value, 0, None)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn open(&self) -> Result<(), Refusal> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(Refusal::TooDeep(self.limits.max_depth));
        }
        if let Some(Frame::Mapping { key: None, .. }) = self.stack.last() {
            return Err(Refusal::CollectionKey);
        }
        Ok(())
    }

    /// Places a finished node: in the collection being built, or as the document.
    /// `key_text` is a scalar's text, used when the node is a mapping key.
    fn node(
        &mut self,
        value: Value,
        anchor: usize,
        key_text: Option<String>,
    ) -> Result<(), Refusal> {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), size(&value)));
        }
        match self.stack.last_mut() {
            None => self.document = Some(value),
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping {
                entries,
                key,
                merged,
                ..
            }) => match key.take() {
                None => {
                    let text = key_text.ok_or(Refusal::CollectionKey)?;
                    *key = Some(text);
                }
                Some(k) if k == "<<" => match value {
                    Value::Object(m) => merged.push(m),
                    Value::Array(list) => {
                        for item in list {
                            match item {
                                Value::Object(m) => merged.push(m),
                                _ => return Err(Refusal::MergeNotMapping),
                            }
                        }
                    }
                    _ => return Err(Refusal::MergeNotMapping),
                },
                Some(k) => {
                    entries.insert(k, value);
                }
            },
        }
        Ok(())
    }
}

/// How many nodes a value holds.
fn size(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

/// A scalar's value: quoted and block scalars are text; untagged plain scalars
/// follow the YAML 1.2 core schema; `!!str`, `!!int`, `!!bool`, `!!null` and
/// `!!float` are honoured; other tags are ignored.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, Refusal> {
    let core = tag.and_then(|t| {
        t.is_yaml_core_schema().then(|| {
            t.suffix()
                .trim_start_matches("tag:yaml.org,2002:")
                .to_string()
        })
    });
    let string = || Value::String(text.to_string());
    match core.as_deref() {
        Some("str") | Some("binary") | Some("timestamp") => return Ok(string()),
        Some(kind @ ("int" | "bool" | "null" | "float")) => {
            return match (kind, plain(text)) {
                ("int", v @ Value::Number(_)) if v.is_i64() || v.is_u64() => Ok(v),
                ("float", Value::Number(n)) => Ok(Value::Number(n)),
                ("bool", v @ Value::Bool(_)) | ("null", v @ Value::Null) => Ok(v),
                _ => Err(Refusal::BadTag {
                    text: text.to_string(),
                    kind: kind.to_string(),
                }),
            };
        }
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Ok(string());
    }
    Ok(plain(text))
}

/// The YAML 1.2 core schema for a plain scalar.
fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = integer(text) {
        return Value::Number(n);
    }
    if is_float(text)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    // .inf and .nan have no JSON form: they stay text.
    Value::String(text.to_string())
}

fn integer(text: &str) -> Option<Number> {
    let radix = |digits: &str, radix: u32| {
        (!digits.is_empty())
            .then(|| u64::from_str_radix(digits, radix).ok())
            .flatten()
            .map(Number::from)
    };
    if let Some(octal) = text.strip_prefix("0o") {
        return radix(octal, 8);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return radix(hex, 16);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(n) = text.parse::<i64>() {
        return Some(Number::from(n));
    }
    text.strip_prefix('+')
        .unwrap_or(text)
        .parse::<u64>()
        .ok()
        .map(Number::from)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac) && (!int.is_empty() || !frac.is_empty()),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// A billion-laughs document: 10 scalars, then 12 levels of 10 aliases to the
/// level below (10^13 nodes if expanded). For the tests of every YAML reader.
#[cfg(test)]
pub(crate) fn billion_laughs() -> String {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        let aliases = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("l{i}: &l{i} [{aliases}]\n"));
    }
    bomb
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Result<Value, YamlError> {
        parse(text, Limits::default())
    }

    /// The message of the error parsing `text`.
    fn refused(text: &str) -> String {
        p(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_a_kubeconfig_keeping_key_order_and_types() {
        let text = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0t\n    server: https://10.0.0.1:6443\n    insecure-skip-tls-verify: false\n  name: kubernetes\nkind: Config\npreferences: {}\nport: 6443\nratio: 1.5e3\nquoted: \"6443\"\nempty:\nblock: |\n  two\n  lines\n";
        let v = p(text).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1",
                "clusters": [{"cluster": {"certificate-authority-data": "LS0t",
                    "server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": false},
                    "name": "kubernetes"}],
                "kind": "Config", "preferences": {}, "port": 6443, "ratio": 1500.0,
                "quoted": "6443", "empty": null, "block": "two\nlines\n"
            })
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys[..3], ["apiVersion", "clusters", "kind"]);
    }

    #[test]
    fn core_schema_scalars_and_tags() {
        let v = p("[~, null, True, FALSE, 0o17, 0x1f, -12, +3, .5, 1., 1e3, .inf, yes, 1_000, '1', !!str 12, !!int '7', 18446744073709551615]").unwrap();
        assert_eq!(
            v,
            json!([
                null,
                null,
                true,
                false,
                15,
                31,
                -12,
                3,
                0.5,
                1.0,
                1000.0,
                ".inf",
                "yes",
                "1_000",
                "1",
                "12",
                7,
                18446744073709551615u64
            ])
        );
        assert!(refused("!!int abc").contains("!!int"));
        assert!(p("!!bool 1").is_err());
    }

    #[test]
    fn json_is_yaml_and_flow_collections_work() {
        let v =
            p(r#"{"kind": "Config", "users": [{"name": "a", "user": {"token": "t"}}]}"#).unwrap();
        assert_eq!(v["users"][0]["user"]["token"], "t");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = p("base: &b {server: s, name: n}\none:\n  <<: *b\n  name: own\nlist: [*b, *b]\n")
            .unwrap();
        assert_eq!(v["one"], json!({"name": "own", "server": "s"}));
        assert_eq!(v["list"][1]["server"], "s");
    }

    #[test]
    fn hostile_documents_fail_fast_with_a_reason() {
        let bomb = billion_laughs();
        assert!(refused(&bomb).contains("aliases expand"));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(p(&deep).is_err());
        let deep_block: String = (0..100)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert!(p(&deep_block).is_err());
        let many = "- x\n".repeat(300_000);
        assert!(refused(&many).contains("events"));
        assert!(refused("a: 1\n---\nb: 2\n").contains("more than one"));
        assert!(refused("? [a]\n: b\n").contains("keys are text"));
        assert!(p("a: *nope\n").is_err());
        assert!(p("a: [1, 2\n").is_err());
        assert_eq!(p("").unwrap(), Value::Null);
        assert_eq!(p("# only a comment\n").unwrap(), Value::Null);
    }

    #[test]
    fn refusals_are_typed_and_name_the_line() {
        let cases = [
            (
                "a: 1\n---\nb: 2\n",
                Refusal::SecondDocument,
                2,
                "more than one YAML document at line 2",
            ),
            (
                "? [a]\n: b\n",
                Refusal::CollectionKey,
                1,
                "a mapping key is a collection; kubeconfig keys are text at line 1",
            ),
            (
                "a: &x 1\nb:\n  <<: *x\n",
                Refusal::MergeNotMapping,
                3,
                "a << merge key takes mappings at line 3",
            ),
            (
                "x: !!int abc\n",
                Refusal::BadTag {
                    text: "abc".into(),
                    kind: "int".into(),
                },
                1,
                "\"abc\" is not a valid !!int at line 1",
            ),
        ];
        for (text, problem, line, message) in cases {
            let e = p(text).unwrap_err();
            assert_eq!(e, YamlError::Refused { problem, line }, "{text:?}");
            assert_eq!(e.to_string(), message);
        }
        assert!(matches!(
            p(&billion_laughs()),
            Err(YamlError::Refused {
                problem: Refusal::AliasExpansion(10_000),
                ..
            })
        ));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_in_the_first_place() {
        let v = p("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(v, json!({"a": 3, "b": 2}));
        assert_eq!(v.as_object().unwrap().keys().next().unwrap(), "a");
    }
}
