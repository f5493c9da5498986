//! The decrypted tree: [`Value`] and [`Document`], in the file's order.
//!
//! Both formats are read into the same tree with one `serde` visitor, so
//! a mapping keeps its keys in the order the file has them (sops' MAC is
//! over that order) and duplicate keys are refused, as sops refuses them
//! in YAML.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroize;

/// A value of a secrets file, after decryption.
///
/// `Debug` shows the shape (keys, list lengths, types) and never a value.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or an empty YAML value.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    String(String),
    /// A list, in order.
    List(Vec<Value>),
    /// A mapping, keys in the file's order.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The same value as JSON (a mapping's order is then serde_json's).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => items.iter().map(Value::to_json).collect(),
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "str",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::List(items) => f.debug_list().entries(items).finish(),
            Value::Map(entries) => f
                .debug_map()
                .entries(entries.iter().map(|(k, v)| (k, v)))
                .finish(),
            other => write!(f, "<redacted {}>", other.kind()),
        }
    }
}

impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::Null => {}
            Value::Bool(b) => b.zeroize(),
            Value::Int(i) => i.zeroize(),
            Value::Float(x) => x.zeroize(),
            Value::String(s) => s.zeroize(),
            Value::List(items) => items.iter_mut().for_each(Zeroize::zeroize),
            Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.zeroize();
                v.zeroize();
            }),
        }
    }
}

/// A decrypted secrets file: its top-level mapping, in the file's order,
/// without sops' metadata (or comments).
///
/// `Debug` shows keys only; the tree is zeroized when the document is
/// dropped.
#[derive(Clone, PartialEq)]
pub struct Document {
    entries: Vec<(String, Value)>,
}

impl Document {
    pub(crate) fn new(entries: Vec<(String, Value)>) -> Self {
        Document { entries }
    }

    /// Removes a top-level key (the `sops` section) and gives its value.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    pub(crate) fn entries_mut(&mut self) -> &mut [(String, Value)] {
        &mut self.entries
    }

    /// The top-level keys and their values, in order.
    pub fn entries(&self) -> &[(String, Value)] {
        &self.entries
    }

    /// The value at a top-level `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Every leaf (a value that is neither a mapping nor a list) with its
    /// path, in the file's order: keys joined with `.`, list items as
    /// `[index]`, e.g. `hub.users[0].password`. Empty mappings and lists
    /// have no leaf.
    pub fn flatten(&self) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for (key, value) in &self.entries {
            flatten_into(key.clone(), value, &mut out);
        }
        out
    }

    /// The whole document as a JSON object (a mapping's order is then
    /// serde_json's).
    pub fn to_json(&self) -> serde_json::Value {
        Value::Map(self.entries.clone()).to_json()
    }
}

fn flatten_into<'a>(path: String, value: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Map(entries) => {
            for (key, value) in entries {
                flatten_into(format!("{path}.{key}"), value, out);
            }
        }
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_into(format!("{path}[{i}]"), item, out);
            }
        }
        leaf => out.push((path, leaf)),
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        for (key, value) in &mut self.entries {
            key.zeroize();
            value.zeroize();
        }
    }
}

/// Reads any YAML or JSON into a [`Value`], keeping mappings' order.
///
/// Mapping keys must be strings (sops refuses others); a YAML tag other
/// than the core schema's is refused. Errors name keys, never values.
pub(crate) struct Ordered(pub Value);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedVisitor).map(Ordered)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        // Beyond i64, sops' JSON store reads a number as a float.
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Ordered(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(String, Value)> = Vec::new();
        while let Some(Ordered(key)) = map.next_key()? {
            let Value::String(key) = key else {
                return Err(de::Error::custom(format!(
                    "a mapping key is a {}: only string keys are supported",
                    key.kind()
                )));
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Ordered(value) = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Value, A::Error> {
        Err(de::Error::custom("YAML tags (`!tag`) are not supported"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_norway::from_str::<Ordered>(text).unwrap().0
    }

    #[test]
    fn mappings_keep_the_files_order() {
        let Value::Map(entries) = yaml("b: 1\na: 2\nc: {z: 1, y: 2}\n") else {
            panic!("not a map")
        };
        let keys: Vec<_> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        let doc = Document::new(entries);
        let paths: Vec<_> = doc.flatten().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["b", "a", "c.z", "c.y"]);
    }

    #[test]
    fn json_keeps_the_files_order_too() {
        let v = serde_json::from_str::<Ordered>(r#"{"z": [1, 2.5, "x"], "a": null}"#)
            .unwrap()
            .0;
        let doc = Document::new(match v {
            Value::Map(e) => e,
            _ => panic!(),
        });
        let flat: Vec<_> = doc.flatten();
        assert_eq!(flat[0], ("z[0]".to_owned(), &Value::Int(1)));
        assert_eq!(flat[1], ("z[1]".to_owned(), &Value::Float(2.5)));
        assert_eq!(flat[3], ("a".to_owned(), &Value::Null));
    }

    #[test]
    fn duplicate_and_non_string_keys_are_refused() {
        let e = serde_norway::from_str::<Ordered>("a: 1\na: 2\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("duplicate key `a`"), "{e}");
        let e = serde_norway::from_str::<Ordered>("1: x\n").err().unwrap();
        assert!(e.to_string().contains("only string keys"), "{e}");
    }

    #[test]
    fn debug_never_shows_a_value() {
        let doc = Document::new(vec![(
            "hub".into(),
            yaml("password: hunter2\nport: 5432\nlist: [s3cret]\n"),
        )]);
        let shown = format!("{doc:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("5432") && !shown.contains("s3cret"));
        assert!(
            shown.contains("password") && shown.contains("<redacted str>"),
            "{shown}"
        );
    }
}
