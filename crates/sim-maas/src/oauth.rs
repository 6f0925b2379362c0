//! OAuth 1.0 (RFC 5849) as MAAS uses it: PLAINTEXT and HMAC-SHA1 signatures, an empty consumer
//! secret and API keys of the form `consumer_key:token_key:token_secret`.
//!
//! The verifier is what the simulator runs on every request; the signing functions exist so that
//! tests (and anyone scripting against the simulator) can produce both kinds of signature.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (RFC 5849 §3.6).
const OAUTH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How far a request's `oauth_timestamp` may be from the simulator's clock.
const TIMESTAMP_TOLERANCE_SECS: u64 = 300;

/// Percent-encode a value the way OAuth 1.0 requires.
pub fn oauth_encode(value: &str) -> String {
    utf8_percent_encode(value, OAUTH_ENCODE).to_string()
}

/// A MAAS API key: `consumer_key:token_key:token_secret`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub consumer_key: String,
    pub token_key: String,
    pub token_secret: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("consumer_key", &self.consumer_key)
            .field("token_key", &self.token_key)
            .field("token_secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.consumer_key, self.token_key, self.token_secret
        )
    }
}

/// Why a string is not an API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("api key must have the form consumer_key:token_key:token_secret")]
pub struct ParseApiKeyError;

impl FromStr for ApiKey {
    type Err = ParseApiKeyError;

    fn from_str(text: &str) -> Result<ApiKey, ParseApiKeyError> {
        let parts: Vec<&str> = text.trim().split(':').collect();
        match parts.as_slice() {
            [consumer, token, secret]
                if !consumer.is_empty() && !token.is_empty() && !secret.is_empty() =>
            {
                Ok(ApiKey {
                    consumer_key: consumer.to_string(),
                    token_key: token.to_string(),
                    token_secret: secret.to_string(),
                })
            }
            _ => Err(ParseApiKeyError),
        }
    }
}

/// The two signature methods MAAS accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureMethod {
    Plaintext,
    HmacSha1,
}

impl SignatureMethod {
    /// The `oauth_signature_method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureMethod::Plaintext => "PLAINTEXT",
            SignatureMethod::HmacSha1 => "HMAC-SHA1",
        }
    }
}

/// The HMAC/PLAINTEXT key: encoded consumer secret (always empty for MAAS) `&` encoded token secret.
fn signing_key(token_secret: &str) -> String {
    format!("&{}", oauth_encode(token_secret))
}

/// The signature base string of RFC 5849 §3.4.1.
///
/// `base_url` is scheme, authority and path without query; `params` are the query parameters,
/// the form-urlencoded body parameters and the `oauth_*` protocol parameters except
/// `oauth_signature` (and `realm`), all decoded.
pub fn signature_base_string(
    http_method: &str,
    base_url: &str,
    params: &[(String, String)],
) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| (oauth_encode(name), oauth_encode(value)))
        .collect();
    encoded.sort();
    let normalized = encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        http_method.to_ascii_uppercase(),
        oauth_encode(&normalize_base_url(base_url)),
        oauth_encode(&normalized)
    )
}

/// Lower-case scheme and host, drop default ports, keep the path (RFC 5849 §3.4.1.2).
pub fn normalize_base_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let mut authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if authority.ends_with(default_port) {
        authority.truncate(authority.len() - default_port.len());
    }
    format!("{scheme}://{authority}{path}")
}

/// The HMAC-SHA1 signature (base64) of a base string.
pub fn hmac_sha1_signature(base_string: &str, token_secret: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(signing_key(token_secret).as_bytes()) else {
        unreachable!("hmac accepts keys of any length")
    };
    mac.update(base_string.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The PLAINTEXT signature (before header encoding): `&` + encoded token secret.
pub fn plaintext_signature(token_secret: &str) -> String {
    signing_key(token_secret)
}

/// A request to sign on the client side.
#[derive(Debug, Clone)]
pub struct SignRequest<'a> {
    pub http_method: &'a str,
    /// The full URL, query string included.
    pub url: &'a str,
    /// Form-urlencoded body parameters (they are part of an HMAC-SHA1 signature).
    pub form: &'a [(String, String)],
    pub nonce: &'a str,
    pub timestamp: u64,
}

/// Build an `Authorization: OAuth …` header value for `request`.
pub fn authorization_header(
    key: &ApiKey,
    method: SignatureMethod,
    request: &SignRequest<'_>,
) -> String {
    let mut protocol = vec![
        ("oauth_consumer_key".to_string(), key.consumer_key.clone()),
        ("oauth_token".to_string(), key.token_key.clone()),
        (
            "oauth_signature_method".to_string(),
            method.as_str().to_string(),
        ),
        ("oauth_timestamp".to_string(), request.timestamp.to_string()),
        ("oauth_nonce".to_string(), request.nonce.to_string()),
        ("oauth_version".to_string(), "1.0".to_string()),
    ];
    let signature = match method {
        SignatureMethod::Plaintext => plaintext_signature(&key.token_secret),
        SignatureMethod::HmacSha1 => {
            let (base_url, query) = request.url.split_once('?').unwrap_or((request.url, ""));
            let mut params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            params.extend(request.form.iter().cloned());
            params.extend(protocol.iter().cloned());
            hmac_sha1_signature(
                &signature_base_string(request.http_method, base_url, &params),
                &key.token_secret,
            )
        }
    };
    protocol.push(("oauth_signature".to_string(), signature));
    let fields: Vec<String> = protocol
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", oauth_encode(value)))
        .collect();
    format!("OAuth realm=\"\", {}", fields.join(", "))
}

/// Why a request was refused. [`AuthError::maas_text`] is the body MAAS answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no oauth credentials")]
    Missing,
    #[error("malformed oauth authorization header")]
    Malformed,
    #[error("oauth parameter {0} is missing")]
    MissingParameter(&'static str),
    #[error("signature method {0} is not supported")]
    UnsupportedMethod(String),
    #[error("unknown consumer key")]
    InvalidConsumer,
    #[error("unknown access token {0}")]
    InvalidToken(String),
    #[error("plaintext signature does not match")]
    InvalidPlaintextSignature,
    #[error("hmac-sha1 signature does not match")]
    InvalidHmacSignature(String),
    #[error("timestamp {given} is too far from now ({now})")]
    ExpiredTimestamp { given: u64, now: u64 },
}

impl AuthError {
    /// The 401 body MAAS sends for this refusal.
    pub fn maas_text(&self) -> String {
        match self {
            AuthError::Missing => "Authorization Required".to_string(),
            AuthError::Malformed => "Authorization Error: 'Malformed OAuth authorization header'".to_string(),
            AuthError::MissingParameter(name) => format!("Authorization Error: 'Missing OAuth parameter: {name}'"),
            AuthError::UnsupportedMethod(method) => format!(
                "Authorization Error: 'Signature method {method} not supported try one of the following: PLAINTEXT, HMAC-SHA1'"
            ),
            AuthError::InvalidConsumer => "Authorization Error: Invalid API key.".to_string(),
            AuthError::InvalidToken(token) => format!("Authorization Error: 'Invalid access token: {token}'"),
            AuthError::InvalidPlaintextSignature => "Authorization Error: 'Invalid signature.'".to_string(),
            AuthError::InvalidHmacSignature(base) => {
                format!("Authorization Error: 'Invalid signature. Expected signature base string: {base}'")
            }
            AuthError::ExpiredTimestamp { given, now } => format!(
                "Authorization Error: 'Expired timestamp: given {given} and now {now} has a greater difference than threshold {TIMESTAMP_TOLERANCE_SECS}'"
            ),
        }
    }
}

/// Parse `OAuth k="v", …` into decoded pairs (`realm` dropped). `None` if it is not OAuth.
pub fn parse_authorization(header: &str) -> Option<Result<Vec<(String, String)>, AuthError>> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("OAuth") {
        return None;
    }
    let mut pairs = Vec::new();
    for field in rest.split(',') {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let Some((name, value)) = field.split_once('=') else {
            return Some(Err(AuthError::Malformed));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let Ok(decoded) = percent_decode_str(value).decode_utf8() else {
            return Some(Err(AuthError::Malformed));
        };
        let name = name.trim();
        if name != "realm" {
            pairs.push((name.to_string(), decoded.into_owned()));
        }
    }
    Some(Ok(pairs))
}

/// The parts of an HTTP request the verifier looks at.
#[derive(Debug, Clone)]
pub struct IncomingRequest<'a> {
    pub http_method: &'a str,
    /// `scheme://host[:port]/path` as the client addressed it.
    pub base_url: String,
    pub query: &'a [(String, String)],
    /// Form-urlencoded body parameters (multipart parts are not signed).
    pub form: &'a [(String, String)],
    pub authorization: Option<&'a str>,
}

/// The identity a verified request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user: String,
    pub method: SignatureMethod,
}

/// Check a request's OAuth signature against the known keys (`(key, user)` pairs).
pub fn verify(
    keys: &[(ApiKey, String)],
    request: &IncomingRequest<'_>,
) -> Result<Verified, AuthError> {
    let mut protocol: Vec<(String, String)> =
        match request.authorization.and_then(parse_authorization) {
            Some(parsed) => parsed?,
            None => Vec::new(),
        };
    // OAuth parameters may also travel in the query string or the form body (RFC 5849 §3.5).
    for (name, value) in request.query.iter().chain(request.form.iter()) {
        if name.starts_with("oauth_") && !protocol.iter().any(|(known, _)| known == name) {
            protocol.push((name.clone(), value.clone()));
        }
    }
    if protocol.is_empty() {
        return Err(AuthError::Missing);
    }
    let get = |name: &'static str| -> Result<&str, AuthError> {
        protocol
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_str())
            .ok_or(AuthError::MissingParameter(name))
    };
    let consumer_key = get("oauth_consumer_key")?;
    let signature = get("oauth_signature")?;
    let method = match get("oauth_signature_method")? {
        "PLAINTEXT" => SignatureMethod::Plaintext,
        "HMAC-SHA1" => SignatureMethod::HmacSha1,
        other => return Err(AuthError::UnsupportedMethod(other.to_string())),
    };
    let candidates: Vec<&(ApiKey, String)> = keys
        .iter()
        .filter(|(key, _)| key.consumer_key == consumer_key)
        .collect();
    if candidates.is_empty() {
        return Err(AuthError::InvalidConsumer);
    }
    let token = get("oauth_token")?;
    let Some((key, user)) = candidates
        .into_iter()
        .find(|(key, _)| key.token_key == token)
    else {
        return Err(AuthError::InvalidToken(token.to_string()));
    };
    match method {
        SignatureMethod::Plaintext => {
            let expected = plaintext_signature(&key.token_secret);
            // Clients either send `&secret` raw or percent-encode it once more; both decode here.
            let given = percent_decode_str(signature).decode_utf8_lossy();
            let matches = bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
                || bool::from(signature.as_bytes().ct_eq(expected.as_bytes()));
            if !matches {
                return Err(AuthError::InvalidPlaintextSignature);
            }
        }
        SignatureMethod::HmacSha1 => {
            let timestamp: u64 = get("oauth_timestamp")?
                .parse()
                .map_err(|_| AuthError::Malformed)?;
            get("oauth_nonce")?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if now.abs_diff(timestamp) > TIMESTAMP_TOLERANCE_SECS {
                return Err(AuthError::ExpiredTimestamp {
                    given: timestamp,
                    now,
                });
            }
            let mut params: Vec<(String, String)> = request.query.to_vec();
            params.extend(
                request
                    .form
                    .iter()
                    .filter(|(name, _)| !name.starts_with("oauth_"))
                    .cloned(),
            );
            params.extend(
                protocol
                    .iter()
                    .filter(|(name, _)| name != "oauth_signature")
                    .cloned(),
            );
            let base =
                signature_base_string(request.http_method, &request.base_url, &dedup_oauth(params));
            let expected = hmac_sha1_signature(&base, &key.token_secret);
            if !bool::from(signature.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(AuthError::InvalidHmacSignature(base));
            }
        }
    }
    Ok(Verified {
        user: user.clone(),
        method,
    })
}

/// Protocol parameters found both in the header and the query must count once.
fn dedup_oauth(params: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = std::collections::BTreeSet::new();
    params
        .into_iter()
        .filter(|(name, value)| {
            !name.starts_with("oauth_") || seen.insert((name.clone(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5849_example_base_string() {
        // The worked example of RFC 5849 §3.4.1.1 (parameters decoded).
        let params: Vec<(String, String)> = [
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("c2", ""),
            ("a3", "2 q"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        let base = signature_base_string("post", "http://Example.com:80/request", &params);
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    #[test]
    fn api_key_parsing() {
        let key: ApiKey = "a:b:c".parse().unwrap();
        assert_eq!(key.token_secret, "c");
        assert!("a:b".parse::<ApiKey>().is_err());
        assert!("a::c".parse::<ApiKey>().is_err());
        assert!(!format!("{key:?}").contains(":c"));
    }

    #[test]
    fn header_round_trip() {
        let key: ApiKey = "ck:tk:s3cr&t".parse().unwrap();
        let keys = vec![(key.clone(), "admin".to_string())];
        for method in [SignatureMethod::Plaintext, SignatureMethod::HmacSha1] {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let form = vec![("distro_series".to_string(), "jammy noble".to_string())];
            let header = authorization_header(
                &key,
                method,
                &SignRequest {
                    http_method: "POST",
                    url: "http://127.0.0.1:5240/MAAS/api/2.0/machines/abc/?op=deploy",
                    form: &form,
                    nonce: "n1",
                    timestamp: now,
                },
            );
            let query = vec![("op".to_string(), "deploy".to_string())];
            let request = IncomingRequest {
                http_method: "POST",
                base_url: "http://127.0.0.1:5240/MAAS/api/2.0/machines/abc/".into(),
                query: &query,
                form: &form,
                authorization: Some(&header),
            };
            assert_eq!(verify(&keys, &request).unwrap().method, method);
            let tampered = vec![("distro_series".to_string(), "focal".to_string())];
            let request = IncomingRequest {
                form: &tampered,
                ..request
            };
            let outcome = verify(&keys, &request);
            match method {
                SignatureMethod::Plaintext => assert!(outcome.is_ok()),
                SignatureMethod::HmacSha1 => {
                    assert!(matches!(outcome, Err(AuthError::InvalidHmacSignature(_))))
                }
            }
        }
    }
}
