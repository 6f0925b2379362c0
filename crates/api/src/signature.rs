//! CloudStack request signatures (HMAC-SHA1, versions 1 and 3), exactly as the Java server
//! canonicalises them: names sorted case-sensitively, values encoded with `URLEncoder` rules
//! (`+` as `%20`), the whole string lowercased.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing apiKey or signature")]
    Missing,
    #[error("signature version 3 requires a valid expires value")]
    BadExpires,
    #[error("the request has expired")]
    Expired,
    #[error("signature mismatch")]
    Mismatch,
}

/// `java.net.URLEncoder.encode(v, "UTF-8").replace("+", "%20")`.
pub fn java_urlencode(v: &str) -> String {
    let mut o = String::with_capacity(v.len() * 3 / 2);
    for b in v.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                o.push(b as char)
            }
            b' ' => o.push_str("%20"),
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

/// The lowercased string-to-sign of `pairs` (the `signature` pair is skipped).
pub fn string_to_sign(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("signature"))
        .collect();
    sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", java_urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .to_lowercase()
}

/// Base64 HMAC-SHA1 of the canonical string.
pub fn sign(pairs: &[(String, String)], secret: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("hmac accepts any key length");
    mac.update(string_to_sign(pairs).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parse an `expires` value in the forms CloudStack accepts; returns epoch milliseconds.
pub fn parse_expires(s: &str) -> Option<i64> {
    let t = s.trim();
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .or_else(|| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z").ok())
        .or_else(|| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
        .or_else(|| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%SZ%z").ok())
        .map(|d| d.timestamp_millis())
}

/// The api key of a signed request, if it carries one.
pub fn api_key(pairs: &[(String, String)]) -> Option<&str> {
    get(pairs, "apikey")
}

/// Verify a signed request against the user's secret at time `now_millis`.
pub fn verify(
    pairs: &[(String, String)],
    secret: &str,
    now_millis: i64,
) -> Result<(), SignatureError> {
    verify_with(pairs, secret, now_millis, false)
}

/// Like [`verify`]; with `lenient_tilde` a signature computed with `~` left unescaped (as
/// Python's and Go's encoders do) is accepted too.
pub fn verify_with(
    pairs: &[(String, String)],
    secret: &str,
    now_millis: i64,
    lenient_tilde: bool,
) -> Result<(), SignatureError> {
    let given = get(pairs, "signature").ok_or(SignatureError::Missing)?;
    get(pairs, "apikey").ok_or(SignatureError::Missing)?;
    if get(pairs, "signatureversion") == Some("3") {
        let expires = get(pairs, "expires")
            .and_then(parse_expires)
            .ok_or(SignatureError::BadExpires)?;
        if expires < now_millis {
            return Err(SignatureError::Expired);
        }
    }
    let expected = sign(pairs, secret);
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Ok(());
    }
    if lenient_tilde && pairs.iter().any(|(_, v)| v.contains('~')) {
        let mut mac =
            Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("hmac accepts any key length");
        mac.update(string_to_sign(pairs).replace("%7e", "~").as_bytes());
        let alt = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if bool::from(alt.as_bytes().ct_eq(given.as_bytes())) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector() -> Vec<(String, String)> {
        [
            ("command", "listVirtualMachines"),
            ("response", "json"),
            ("apiKey", "testApiKey-Abc_123"),
            ("name", "web server*1"),
            ("signatureVersion", "3"),
            ("expires", "2030-01-01T00:00:00+0000"),
            ("details[0].key", "cpu"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn the_published_test_vector() {
        let pairs = vector();
        assert_eq!(
            string_to_sign(&pairs),
            "apikey=testapikey-abc_123&command=listvirtualmachines&details[0].key=cpu&expires=2030-01-01t00%3a00%3a00%2b0000&name=web%20server*1&response=json&signatureversion=3"
        );
        assert_eq!(
            sign(&pairs, "testSecret-Xyz_789"),
            "+0XqRkrD1WTXIx5mFH/EwJJBOl4="
        );
    }

    #[test]
    fn verification_outcomes() {
        let mut pairs = vector();
        pairs.push(("signature".into(), "+0XqRkrD1WTXIx5mFH/EwJJBOl4=".into()));
        let now = parse_expires("2029-01-01T00:00:00Z").unwrap();
        assert_eq!(verify(&pairs, "testSecret-Xyz_789", now), Ok(()));
        assert_eq!(verify(&pairs, "wrong", now), Err(SignatureError::Mismatch));
        let later = parse_expires("2031-01-01T00:00:00Z").unwrap();
        assert_eq!(
            verify(&pairs, "testSecret-Xyz_789", later),
            Err(SignatureError::Expired)
        );
        let no_sig: Vec<_> = pairs
            .iter()
            .filter(|(k, _)| k != "signature")
            .cloned()
            .collect();
        assert_eq!(verify(&no_sig, "x", now), Err(SignatureError::Missing));
    }

    #[test]
    fn lenient_tilde() {
        let mut pairs: Vec<(String, String)> = vec![
            ("apiKey".into(), "k".into()),
            ("command".into(), "listZones".into()),
            ("name".into(), "a~b".into()),
        ];
        let mut mac = Hmac::<Sha1>::new_from_slice(b"s").unwrap();
        mac.update(string_to_sign(&pairs).replace("%7e", "~").as_bytes());
        pairs.push((
            "signature".into(),
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
        ));
        assert_eq!(verify(&pairs, "s", 0), Err(SignatureError::Mismatch));
        assert_eq!(verify_with(&pairs, "s", 0, true), Ok(()));
    }

    #[test]
    fn java_encoding_rules() {
        assert_eq!(
            java_urlencode("a~b !'()+/:ä"),
            "a%7Eb%20%21%27%28%29%2B%2F%3A%C3%A4"
        );
        assert_eq!(java_urlencode("A-z.0_*"), "A-z.0_*");
    }

    #[test]
    fn expires_formats() {
        for s in [
            "2030-01-01T00:00:00+0000",
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:00+00:00",
            "2030-01-01T00:00:00.000000Z",
        ] {
            assert!(parse_expires(s).is_some(), "{s}");
        }
        assert!(parse_expires("tomorrow").is_none());
    }
}
