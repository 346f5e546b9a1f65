//! A Lambda function's answer to a proxy event, read as API Gateway reads it
//! (set-up-lambda-proxy-integrations "Output format";
//! http-api-develop-integrations-lambda "Lambda function response format").
//!
//! Sans-IO: [`parse`] takes the Invoke response's bytes and the payload
//! format version and returns the status, the header fields (in order,
//! merged), the cookies and the body, borrowing from the input where the
//! JSON has no escapes. Malformed answers are a typed [`Malformed`]; the
//! caller turns it into the integration-failure response (REST 502
//! `{"message":"Internal server error"}`, HTTP API 500).
//!
//! Rules:
//! * 1.0: a JSON object with only `statusCode`, `headers`,
//!   `multiValueHeaders`, `body` and `isBase64Encoded` (any other member is
//!   malformed, as on API Gateway). 2.0: `statusCode`, `headers`, `cookies`,
//!   `body`, `isBase64Encoded`; and when the function returned valid JSON
//!   without `statusCode` (an object without it, an array, a number, a
//!   string…), the answer is `200`, `content-type: application/json`, and
//!   the body is that JSON text (a JSON string: its value).
//! * `statusCode`: an integer or a string of digits, 200–599 (1xx answers
//!   cannot be relayed as a final response).
//! * Header values: strings, numbers or booleans (`null` drops the field).
//!   `headers` and `multiValueHeaders` merge: a `headers` pair that
//!   `multiValueHeaders` repeats exactly is written once. Names must be
//!   tokens and values free of CR, LF and NUL (else malformed: they could
//!   split the response).
//! * `body`: a string or `null`; with `isBase64Encoded: true` it must be
//!   base64 (checked when the body is written).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::base64;
use super::event::PayloadVersion;

/// Why a function's answer cannot be relayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not JSON at all.
    NotJson,
    /// Valid JSON but not a response object (1.0), or a member of the wrong
    /// type or unknown.
    BadShape,
    /// `statusCode` missing (1.0) or outside 200–599.
    BadStatus,
    /// A header name that is not a token, or a value with CR, LF or NUL.
    BadHeader,
    /// `isBase64Encoded` is set and the body is not base64.
    BadBase64,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::NotJson => "the function's answer is not JSON",
            Malformed::BadShape => "the function's answer is not a proxy response object",
            Malformed::BadStatus => "statusCode is missing or not 200-599",
            Malformed::BadHeader => "a header name or value cannot be sent",
            Malformed::BadBase64 => "isBase64Encoded is true and the body is not base64",
        })
    }
}

impl std::error::Error for Malformed {}

/// The body of a function's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    Text(Cow<'a, str>),
    /// Base64 text to decode.
    Base64(Cow<'a, str>),
    /// 2.0 answer without `statusCode`: the JSON text itself.
    Json(&'a [u8]),
}

impl Body<'_> {
    /// How many bytes [`write`](Self::write) appends.
    pub fn len(&self) -> Result<usize, Malformed> {
        match self {
            Body::Text(t) => Ok(t.len()),
            Body::Json(j) => Ok(j.len()),
            Body::Base64(b) => base64::decoded_len(b.as_bytes()).map_err(|_| Malformed::BadBase64),
        }
    }

    /// Whether the body has no bytes (a malformed base64 body counts as not empty).
    pub fn is_empty(&self) -> bool {
        self.len().is_ok_and(|n| n == 0)
    }

    /// Append the body's bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), Malformed> {
        match self {
            Body::Text(t) => out.extend_from_slice(t.as_bytes()),
            Body::Json(j) => out.extend_from_slice(j),
            Body::Base64(b) => {
                base64::decode(out, b.as_bytes()).map_err(|_| Malformed::BadBase64)?
            }
        }
        Ok(())
    }
}

/// A function's answer, ready to be written as an HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionResponse<'a> {
    pub status: u16,
    /// Header fields in the order to send them (one line each).
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// 2.0 `cookies`: each becomes its own `Set-Cookie` field.
    pub cookies: Vec<Cow<'a, str>>,
    pub body: Body<'a>,
}

impl FunctionResponse<'_> {
    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// Read a function's answer.
pub fn parse(input: &[u8], version: PayloadVersion) -> Result<FunctionResponse<'_>, Malformed> {
    let first = input
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied()
        .unwrap_or(0);
    if first != b'{' {
        if version == PayloadVersion::V2 {
            return inferred(input);
        }
        // (serde would read a struct from an array, too.)
        return match serde_json::from_slice::<de::IgnoredAny>(input) {
            Ok(_) => Err(Malformed::BadShape),
            Err(_) => Err(Malformed::NotJson),
        };
    }
    let raw: Raw<'_> = match serde_json::from_slice(input) {
        Ok(r) => r,
        Err(e) if version == PayloadVersion::V2 && e.is_data() && !has_status(input) => {
            return inferred(input);
        }
        Err(e) if e.is_data() => return Err(Malformed::BadShape),
        Err(_) => return Err(Malformed::NotJson),
    };
    let v1 = version == PayloadVersion::V1;
    if raw.status.is_none() {
        return if v1 {
            Err(Malformed::BadStatus)
        } else {
            inferred(input)
        };
    }
    if (v1 && raw.cookies.is_some()) || (!v1 && raw.multi.is_some()) {
        return Err(Malformed::BadShape);
    }
    let status = match raw.status {
        Some(s @ 200..=599) => s,
        _ => return Err(Malformed::BadStatus),
    };
    // `headers` (nulls dropped while reading), then `multiValueHeaders`;
    // the common case (no multiValueHeaders) keeps the one list serde built.
    let mut headers = raw.headers.map(|h| h.0).unwrap_or_default();
    if let Some(multi) = raw.multi {
        headers.retain(|(name, value)| {
            !multi.0.iter().any(|(n, vs)| {
                n.eq_ignore_ascii_case(name) && vs.iter().any(|v| v.as_deref() == Some(&**value))
            })
        });
        for (name, values) in multi.0 {
            for v in values.into_iter().flatten() {
                headers.push((name.clone(), v));
            }
        }
    }
    for (n, v) in &headers {
        check_header(n, v)?;
    }
    let cookies: Vec<Cow<'_, str>> = raw
        .cookies
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.0)
        .collect();
    for c in &cookies {
        check_header("set-cookie", c)?;
    }
    let body = match (raw.body, raw.base64.unwrap_or(false)) {
        (None, _) => Body::Text(Cow::Borrowed("")),
        (Some(b), true) => Body::Base64(b.0),
        (Some(b), false) => Body::Text(b.0),
    };
    Ok(FunctionResponse {
        status,
        headers,
        cookies,
        body,
    })
}

/// A 2.0 answer that is valid JSON but no response object.
fn inferred(input: &[u8]) -> Result<FunctionResponse<'_>, Malformed> {
    let body = match serde_json::from_slice::<Str<'_>>(input) {
        Ok(s) => Body::Text(s.0),
        Err(_) => {
            serde_json::from_slice::<de::IgnoredAny>(input).map_err(|_| Malformed::NotJson)?;
            Body::Json(input.trim_ascii())
        }
    };
    Ok(FunctionResponse {
        status: 200,
        headers: vec![(
            Cow::Borrowed("content-type"),
            Cow::Borrowed("application/json"),
        )],
        cookies: Vec::new(),
        body,
    })
}

/// Whether a JSON object has a `statusCode` member (whatever its type).
fn has_status(input: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "statusCode")]
        status: Option<de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(input).is_ok_and(|p| p.status.is_some())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_header(name: &str, value: &str) -> Result<(), Malformed> {
    if name.is_empty()
        || !name.bytes().all(is_tchar)
        || value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
    {
        return Err(Malformed::BadHeader);
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw<'a> {
    #[serde(rename = "statusCode", default, deserialize_with = "status_code")]
    status: Option<u16>,
    #[serde(borrow, default)]
    headers: Option<HeaderMap<'a>>,
    #[serde(borrow, default, rename = "multiValueHeaders")]
    multi: Option<MultiMap<'a>>,
    #[serde(borrow, default)]
    body: Option<Str<'a>>,
    #[serde(default, rename = "isBase64Encoded")]
    base64: Option<bool>,
    #[serde(borrow, default)]
    cookies: Option<Vec<Str<'a>>>,
}

/// A JSON string, borrowed from the input unless it has escapes. (serde's
/// own `Cow<str>` borrows only as a direct field, not inside `Option`/`Vec`.)
struct Str<'a>(Cow<'a, str>);

/// A header value: a string, a number or a boolean as text; `None` for null.
struct Scalar<'a>(Option<Cow<'a, str>>);

/// `headers`: members in document order (`null` values left out).
struct HeaderMap<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

/// Header values of one `multiValueHeaders` member (`None`: null).
type Values<'a> = Vec<Option<Cow<'a, str>>>;

/// `multiValueHeaders`: members in document order.
struct MultiMap<'a>(Vec<(Cow<'a, str>, Values<'a>)>);

/// A list of header values (`null` counts as empty).
struct ScalarList<'a>(Values<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Vis<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Vis(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Vis<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                }))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(Vis(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ScalarList<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Vis<'a> {
            type Value = ScalarList<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of header values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Scalar<'a>>()? {
                    out.push(s.0);
                }
                Ok(ScalarList(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ScalarList(Vec::new()))
            }
        }
        d.deserialize_any(Vis(std::marker::PhantomData))
    }
}

/// Members of a JSON object in document order, values read as `V` and
/// mapped (`None`: the member is left out).
fn members<'de: 'a, 'a, D, V, T>(
    d: D,
    map: fn(V) -> Option<T>,
) -> Result<Vec<(Cow<'a, str>, T)>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Vis<'a, V, T>(fn(V) -> Option<T>, std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a, V: Deserialize<'de>, T> Visitor<'de> for Vis<'a, V, T> {
        type Value = Vec<(Cow<'a, str>, T)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(k) = m.next_key::<Str<'a>>()? {
                if let Some(v) = (self.0)(m.next_value::<V>()?) {
                    out.push((k.0, v));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_map(Vis(map, std::marker::PhantomData))
}

impl<'de: 'a, 'a> Deserialize<'de> for HeaderMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        members(d, |s: Scalar<'a>| s.0).map(HeaderMap)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for MultiMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        members(d, |s: ScalarList<'a>| Some(s.0)).map(MultiMap)
    }
}

/// `statusCode`: an integer, or a string of digits.
fn status_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    struct Vis;
    impl Visitor<'_> for Vis {
        type Value = Option<u16>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an HTTP status code")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(u16::try_from(v).unwrap_or(0)))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Some(0))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v.parse::<u16>() {
                Ok(n) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
                _ => Ok(Some(0)),
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Vis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PayloadVersion::{V1, V2};

    fn ok(input: &str, v: PayloadVersion) -> FunctionResponse<'_> {
        parse(input.as_bytes(), v).unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    fn body(r: &FunctionResponse<'_>) -> String {
        let mut out = Vec::new();
        r.body.write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn pairs<'a>(r: &'a FunctionResponse<'_>) -> Vec<(&'a str, &'a str)> {
        r.headers.iter().map(|(n, v)| (&**n, &**v)).collect()
    }

    #[test]
    fn v1_full_response() {
        let r = ok(
            r#"{"statusCode":201,"headers":{"A":"1","B":"x"},"multiValueHeaders":{"A":["1","2"],"C":["3"]},"body":"{\"ok\":true}","isBase64Encoded":false}"#,
            V1,
        );
        assert_eq!(r.status, 201);
        // `A: 1` appears in both: once.
        assert_eq!(pairs(&r), [("B", "x"), ("A", "1"), ("A", "2"), ("C", "3")]);
        assert_eq!(body(&r), r#"{"ok":true}"#);
        assert!(r.cookies.is_empty());
    }

    #[test]
    fn status_code_as_string_and_scalar_header_values() {
        let r = ok(
            r#"{"statusCode":"404","headers":{"X-N":7,"X-B":true,"X-Null":null}}"#,
            V1,
        );
        assert_eq!(r.status, 404);
        assert_eq!(pairs(&r), [("X-N", "7"), ("X-B", "true")]);
        assert_eq!(body(&r), "");
    }

    #[test]
    fn base64_bodies_are_decoded() {
        let r = ok(
            r#"{"statusCode":200,"body":"AAEC/w==","isBase64Encoded":true}"#,
            V1,
        );
        let mut out = Vec::new();
        r.body.write(&mut out).unwrap();
        assert_eq!(out, [0, 1, 2, 255]);
        let bad = ok(
            r#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#,
            V1,
        );
        assert_eq!(bad.body.write(&mut Vec::new()), Err(Malformed::BadBase64));
    }

    #[test]
    fn v1_malformed_answers() {
        for (input, why) in [
            ("not json", Malformed::NotJson),
            ("", Malformed::NotJson),
            ("{\"statusCode\":200", Malformed::NotJson),
            ("\"hello\"", Malformed::BadShape),
            ("[1]", Malformed::BadShape),
            (r#"{"body":"x"}"#, Malformed::BadStatus),
            (r#"{"statusCode":200,"extra":1}"#, Malformed::BadShape),
            (r#"{"statusCode":200,"body":{"a":1}}"#, Malformed::BadShape),
            (
                r#"{"statusCode":200,"cookies":["a=b"]}"#,
                Malformed::BadShape,
            ),
            (r#"{"statusCode":99}"#, Malformed::BadStatus),
            (r#"{"statusCode":101}"#, Malformed::BadStatus),
            (r#"{"statusCode":600}"#, Malformed::BadStatus),
            (r#"{"statusCode":-1}"#, Malformed::BadStatus),
            (r#"{"statusCode":"2x0"}"#, Malformed::BadStatus),
            (
                r#"{"statusCode":200,"headers":{"a b":"x"}}"#,
                Malformed::BadHeader,
            ),
            (
                r#"{"statusCode":200,"headers":{"a":"x\r\nInjected: 1"}}"#,
                Malformed::BadHeader,
            ),
            (r#"{"statusCode":200,"headers":[]}"#, Malformed::BadShape),
            (
                r#"{"statusCode":200,"isBase64Encoded":"yes"}"#,
                Malformed::BadShape,
            ),
        ] {
            assert_eq!(parse(input.as_bytes(), V1).err(), Some(why), "{input}");
        }
    }

    #[test]
    fn v2_cookies_and_headers() {
        let r = ok(
            r#"{"statusCode":200,"cookies":["a=1; Path=/","b=2"],"headers":{"content-type":"text/plain","x-list":"p,q"},"body":"hi"}"#,
            V2,
        );
        assert_eq!(r.cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(
            pairs(&r),
            [("content-type", "text/plain"), ("x-list", "p,q")]
        );
        assert_eq!(body(&r), "hi");
    }

    #[test]
    fn v2_infers_a_json_body_without_status_code() {
        for (input, expected) in [
            (
                r#"{"message":"Hello from Lambda!"}"#,
                r#"{"message":"Hello from Lambda!"}"#,
            ),
            (r#""Hello from Lambda!""#, "Hello from Lambda!"),
            (r#""esc\"aped""#, "esc\"aped"),
            ("[1, 2]", "[1, 2]"),
            ("42", "42"),
            ("true", "true"),
            ("null", "null"),
            // Members of any type are fine when there is no statusCode.
            (
                r#"{"body":{"a":1},"headers":5}"#,
                r#"{"body":{"a":1},"headers":5}"#,
            ),
            ("  {\"a\":1}\n", "{\"a\":1}"),
        ] {
            let r = ok(input, V2);
            assert_eq!(r.status, 200, "{input}");
            assert_eq!(r.header("Content-Type"), Some("application/json"));
            assert_eq!(body(&r), expected, "{input}");
        }
    }

    #[test]
    fn v2_malformed_answers() {
        for (input, why) in [
            ("not json", Malformed::NotJson),
            ("{\"a\":", Malformed::NotJson),
            (r#"{"statusCode":"x"}"#, Malformed::BadStatus),
            (r#"{"statusCode":200,"body":5}"#, Malformed::BadShape),
            (r#"{"statusCode":200,"extra":1}"#, Malformed::BadShape),
            (
                r#"{"statusCode":200,"multiValueHeaders":{"a":["1"]}}"#,
                Malformed::BadShape,
            ),
            (
                r#"{"statusCode":200,"cookies":["a\nb"]}"#,
                Malformed::BadHeader,
            ),
        ] {
            assert_eq!(parse(input.as_bytes(), V2).err(), Some(why), "{input}");
        }
    }

    #[test]
    fn borrows_unescaped_strings() {
        let input = r#"{"statusCode":200,"headers":{"a":"b"},"body":"plain"}"#;
        let r = ok(input, V1);
        assert!(matches!(r.body, Body::Text(Cow::Borrowed(_))));
        assert!(matches!(r.headers[0].1, Cow::Borrowed(_)));
    }
}
