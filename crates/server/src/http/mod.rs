//! The HTTP front: `/client/api` (the CloudStack API), `/healthz`, `/metrics`. The only module that
//! knows axum. Every request follows: parse → authenticate → validate against the catalog →
//! authorize by role type → call the application → render the envelope.

mod affinity_groups;
mod custom_actions;
mod disk_offerings;
mod extensions;
pub mod handlers;
mod identity;
mod infrastructure;
mod instances;
mod jobs;
mod limits;
mod management_servers;
mod meta;
mod projects;
mod roles;
mod settings;
mod ssh_keys;
mod tags;
mod templates;
pub mod views;
mod volumes;
pub use jobs::render_job_outcome;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use trellis_api::envelope::{render_as, render_error_as, Format};
use trellis_api::{catalog, ApiError, Params, Reply};
use trellis_model::entity::Principal;

use crate::app::{setting, App, SESSION_COOKIE};

/// Build the router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/client/api", get(api).post(api))
        .route("/client/api/", get(api).post(api))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(trellis_console::router())
        .with_state(app)
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    if app.reads().ping().await {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = app.runner.metrics_text();
    text.push_str(&app.jobs_metrics_text());
    text.push_str(&app.sources_metrics_text());
    text.push_str(&app.api_metrics.text());
    text.push_str(&app.state_metrics_text().await);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Most characters of an error text in the `X-Description` header.
const MAX_DESCRIPTION_CHARS: usize = 512;

/// An API answer in `format` (JSON, or XML for `response=xml`).
fn api_response(format: Format, status: u16, body: String, description: Option<&str>) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Some(d) = description {
        // A header line clients read whole (Python's http.client refuses lines over 64 KiB):
        // bounded, control characters blanked; the body carries the full (bounded) text.
        let mut clean: String = d
            .chars()
            .take(MAX_DESCRIPTION_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if d.chars().nth(MAX_DESCRIPTION_CHARS).is_some() {
            clean.push_str(" ...");
        }
        if let Ok(v) = HeaderValue::from_str(&clean) {
            resp.headers_mut().insert("X-Description", v);
        }
    }
    resp
}

fn error_response(format: Format, response_name: &str, e: &ApiError) -> Response {
    api_response(
        format,
        e.code,
        render_error_as(format, response_name, e),
        Some(&e.text),
    )
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            kv.trim()
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn decode_pairs(s: &str) -> Vec<(String, String)> {
    url_decode_pairs(s.as_bytes())
}

/// Parse `a=b&c=d` with `+` as space and percent-decoding (UTF-8, lossy).
fn url_decode_pairs(b: &[u8]) -> Vec<(String, String)> {
    fn dec(s: &[u8]) -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => {
                    let h = std::str::from_utf8(&s[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match h {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    b.split(|c| *c == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|c| *c == b'=') {
            Some(i) => (dec(&p[..i]), dec(&p[i + 1..])),
            None => (dec(p), String::new()),
        })
        .collect()
}

async fn api(
    State(app): State<Arc<App>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut pairs = query.as_deref().map(decode_pairs).unwrap_or_default();
    if method == Method::POST {
        pairs.extend(url_decode_pairs(&body));
    }
    let format = Format::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let params = match Params::from_pairs(pairs) {
        Ok(p) => p,
        Err(e) => return error_response(format, "errorresponse", &e),
    };
    let command_name = params.command().unwrap_or("").to_string();
    let cmd = catalog::find(&command_name);
    let response_name = cmd
        .map(|c| c.response_name())
        .unwrap_or_else(|| "errorresponse".into());
    let cookie_list = cookies(&headers);
    let started = std::time::Instant::now();

    // login and logout come before authentication.
    if let Some(c) = cmd {
        if c.name == "login" {
            if method != Method::POST {
                return (
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Please use HTTP POST to authenticate using this API",
                )
                    .into_response();
            }
            return login(&app, &params, &response_name, format).await;
        }
        if c.name == "logout" {
            if let Some(key) = params.str("sessionkey").map(str::to_string).or_else(|| {
                cookie_list
                    .iter()
                    .find(|(k, _)| k == SESSION_COOKIE)
                    .map(|(_, v)| v.clone())
            }) {
                let _ = app.logout(&key).await;
            }
            let mut resp = api_response(
                format,
                200,
                render_as(
                    format,
                    &response_name,
                    Reply::Bare(serde_json::json!({"description": "success"})),
                ),
                None,
            );
            for c in [
                "JSESSIONID=; Path=/client; Max-Age=0",
                "sessionkey=; Path=/; Max-Age=0",
            ] {
                if let Ok(v) = HeaderValue::from_str(c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            return resp;
        }
    }

    // Every answer from here on is counted in /metrics, by command and error code.
    let metric = cmd.map(|c| c.name).unwrap_or("unknown");
    let failed = |response_name: &str, e: &ApiError| {
        app.api_metrics.record(metric, e.code, started.elapsed());
        error_response(format, response_name, e)
    };
    let (caller, by_session) = match authenticate(&app, &params, &cookie_list).await {
        Ok(p) => p,
        Err(e) => return failed(&response_name, &e),
    };
    let Some(cmd) = cmd else {
        let command_name: String = command_name.chars().take(100).collect();
        // Unknown commands: 401 for signed requests (as CloudStack's verifier), 432 in a session;
        // either way the text names the command and the server says so in its log.
        tracing::warn!(command = %command_name, account = %caller.account.name, "unknown API command");
        return if by_session {
            failed("errorresponse", &ApiError::unsupported(&command_name))
        } else {
            failed("errorresponse", &ApiError::unknown_command(&command_name))
        };
    };
    let allowed = match app.api_allowed(&caller, cmd).await {
        Ok(a) => a,
        Err(e) => return failed(&response_name, &ApiError::from(e)),
    };
    if !allowed {
        tracing::warn!(command = cmd.name, account = %caller.account.name, role = %caller.role.name, "API command not allowed for the caller's role");
        return if by_session {
            failed("errorresponse", &ApiError::unsupported(cmd.name))
        } else {
            failed(&response_name, &ApiError::unknown_command(cmd.name))
        };
    }
    if let Err(e) = params.validate(cmd) {
        return failed(&response_name, &e);
    }
    let ignored = params.unknown(cmd);
    if !ignored.is_empty() {
        // Never dropped silently: the operator sees what a client sent that nothing reads.
        tracing::warn!(command = cmd.name, account = %caller.account.name, parameters = %ignored.join(","), "request parameters the command does not take were ignored");
    }
    let result = handlers::dispatch(&app, &caller, cmd, &params, &method).await;
    app.api_metrics.record(
        cmd.name,
        result.as_ref().err().map_or(0, |e| e.code),
        started.elapsed(),
    );
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(reply) => {
            tracing::debug!(command = cmd.name, elapsed_ms, "api request served");
            api_response(format, 200, render_as(format, &response_name, reply), None)
        }
        Err(e) => {
            tracing::info!(command = cmd.name, code = e.code, error = %e.text, elapsed_ms, "api request failed");
            error_response(format, &response_name, &e)
        }
    }
}

/// Session first (session key present), then signature; else 401.
async fn authenticate(
    app: &App,
    params: &Params,
    cookies: &[(String, String)],
) -> Result<(Principal, bool), ApiError> {
    let param_key = params.str("sessionkey");
    let cookie_key = cookies
        .iter()
        .find(|(k, _)| k == SESSION_COOKIE)
        .map(|(_, v)| v.as_str());
    let jsession = cookies
        .iter()
        .find(|(k, _)| k == "JSESSIONID")
        .map(|(_, v)| v.as_str());
    if param_key.is_some()
        || (cookie_key.is_some() && trellis_api::signature::api_key(params.pairs()).is_none())
    {
        let locations = app.setting_str(setting::SESSION_CHECK_LOCATIONS);
        let key = match locations.as_str() {
            "ParameterOnly" => param_key,
            "CookieOrParameter" => param_key.or(cookie_key),
            _ => match (param_key, cookie_key) {
                (Some(p), Some(c)) if p == c => Some(p),
                _ => None,
            },
        };
        let Some(key) = key else {
            return Err(ApiError::unauthorized());
        };
        return match app.session_principal(key, jsession).await {
            Ok(Some(p)) => Ok((p, true)),
            Ok(None) => Err(ApiError::unauthorized()),
            Err(e) => Err(e.into()),
        };
    }
    match app.apikey_principal(params.pairs()).await {
        Ok(Some(p)) => Ok((p, false)),
        Ok(None) => Err(ApiError::unauthorized()),
        Err(e) => Err(e.into()),
    }
}

async fn login(app: &App, params: &Params, response_name: &str, format: Format) -> Response {
    let (Some(username), Some(password)) = (params.str("username"), params.str("password")) else {
        return error_response(
            format,
            response_name,
            &ApiError::missing_param(
                "login",
                if params.str("username").is_none() {
                    "username"
                } else {
                    "password"
                },
            ),
        );
    };
    let domain_uuid = params
        .str("domainid")
        .filter(|d| trellis_model::ids::is_api_uuid(d));
    match app
        .login(username, password, params.str("domain"), domain_uuid)
        .await
    {
        Ok(out) => {
            let p = &out.principal;
            let mut body = serde_json::json!({
                "timeout": out.timeout_seconds.to_string(),
                "username": p.user.username,
                "userid": p.user.uuid,
                "domainid": p.domain.uuid,
                "type": p.role_type().account_type().to_string(),
                "account": p.account.name,
                "firstname": p.user.firstname,
                "lastname": p.user.lastname,
                "registered": "false",
                "sessionkey": out.session.session_key,
                "timezone": "UTC",
                "timezoneoffset": "0.0",
                "is2faenabled": "false",
                "is2faverified": "true",
            });
            if p.is_root_admin() {
                body["managementserverid"] = serde_json::Value::String(app.server_id.clone());
            }
            let mut resp = api_response(
                format,
                200,
                render_as(format, response_name, Reply::Bare(body)),
                None,
            );
            let secure = if app.setting_bool(setting::SECURE_COOKIE) {
                "; Secure"
            } else {
                ""
            };
            for c in [
                format!(
                    "JSESSIONID={}.node0; Path=/client; HttpOnly{secure}",
                    out.session.jsession_id
                ),
                format!(
                    "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax{secure}",
                    out.session.session_key
                ),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(e) => {
            let text = e.external_message().to_string();
            error_response(format, response_name, &ApiError::new(531, 4365, text))
        }
    }
}

/// HTTPS: the same router behind rustls (ring provider), with the certificate chain and key read
/// from PEM files.
pub mod tls {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io;
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio_rustls::server::TlsStream;
    use tokio_rustls::TlsAcceptor;

    /// How long a client may take to finish its TLS handshake.
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// Why the TLS certificate or key cannot be used.
    #[derive(Debug, thiserror::Error)]
    pub enum LoadTlsError {
        #[error("set both tls_cert and tls_key (--tls-cert, --tls-key) to serve https")]
        Incomplete,
        #[error("cannot read the TLS certificate {path}")]
        Certificate {
            path: PathBuf,
            #[source]
            source: rustls::pki_types::pem::Error,
        },
        #[error("no certificate in {path}")]
        NoCertificate { path: PathBuf },
        #[error("cannot read the TLS private key {path}")]
        Key {
            path: PathBuf,
            #[source]
            source: rustls::pki_types::pem::Error,
        },
        #[error("cannot use the TLS certificate {cert} with the key {key}")]
        Config {
            cert: PathBuf,
            key: PathBuf,
            #[source]
            source: rustls::Error,
        },
    }

    /// An acceptor presenting the PEM certificate chain `cert` with the PEM private key `key`,
    /// offering `http/1.1`.
    pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, LoadTlsError> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| LoadTlsError::Certificate {
                path: cert.to_path_buf(),
                source,
            })?;
        if chain.is_empty() {
            return Err(LoadTlsError::NoCertificate {
                path: cert.to_path_buf(),
            });
        }
        let private_key =
            PrivateKeyDer::from_pem_file(key).map_err(|source| LoadTlsError::Key {
                path: key.to_path_buf(),
                source,
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| {
                builder
                    .with_no_client_auth()
                    .with_single_cert(chain, private_key)
            })
            .map_err(|source| LoadTlsError::Config {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                source,
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// A listener that hands axum connections whose TLS handshake has finished. Handshakes run
    /// concurrently (each bounded by [`HANDSHAKE_TIMEOUT`]), so a slow client holds up no other.
    /// Dropping it closes the socket.
    pub struct TlsListener {
        local_addr: SocketAddr,
        ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
        accept_task: tokio::task::JoinHandle<()>,
    }

    impl TlsListener {
        pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<TlsListener> {
            let local_addr = listener.local_addr()?;
            let (sender, ready) = mpsc::channel(64);
            let accept_task = tokio::spawn(accept_loop(listener, acceptor, sender));
            Ok(TlsListener {
                local_addr,
                ready,
                accept_task,
            })
        }
    }

    impl Drop for TlsListener {
        fn drop(&mut self) {
            self.accept_task.abort();
        }
    }

    async fn accept_loop(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    ) {
        loop {
            let accepted = tokio::select! {
                _ = sender.closed() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let acceptor = acceptor.clone();
                    let sender = sender.clone();
                    tokio::spawn(async move {
                        let handshake =
                            tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                        match handshake {
                            Ok(Ok(tls_stream)) => {
                                let _ = sender.send((tls_stream, peer)).await;
                            }
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "tls handshake failed");
                            }
                            Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                        }
                    });
                }
                // Out of descriptors and the like: back off briefly instead of spinning.
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    impl axum::serve::Listener for TlsListener {
        type Io = TlsStream<TcpStream>;
        type Addr = SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            match self.ready.recv().await {
                Some(connection) => connection,
                // The accept loop only ends when this listener is dropped.
                None => std::future::pending().await,
            }
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            Ok(self.local_addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let p = url_decode_pairs(b"a=b+c&d=%2B%20x&e&f=%zz&g=%E2%9C%93");
        assert_eq!(p[0], ("a".into(), "b c".into()));
        assert_eq!(p[1], ("d".into(), "+ x".into()));
        assert_eq!(p[2], ("e".into(), "".into()));
        assert_eq!(p[3], ("f".into(), "%zz".into()));
        assert_eq!(p[4], ("g".into(), "✓".into()));
    }
}
