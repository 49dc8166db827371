//! RFC 8785 (JCS) canonical JSON: what Rekor stores and what its SET signs.

use serde_json::Value;

/// Serializes `value` canonically: object members sorted by their UTF-16
/// code units, no insignificant whitespace, strings with the minimal
/// escaping of RFC 8785 §3.2.2.2, numbers in ECMAScript form.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        // ECMAScript Number::toString for finite doubles; integral values
        // print without a fraction.
        if f.fract() == 0.0 && f.abs() < 1e21 {
            out.push_str(&format!("{f:.0}"));
        } else {
            out.push_str(&format!("{f}"));
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    // Runs of characters that need no escape are copied whole (entry
    // bodies are mostly long base64 strings). Every escaped character is
    // ASCII, so the byte positions split `s` on character boundaries.
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            b if b < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_escapes() {
        let v: Value = serde_json::from_str(
            r#"{"b": [1, true, null], "a": "x\u0001\n\"é", "\u20ac": 1, "\r": 2}"#,
        )
        .unwrap();
        assert_eq!(
            to_string(&v),
            "{\"\\r\":2,\"a\":\"x\\u0001\\n\\\"é\",\"b\":[1,true,null],\"€\":1}"
        );
    }

    #[test]
    fn set_payload_shape() {
        let v =
            serde_json::json!({"logIndex": 7, "logID": "ab", "integratedTime": 5, "body": "Zm9v"});
        assert_eq!(
            to_string(&v),
            r#"{"body":"Zm9v","integratedTime":5,"logID":"ab","logIndex":7}"#
        );
    }

    #[test]
    fn escapes_only_what_rfc8785_escapes() {
        // Every control character, the two that must be escaped, and
        // characters that must not be (DEL, '/', non-ASCII, U+2028), at
        // the start, middle and end of runs.
        let mut text: String = (0u8..0x20).map(char::from).collect();
        text.push_str("\"plain\\/\u{7f}é€\u{2028}😀end\u{1f}");
        let mut expected = String::from("\"");
        for b in 0u8..0x20 {
            expected.push_str(&match b {
                0x08 => "\\b".to_string(),
                0x0c => "\\f".to_string(),
                b'\n' => "\\n".to_string(),
                b'\r' => "\\r".to_string(),
                b'\t' => "\\t".to_string(),
                b => format!("\\u{b:04x}"),
            });
        }
        expected.push_str("\\\"plain\\\\/\u{7f}é€\u{2028}😀end\\u001f\"");
        assert_eq!(to_string(&Value::String(text.clone())), expected);
        // And it is JSON that reads back as the same string.
        assert_eq!(serde_json::from_str::<String>(&expected).unwrap(), text);
    }
}
