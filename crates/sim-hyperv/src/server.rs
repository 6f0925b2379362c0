//! HTTPS listener for `/wsman` with NTLM authentication bound to the connection.
//!
//! NTLM authenticates a TCP connection rather than a request, so each accepted connection gets
//! its own authentication state (a pending challenge, then the authenticated user), which is
//! why this listener drives hyper per connection instead of using a shared router.

use crate::ntlm::{self, Account, PendingChallenge};
use crate::{wsman, Shared};
use anyhow::Context as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The listener's certificate material: a throw-away CA and a server certificate it signed.
pub(crate) use trellis_simkit::tls::CaSigned as Certificates;

/// A throw-away CA and a server certificate it signed, for `names` (DNS names or IPs).
pub(crate) fn certificates(names: &[String]) -> anyhow::Result<Certificates> {
    trellis_simkit::tls::ca_signed(names, "Trellis Hyper-V simulator CA", "hyperv-sim")
        .context("generating the tls certificates")
}

/// The subject alternative names for a listener on `addr`.
pub(crate) fn certificate_names(addr: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let ip: IpAddr = addr.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    for name in extra {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.clone());
        }
    }
    names
}

/// Per-connection authentication state.
#[derive(Default)]
struct ConnectionAuth {
    pending: Option<PendingChallenge>,
    user: Option<String>,
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, acceptor.clone(), Arc::clone(&shared)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let Ok(tls) = acceptor.accept(stream).await else {
        return;
    };
    let auth = Arc::new(Mutex::new(ConnectionAuth::default()));
    let service =
        service_fn(move |request| handle(request, Arc::clone(&shared), Arc::clone(&auth)));
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

fn response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// 401 listing the schemes the service offers (as WinRM does by default).
fn unauthorized() -> Response<Full<Bytes>> {
    let mut response = response(StatusCode::UNAUTHORIZED, String::new());
    response
        .headers_mut()
        .append(WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
    response
        .headers_mut()
        .append(WWW_AUTHENTICATE, HeaderValue::from_static("Kerberos"));
    response
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    auth: Arc<Mutex<ConnectionAuth>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !request.uri().path().eq_ignore_ascii_case("/wsman") {
        return Ok(response(StatusCode::NOT_FOUND, String::new()));
    }
    if request.method() != Method::POST {
        return Ok(response(StatusCode::METHOD_NOT_ALLOWED, String::new()));
    }
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match Limited::new(request.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => return Ok(response(StatusCode::PAYLOAD_TOO_LARGE, String::new())),
    };
    let user = match authorization {
        Some(header) => match authenticate(&shared, &auth, &header) {
            Authentication::Challenge(reply) => return Ok(reply),
            Authentication::Rejected => return Ok(unauthorized()),
            Authentication::Accepted(user) => user,
        },
        None => match auth.lock().expect("auth state lock").user.clone() {
            Some(user) => user,
            None => return Ok(unauthorized()),
        },
    };
    let reply = wsman::handle(&shared, &user, &body).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = response(status, reply.body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/soap+xml;charset=UTF-8"),
    );
    Ok(response)
}

enum Authentication {
    Challenge(Response<Full<Bytes>>),
    Rejected,
    Accepted(String),
}

fn authenticate(shared: &Shared, auth: &Mutex<ConnectionAuth>, header: &str) -> Authentication {
    let Some((scheme, token)) = header.trim().split_once(' ') else {
        return Authentication::Rejected;
    };
    if !scheme.eq_ignore_ascii_case("negotiate") && !scheme.eq_ignore_ascii_case("ntlm") {
        shared.auth_failed(format!("unsupported authentication scheme {scheme}"));
        return Authentication::Rejected;
    }
    let Ok(token) = BASE64.decode(token.trim()) else {
        shared.auth_failed("authorization token is not base64".to_string());
        return Authentication::Rejected;
    };
    let mut state = auth.lock().expect("auth state lock");
    match ntlm::message_type(&token) {
        Some(1) => {
            let pending = ntlm::challenge(&token, &shared.config.computer_name);
            let header = format!("{scheme} {}", BASE64.encode(pending.message()));
            state.pending = Some(pending);
            state.user = None;
            let mut reply = response(StatusCode::UNAUTHORIZED, String::new());
            if let Ok(value) = HeaderValue::from_str(&header) {
                reply.headers_mut().insert(WWW_AUTHENTICATE, value);
            }
            Authentication::Challenge(reply)
        }
        Some(3) => {
            let Some(pending) = state.pending.take() else {
                shared
                    .auth_failed("authenticate message without a preceding challenge".to_string());
                return Authentication::Rejected;
            };
            let account = Account {
                user: shared.config.user.clone(),
                password: shared.config.password.clone(),
            };
            let bindings = Some(ntlm::channel_bindings_hash(&shared.certificate_der));
            match ntlm::verify(
                &pending,
                &token,
                &account,
                bindings,
                shared.config.require_channel_binding,
            ) {
                Ok(user) => {
                    state.user = Some(user.clone());
                    shared.auth_succeeded();
                    Authentication::Accepted(user)
                }
                Err(failure) => {
                    state.user = None;
                    shared.auth_failed(failure.to_string());
                    Authentication::Rejected
                }
            }
        }
        _ => {
            shared.auth_failed(
                "not an ntlm token (spnego-wrapped tokens are not supported)".to_string(),
            );
            Authentication::Rejected
        }
    }
}
