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
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
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
}
