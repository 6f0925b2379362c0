//! Connection settings from the payload's details: the MAAS URL, the API key, TLS verification,
//! the poll interval, and the deadline the extension must finish by.

use std::fmt;
use std::time::Duration;
use url::Url;

/// The port MAAS listens on when the endpoint names none.
pub const DEFAULT_MAAS_PORT: u16 = 5240;

/// Seconds upstream CloudStack waits when the timeout argument is 0.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Seconds between polls of a transition, unless the `poll_interval` detail says otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Why the MAAS endpoint detail is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("endpoint is empty")]
    Empty,
    #[error("endpoint is not a valid url")]
    Invalid,
    #[error("endpoint scheme must be http or https")]
    Scheme,
}

/// The MAAS base URL (ending in `/MAAS` or whatever path the endpoint gave) from the `endpoint`
/// detail.
///
/// A bare host (`maas.example.org`, or `http://maas.example.org` as upstream accepts) becomes
/// `http://maas.example.org:5240/MAAS`; a URL with a path is taken as given, minus a trailing
/// `/api/2.0` and trailing slashes.
pub fn maas_base_url(endpoint: &str) -> Result<Url, EndpointError> {
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err(EndpointError::Empty);
    }
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|_| EndpointError::Invalid)?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(EndpointError::Scheme);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(EndpointError::Invalid);
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    if path.is_empty() {
        if url.port().is_none() && url.scheme() == "http" {
            url.set_port(Some(DEFAULT_MAAS_PORT))
                .map_err(|()| EndpointError::Invalid)?;
        }
        url.set_path("/MAAS");
    } else {
        let path = path
            .strip_suffix("/api/2.0")
            .unwrap_or(&path)
            .trim_end_matches('/');
        url.set_path(if path.is_empty() { "/MAAS" } else { path });
    }
    Ok(url)
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

/// Why the `apikey` detail is unusable (the key itself is never echoed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("apikey must have the form consumer_key:token_key:token_secret")]
pub struct ApiKeyError;

impl ApiKey {
    pub fn parse(text: &str) -> Result<ApiKey, ApiKeyError> {
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
            _ => Err(ApiKeyError),
        }
    }
}

/// The moment the extension must have answered by: the kit's policy, with
/// [`DEFAULT_TIMEOUT`] when neither the timeout argument nor `TRELLIS_DEADLINE` says anything.
pub use trellis_extkit::Deadline;

/// Parse the `poll_interval` detail: seconds, fractions allowed, between 10 ms and 10 minutes.
pub fn poll_interval(text: Option<&str>) -> Result<Duration, String> {
    let Some(text) = text else {
        return Ok(DEFAULT_POLL_INTERVAL);
    };
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.01..=600.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!(
            "expected seconds between 0.01 and 600, got '{text}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(endpoint: &str) -> String {
        maas_base_url(endpoint)
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            base("maas.example.org"),
            "http://maas.example.org:5240/MAAS"
        );
        assert_eq!(
            base("maas.example.org/"),
            "http://maas.example.org:5240/MAAS"
        );
        assert_eq!(
            base("http://maas.example.org"),
            "http://maas.example.org:5240/MAAS"
        );
        assert_eq!(base("10.0.0.5:5240"), "http://10.0.0.5:5240/MAAS");
        assert_eq!(
            base("http://127.0.0.1:41234/MAAS"),
            "http://127.0.0.1:41234/MAAS"
        );
        assert_eq!(
            base("http://127.0.0.1:41234/MAAS/api/2.0/"),
            "http://127.0.0.1:41234/MAAS"
        );
        assert_eq!(
            base("https://maas.example.org/MAAS/"),
            "https://maas.example.org/MAAS"
        );
        assert_eq!(
            base("https://maas.example.org"),
            "https://maas.example.org/MAAS"
        );
        assert_eq!(base(" "), "error: endpoint is empty");
        assert_eq!(
            base("ftp://maas"),
            "error: endpoint scheme must be http or https"
        );
    }

    #[test]
    fn api_keys() {
        let key = ApiKey::parse("a:b:c").unwrap();
        assert_eq!(
            (
                key.consumer_key.as_str(),
                key.token_key.as_str(),
                key.token_secret.as_str()
            ),
            ("a", "b", "c")
        );
        assert!(ApiKey::parse("a:b").is_err());
        assert!(ApiKey::parse("a:b:c:d").is_err());
        assert!(ApiKey::parse(":b:c").is_err());
        let key = ApiKey::parse("ck:tk:SeCrEt").unwrap();
        assert!(!format!("{key:?}").contains("SeCrEt"));
    }

    #[test]
    fn deadlines() {
        use std::time::{SystemTime, UNIX_EPOCH};
        let deadline = |timeout: &str, environment: Option<&str>| {
            Deadline::from_invocation_or(Some(timeout), environment, DEFAULT_TIMEOUT)
        };
        let ten = deadline("10", None);
        assert!(ten.remaining() <= Duration::from_secs(9));
        assert!(ten.remaining() > Duration::from_secs(8));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let soon = deadline("600", Some(&(now + 3).to_string()));
        assert!(soon.remaining() <= Duration::from_secs(3));
        assert!(deadline("600", Some(&(now - 5).to_string())).has_passed());
        assert!(deadline("0", None).remaining() > Duration::from_secs(1700));
    }

    #[test]
    fn poll_intervals() {
        assert_eq!(poll_interval(None).unwrap(), DEFAULT_POLL_INTERVAL);
        assert_eq!(
            poll_interval(Some("0.05")).unwrap(),
            Duration::from_millis(50)
        );
        assert!(poll_interval(Some("0")).is_err());
        assert!(poll_interval(Some("soon")).is_err());
    }
}
