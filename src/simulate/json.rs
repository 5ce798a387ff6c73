//! A small streaming JSON writer: records are written straight into one byte buffer, with
//! commas placed automatically, instead of building a `serde_json::Value` per record (which
//! would allocate a node per field and halve the generation speed).
//!
//! String values go through `serde_json`, so escaping is always right. Keys are literals from
//! this module and never need escaping.

/// Where the writer is: inside an object or an array, and whether a comma is due.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Object { has_members: bool },
    Array { has_items: bool },
}

#[derive(Debug, Default)]
pub(super) struct JsonOut {
    buf: Vec<u8>,
    scopes: Vec<Scope>,
}

impl JsonOut {
    pub fn with_capacity(bytes: usize) -> JsonOut {
        JsonOut {
            buf: Vec::with_capacity(bytes),
            scopes: Vec::with_capacity(16),
        }
    }

    /// Inside an array, separates this value from the previous one.
    fn before_value(&mut self) {
        if let Some(Scope::Array { has_items }) = self.scopes.last_mut() {
            if *has_items {
                self.buf.push(b',');
            }
            *has_items = true;
        }
    }

    pub fn begin_object(&mut self) {
        self.before_value();
        self.buf.push(b'{');
        self.scopes.push(Scope::Object { has_members: false });
    }

    pub fn end_object(&mut self) {
        self.buf.push(b'}');
        self.scopes.pop();
    }

    pub fn begin_array(&mut self) {
        self.before_value();
        self.buf.push(b'[');
        self.scopes.push(Scope::Array { has_items: false });
    }

    pub fn end_array(&mut self) {
        self.buf.push(b']');
        self.scopes.pop();
    }

    /// Starts a member of the current object; the value is written next.
    pub fn key(&mut self, key: &str) {
        debug_assert!(!key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20));
        if let Some(Scope::Object { has_members }) = self.scopes.last_mut() {
            if *has_members {
                self.buf.push(b',');
            }
            *has_members = true;
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    pub fn string(&mut self, value: &str) {
        self.before_value();
        // Writing into a Vec cannot fail and a &str always serializes.
        let _ = serde_json::to_writer(&mut self.buf, value);
    }

    pub fn uint(&mut self, value: u64) {
        self.before_value();
        let _ = serde_json::to_writer(&mut self.buf, &value);
    }

    /// A JSON literal written as is: `null`, `true`, `0.7`. Only for constants of this module.
    pub fn literal(&mut self, raw: &'static str) {
        self.before_value();
        self.buf.extend_from_slice(raw.as_bytes());
    }

    pub fn field_str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.string(value);
    }

    pub fn field_uint(&mut self, key: &str, value: u64) {
        self.key(key);
        self.uint(value);
    }

    pub fn field_literal(&mut self, key: &str, raw: &'static str) {
        self.key(key);
        self.literal(raw);
    }

    /// Hands out what was written and leaves the writer empty, ready for the next record.
    pub fn take_string(&mut self) -> String {
        let capacity = self.buf.capacity();
        let bytes = std::mem::replace(&mut self.buf, Vec::with_capacity(capacity));
        self.scopes.clear();
        // Every piece written above is valid UTF-8, so the lossy branch never runs.
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_values_with_commas_and_escapes() {
        let mut out = JsonOut::default();
        out.begin_object();
        out.field_str("text", "say \"hi\"\n\\ café");
        out.field_uint("n", 42);
        out.key("list");
        out.begin_array();
        out.uint(1);
        out.begin_object();
        out.field_literal("x", "null");
        out.end_object();
        out.string("z");
        out.end_array();
        out.key("empty");
        out.begin_object();
        out.end_object();
        out.end_object();
        let text = out.take_string();
        assert_eq!(
            text,
            r#"{"text":"say \"hi\"\n\\ café","n":42,"list":[1,{"x":null},"z"],"empty":{}}"#
        );
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["text"], "say \"hi\"\n\\ café");
        assert_eq!(out.take_string(), "");
    }
}
