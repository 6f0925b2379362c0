//! A CloudStack API client used by the `trellis` CLI and by the integration tests: API-key
//! requests signed exactly as real clients sign them (v1, or v3 with `expires`), or a login
//! session (cookies plus the `sessionkey` parameter), and polling of async jobs.

use serde_json::Value;
use std::time::Duration;
use trellis_api::signature::{java_urlencode, sign};

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials (only `login` works).
    None,
    /// API key and secret; `v3` adds `signatureVersion=3` and `expires`.
    Keys {
        api_key: String,
        secret: String,
        v3: bool,
    },
    /// A login session.
    Session { session_key: String },
}

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server answered {status}: {text} (errorcode {code}, cserrorcode {cs_code})")]
    Api {
        status: u16,
        code: i64,
        cs_code: i64,
        text: String,
    },
    #[error("request to {url} failed")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("unexpected response ({status}): {body}")]
    Decode { status: u16, body: String },
    #[error("job {jobid} failed: {text} (errorcode {code})")]
    JobFailed {
        jobid: String,
        code: i64,
        text: String,
        result: Value,
    },
    #[error("job {jobid} did not finish within {after:?}")]
    JobTimeout { jobid: String, after: Duration },
}

/// A URL that cannot carry the cookies of a saved session.
#[derive(Debug, thiserror::Error)]
#[error("invalid API url {url}")]
pub struct InvalidUrlError {
    pub url: String,
}

impl ClientError {
    /// The CloudStack error code of an API or job error.
    pub fn code(&self) -> Option<i64> {
        match self {
            ClientError::Api { code, .. } | ClientError::JobFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status of an answer the server gave (API errors and undecodable answers).
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A request the server refused as unauthenticated (e.g. an expired session).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ClientError::Api { status: 401, .. })
    }

    /// The connection could not be made because nothing listens at the address.
    pub fn is_connection_refused(&self) -> bool {
        let ClientError::Transport { source, .. } = self else {
            return false;
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    return true;
                }
            }
            cause = e.source();
        }
        false
    }

    /// The connection could not be made (refused, unreachable, name not resolved).
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Transport { source, .. } if source.is_connect())
    }
}

/// A CloudStack API client.
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    auth: Auth,
    http: reqwest::Client,
    post: bool,
    /// The `JSESSIONID` cookie of a login session.
    jsession_id: Option<String>,
}

impl Client {
    /// A client for `url` (e.g. `http://127.0.0.1:8080/client/api`).
    /// The same credentials against another server (servers sharing one database).
    pub fn with_url(&self, url: impl Into<String>) -> Client {
        Client::new(url, self.auth.clone())
    }

    pub fn new(url: impl Into<String>, auth: Auth) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("http client builds");
        Client {
            url: url.into(),
            auth,
            http,
            post: false,
            jsession_id: None,
        }
    }

    /// Resume a login session saved earlier (its session key and `JSESSIONID` cookie), so that
    /// several processes can share one login.
    pub fn resume_session(
        url: impl Into<String>,
        session_key: &str,
        jsession_id: &str,
    ) -> Result<Client, InvalidUrlError> {
        let url = url.into();
        let parsed: reqwest::Url = url
            .parse()
            .map_err(|_| InvalidUrlError { url: url.clone() })?;
        let jar = reqwest::cookie::Jar::default();
        jar.add_cookie_str(&format!("JSESSIONID={jsession_id}; Path=/"), &parsed);
        jar.add_cookie_str(&format!("sessionkey={session_key}; Path=/"), &parsed);
        let http = reqwest::Client::builder()
            .cookie_provider(std::sync::Arc::new(jar))
            .timeout(Duration::from_secs(120))
            .build()
            .expect("http client builds");
        Ok(Client {
            url,
            auth: Auth::Session {
                session_key: session_key.to_string(),
            },
            http,
            post: false,
            jsession_id: Some(jsession_id.to_string()),
        })
    }

    /// The `JSESSIONID` cookie of a login session, if this client logged in or resumed one.
    pub fn jsession_id(&self) -> Option<&str> {
        self.jsession_id.as_deref()
    }

    /// End the login session (the server forgets the session key).
    pub async fn logout(&self) -> Result<Value, ClientError> {
        self.call("logout", &[]).await
    }

    /// Send requests as form POSTs instead of GETs.
    pub fn use_post(mut self, post: bool) -> Client {
        self.post = post;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Log in with a username and password; the returned client uses the session.
    pub async fn login(
        url: impl Into<String>,
        username: &str,
        password: &str,
        domain: Option<&str>,
    ) -> Result<Client, ClientError> {
        let mut c = Client::new(url, Auth::None);
        let mut form = vec![
            ("command", "login"),
            ("username", username),
            ("password", password),
            ("response", "json"),
        ];
        if let Some(d) = domain {
            form.push(("domain", d));
        }
        let resp = c
            .http
            .post(&c.url)
            .form(&form)
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                url: c.url.clone(),
                source,
            })?;
        c.jsession_id = resp
            .cookies()
            .find(|cookie| cookie.name() == "JSESSIONID")
            .map(|cookie| cookie.value().to_string());
        let body = read(resp).await?;
        let key = body
            .get("sessionkey")
            .and_then(Value::as_str)
            .ok_or_else(|| ClientError::Decode {
                status: 200,
                body: body.to_string(),
            })?;
        c.auth = Auth::Session {
            session_key: key.to_string(),
        };
        Ok(c)
    }

    /// Build the final parameter list of a request (auth added, signed when using keys).
    pub fn prepare(&self, command: &str, params: &[(String, String)]) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = vec![
            ("command".into(), command.into()),
            ("response".into(), "json".into()),
        ];
        pairs.extend(params.iter().cloned());
        match &self.auth {
            Auth::None => {}
            Auth::Session { session_key } => pairs.push(("sessionkey".into(), session_key.clone())),
            Auth::Keys {
                api_key,
                secret,
                v3,
            } => {
                pairs.push(("apiKey".into(), api_key.clone()));
                if *v3 {
                    let expires = (chrono::Utc::now() + chrono::Duration::minutes(10))
                        .format("%Y-%m-%dT%H:%M:%S+0000")
                        .to_string();
                    pairs.push(("signatureVersion".into(), "3".into()));
                    pairs.push(("expires".into(), expires));
                }
                let sig = sign(&pairs, secret);
                pairs.push(("signature".into(), sig));
            }
        }
        pairs
    }

    /// Call a command; returns the body inside `<command>response`.
    pub async fn call(&self, command: &str, params: &[(&str, &str)]) -> Result<Value, ClientError> {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.call_owned(command, &owned).await
    }

    pub async fn call_owned(
        &self,
        command: &str,
        params: &[(String, String)],
    ) -> Result<Value, ClientError> {
        let pairs = self.prepare(command, params);
        let query: String = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", java_urlencode(k), java_urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let send = || {
            let req = if self.post {
                self.http
                    .post(&self.url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(query.clone())
            } else {
                self.http.get(format!("{}?{}", self.url, query))
            };
            req.send()
        };
        // A pooled keep-alive connection the server closed (e.g. after a restart) fails before
        // any response; retry that once on a fresh connection.
        let resp = match send().await {
            Ok(r) => r,
            Err(e) if e.is_request() && !e.is_timeout() => {
                send().await.map_err(|source| ClientError::Transport {
                    url: self.url.clone(),
                    source,
                })?
            }
            Err(source) => {
                return Err(ClientError::Transport {
                    url: self.url.clone(),
                    source,
                })
            }
        };
        read(resp).await
    }

    /// Poll `queryAsyncJobResult` until the job finishes; returns `jobresult`.
    pub async fn wait_job(
        &self,
        jobid: &str,
        limit: Duration,
        mut progress: impl FnMut(Duration),
    ) -> Result<Value, ClientError> {
        let start = std::time::Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let r = self
                .call("queryAsyncJobResult", &[("jobid", jobid)])
                .await?;
            match r.get("jobstatus").and_then(Value::as_i64) {
                Some(0) | None => {}
                Some(1) if r.get("jobresultcode").and_then(Value::as_i64) == Some(0) => {
                    return Ok(r.get("jobresult").cloned().unwrap_or(Value::Null))
                }
                Some(_) => {
                    let result = r.get("jobresult").cloned().unwrap_or(Value::Null);
                    return Err(ClientError::JobFailed {
                        jobid: jobid.into(),
                        code: result
                            .get("errorcode")
                            .and_then(Value::as_i64)
                            .unwrap_or(530),
                        text: result
                            .get("errortext")
                            .and_then(Value::as_str)
                            .unwrap_or("job failed")
                            .into(),
                        result,
                    });
                }
            }
            if start.elapsed() > limit {
                return Err(ClientError::JobTimeout {
                    jobid: jobid.into(),
                    after: limit,
                });
            }
            progress(start.elapsed());
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(1000));
        }
    }

    /// Call a command and, if it answers with a job id, wait for the job.
    pub async fn call_wait(
        &self,
        command: &str,
        params: &[(&str, &str)],
    ) -> Result<Value, ClientError> {
        let r = self.call(command, params).await?;
        match r.get("jobid").and_then(Value::as_str) {
            Some(j) if r.as_object().is_some_and(|m| m.len() <= 2) => {
                self.wait_job(j, Duration::from_secs(600), |_| {}).await
            }
            _ => Ok(r),
        }
    }
}

async fn read(resp: reqwest::Response) -> Result<Value, ClientError> {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).map_err(|_| ClientError::Decode {
        status,
        body: text.clone(),
    })?;
    let inner = v
        .as_object()
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.ends_with("response"))
                .map(|(_, v)| v.clone())
        })
        .ok_or_else(|| ClientError::Decode {
            status,
            body: text.clone(),
        })?;
    if status != 200 || inner.get("errorcode").is_some() {
        return Err(ClientError::Api {
            status,
            code: inner
                .get("errorcode")
                .and_then(Value::as_i64)
                .unwrap_or(i64::from(status)),
            cs_code: inner
                .get("cserrorcode")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            text: inner
                .get("errortext")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
        });
    }
    Ok(inner)
}
