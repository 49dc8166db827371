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

/// Integers up to 2^53 are exact in a double, so their digits are their
/// ECMAScript form; every other number is read as the double it denotes
/// (RFC 8785 §3.2.2.3: numbers are IEEE 754 doubles, so 2^53 + 1 is
/// written as 2^53).
const EXACT_INTEGERS: u64 = 1 << 53;

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= EXACT_INTEGERS) {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64().filter(|u| *u <= EXACT_INTEGERS) {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        write_double(f, out);
    }
}

/// ECMAScript's Number::toString (ECMA-262 §6.1.6.1.20) of a finite
/// double, which RFC 8785 §3.2.2.3 makes the canonical form: the shortest
/// digits that read back as `f`, positioned by the decimal exponent.
/// (JSON has no NaN or infinity, so `f` is finite.)
fn write_double(f: f64, out: &mut String) {
    if f == 0.0 {
        // Both zeros.
        out.push('0');
        return;
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` writes the shortest round-tripping digits, `d.ddde-x`,
    // but in an exact tie between two it takes the upper; ECMAScript takes
    // the even one, which is the correctly rounded (ties to even) number of
    // that many digits whenever that one reads back as `f`.
    let shortest = format!("{:e}", f.abs());
    let precision = shortest
        .split_once('e')
        .map_or(0, |(m, _)| m.chars().filter(char::is_ascii_digit).count())
        .saturating_sub(1);
    let rounded = format!("{:.*e}", precision, f.abs());
    let scientific = if rounded.parse::<f64>() == Ok(f.abs()) {
        rounded
    } else {
        shortest
    };
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // ECMA-262's k (digit count) and n (position of the decimal point).
    let k = digits.len() as i32;
    let n = exponent + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).unsigned_abs().to_string());
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

    /// RFC 8785 Appendix B: every finite sample, by its bits.
    #[test]
    fn numbers_are_written_as_ecmascript_writes_doubles() {
        let samples: [(u64, &str); 22] = [
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in samples {
            let f = f64::from_bits(bits);
            let mut out = String::new();
            write_double(f, &mut out);
            assert_eq!(out, expected, "{bits:016x}");
            // The same through a parsed document (-0 parses as a float).
            if let Some(n) = serde_json::Number::from_f64(f) {
                assert_eq!(to_string(&Value::Number(n)), expected, "{bits:016x}");
            }
        }
    }

    /// Integers beyond 2^53 are the doubles they denote, as JSON readers
    /// that follow RFC 8785 (and JavaScript) read them.
    #[test]
    fn integers_past_two_to_the_53_are_rounded_as_doubles() {
        let v: Value = serde_json::from_str(
            "[9007199254740992, 9007199254740993, -9007199254740993, 18446744073709551615, 1e-7, 100]",
        )
        .unwrap();
        assert_eq!(
            to_string(&v),
            "[9007199254740992,9007199254740992,-9007199254740992,18446744073709552000,1e-7,100]"
        );
    }
}
