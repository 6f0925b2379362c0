//! HTTP(S) transport: one kept-alive connection, authenticated once with NTLM.
//!
//! NTLM authenticates the connection, not the request, so the three legs (NEGOTIATE,
//! CHALLENGE, AUTHENTICATE) and every later request must travel over the same TCP/TLS
//! connection. The transport therefore drives a single hyper HTTP/1.1 connection itself and
//! reconnects (and re-authenticates) only when that connection is gone.

use crate::ntlm::{NtlmClient, NtlmCredentials};
use crate::WinrmError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::Url;

/// Responses larger than this are refused (a Receive answer is bounded by MaxEnvelopeSize).
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// How the server certificate is checked.
#[derive(Debug, Clone)]
pub enum TlsVerification {
    /// Verify against the system trust store plus the given extra PEM certificates.
    Verify { extra_roots_pem: Option<String> },
    /// Accept any certificate (the handshake signature is still checked).
    Disabled,
}

/// A reply with the parts the client looks at.
pub(crate) struct HttpReply {
    pub status: StatusCode,
    pub body: String,
}

struct Connection {
    sender: SendRequest<Full<Bytes>>,
    server_certificate: Option<Vec<u8>>,
    authenticated: bool,
}

pub(crate) struct Transport {
    url: Url,
    address: String,
    host_header: HeaderValue,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    credentials: NtlmCredentials,
    connect_timeout: Duration,
    channel_bindings: bool,
    connection: Option<Connection>,
}

impl Transport {
    pub fn new(
        url: Url,
        credentials: NtlmCredentials,
        verification: &TlsVerification,
        connect_timeout: Duration,
        channel_bindings: bool,
    ) -> Result<Transport, WinrmError> {
        let invalid = |reason: &str| WinrmError::InvalidEndpoint {
            endpoint: url.to_string(),
            reason: reason.to_string(),
        };
        let host = url
            .host_str()
            .ok_or_else(|| invalid("no host"))?
            .to_string();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| invalid("no port"))?;
        let address = format!("{host}:{port}");
        let host_header = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let host_header = HeaderValue::from_str(&host_header)
            .map_err(|_| invalid("host is not a valid header value"))?;
        let tls = match url.scheme() {
            "https" => {
                let bare_host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                let server_name = ServerName::try_from(bare_host)
                    .map_err(|_| invalid("host is not a valid tls server name"))?;
                Some((
                    TlsConnector::from(Arc::new(client_tls_config(verification)?)),
                    server_name,
                ))
            }
            "http" => None,
            _ => return Err(invalid("the scheme must be https or http")),
        };
        Ok(Transport {
            url,
            address,
            host_header,
            tls,
            credentials,
            connect_timeout,
            channel_bindings,
            connection: None,
        })
    }

    /// Drops the connection; the next request connects and authenticates again.
    pub fn disconnect(&mut self) {
        self.connection = None;
    }

    /// POSTs a SOAP envelope, authenticating the connection first when needed.
    pub async fn post(&mut self, body: String, timeout: Duration) -> Result<HttpReply, WinrmError> {
        let fresh = self.ensure_connection(timeout).await?;
        if !fresh {
            let reply = self.send(None, body.clone(), timeout).await?;
            if reply.0.status != StatusCode::UNAUTHORIZED {
                return Ok(reply.0);
            }
            // The server no longer trusts this connection: start over on a new one.
            tracing::debug!("authenticated connection was refused, re-authenticating");
            self.connection = None;
            self.ensure_connection(timeout).await?;
        }
        self.authenticate_and_send(body, timeout).await
    }

    /// Connects if there is no usable connection; returns whether a new one was made.
    async fn ensure_connection(&mut self, timeout: Duration) -> Result<bool, WinrmError> {
        if let Some(connection) = &mut self.connection {
            if !connection.sender.is_closed()
                && connection.sender.ready().await.is_ok()
                && connection.authenticated
            {
                return Ok(false);
            }
        }
        self.connection = None;
        let connect = self.connect();
        let connection = tokio::time::timeout(timeout.min(self.connect_timeout), connect)
            .await
            .map_err(|_| WinrmError::TimedOut {
                operation: "connecting",
            })??;
        self.connection = Some(connection);
        Ok(true)
    }

    async fn connect(&self) -> Result<Connection, WinrmError> {
        let tcp =
            TcpStream::connect(&self.address)
                .await
                .map_err(|source| WinrmError::Connect {
                    address: self.address.clone(),
                    source,
                })?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some((connector, server_name)) => {
                let stream =
                    connector
                        .connect(server_name.clone(), tcp)
                        .await
                        .map_err(|source| WinrmError::Tls {
                            address: self.address.clone(),
                            source,
                        })?;
                let server_certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|certificate| certificate.as_ref().to_vec());
                let sender = self.handshake(TokioIo::new(stream)).await?;
                Ok(Connection {
                    sender,
                    server_certificate,
                    authenticated: false,
                })
            }
            None => {
                let sender = self.handshake(TokioIo::new(tcp)).await?;
                Ok(Connection {
                    sender,
                    server_certificate: None,
                    authenticated: false,
                })
            }
        }
    }

    async fn handshake<T>(&self, io: TokioIo<T>) -> Result<SendRequest<Full<Bytes>>, WinrmError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) =
            hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|source| WinrmError::Http {
                    address: self.address.clone(),
                    source,
                })?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "winrm connection ended");
            }
        });
        Ok(sender)
    }

    async fn authenticate_and_send(
        &mut self,
        body: String,
        timeout: Duration,
    ) -> Result<HttpReply, WinrmError> {
        let ntlm = NtlmClient::new(self.credentials.clone());
        let negotiate = format!("Negotiate {}", BASE64.encode(ntlm.negotiate_message()));
        let (reply, offers) = self.send(Some(negotiate), body.clone(), timeout).await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            // The server did not ask for authentication after all.
            self.mark_authenticated();
            return Ok(reply);
        }
        let Some((scheme, challenge)) = offers.iter().find_map(|offer| challenge_token(offer))
        else {
            self.connection = None;
            let offered: Vec<&str> = offers
                .iter()
                .map(|o| o.split_whitespace().next().unwrap_or(""))
                .collect();
            return Err(WinrmError::Unauthorized {
                reason: format!(
                    "the server offered no ntlm challenge (offered: {})",
                    offered.join(", ")
                ),
            });
        };
        let spn = format!("HTTP/{}", self.url.host_str().unwrap_or_default());
        let certificate = if self.channel_bindings {
            self.connection
                .as_ref()
                .and_then(|c| c.server_certificate.clone())
        } else {
            None
        };
        let authenticate = ntlm
            .authenticate_message(&challenge, Some(&spn), certificate.as_deref())
            .map_err(|source| WinrmError::Ntlm { source })?;
        let header = format!("{scheme} {}", BASE64.encode(authenticate));
        let (reply, _) = self.send(Some(header), body, timeout).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            self.connection = None;
            return Err(WinrmError::Unauthorized {
                reason: "the server rejected the user name or password".to_string(),
            });
        }
        self.mark_authenticated();
        Ok(reply)
    }

    fn mark_authenticated(&mut self) {
        if let Some(connection) = &mut self.connection {
            connection.authenticated = true;
        }
    }

    /// Sends one request on the current connection; returns the reply and its
    /// `WWW-Authenticate` values.
    async fn send(
        &mut self,
        authorization: Option<String>,
        body: String,
        timeout: Duration,
    ) -> Result<(HttpReply, Vec<String>), WinrmError> {
        let address = self.address.clone();
        let connection = self.connection.as_mut().ok_or(WinrmError::TimedOut {
            operation: "connecting",
        })?;
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.url.path())
            .header(HOST, self.host_header.clone())
            .header(CONTENT_TYPE, "application/soap+xml;charset=UTF-8");
        if let Some(authorization) = authorization {
            builder = builder.header(AUTHORIZATION, authorization);
        }
        let request = builder.body(Full::new(Bytes::from(body))).map_err(|_| {
            WinrmError::InvalidEndpoint {
                endpoint: self.url.to_string(),
                reason: "cannot build a request".into(),
            }
        })?;
        let exchange = async {
            connection.sender.ready().await?;
            let response = connection.sender.send_request(request).await?;
            let status = response.status();
            let offers: Vec<String> = response
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(',').map(|s| s.trim().to_string()))
                .collect();
            let collected = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await;
            Ok::<_, ExchangeError>((status, offers, collected))
        };
        let outcome = tokio::time::timeout(timeout, exchange).await;
        let (status, offers, collected) = match outcome {
            Err(_) => {
                self.connection = None;
                return Err(WinrmError::TimedOut {
                    operation: "waiting for the winrm service",
                });
            }
            Ok(Err(ExchangeError(source))) => {
                self.connection = None;
                return Err(WinrmError::Http { address, source });
            }
            Ok(Ok(parts)) => parts,
        };
        let bytes = match collected {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                self.connection = None;
                return Err(WinrmError::ResponseTooLarge {
                    limit: MAX_RESPONSE_BYTES,
                });
            }
        };
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Ok((HttpReply { status, body }, offers))
    }
}

struct ExchangeError(hyper::Error);

impl From<hyper::Error> for ExchangeError {
    fn from(error: hyper::Error) -> ExchangeError {
        ExchangeError(error)
    }
}

/// `Negotiate <token>` or `NTLM <token>` → (scheme, decoded token).
fn challenge_token(offer: &str) -> Option<(String, Vec<u8>)> {
    let (scheme, token) = offer.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("negotiate") && !scheme.eq_ignore_ascii_case("ntlm") {
        return None;
    }
    let token = BASE64.decode(token.trim()).ok()?;
    token
        .starts_with(b"NTLMSSP\0")
        .then(|| (scheme.to_string(), token))
}

fn client_tls_config(verification: &TlsVerification) -> Result<rustls::ClientConfig, WinrmError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| WinrmError::InvalidCaCertificate {
            reason: e.to_string(),
        })?;
    let mut config = match verification {
        TlsVerification::Verify { extra_roots_pem } => {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if let Some(pem) = extra_roots_pem {
                let mut added = 0;
                for certificate in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let certificate =
                        certificate.map_err(|e| WinrmError::InvalidCaCertificate {
                            reason: e.to_string(),
                        })?;
                    roots
                        .add(certificate)
                        .map_err(|e| WinrmError::InvalidCaCertificate {
                            reason: e.to_string(),
                        })?;
                    added += 1;
                }
                if added == 0 {
                    return Err(WinrmError::InvalidCaCertificate {
                        reason: "no pem certificate found".to_string(),
                    });
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsVerification::Disabled => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any server certificate; used only when verification is switched off.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_challenge_tokens() {
        let token = BASE64.encode(b"NTLMSSP\0\x02\0\0\0");
        assert_eq!(
            challenge_token(&format!("Negotiate {token}")).unwrap().0,
            "Negotiate"
        );
        assert_eq!(challenge_token(&format!("NTLM {token}")).unwrap().0, "NTLM");
        assert!(challenge_token("Negotiate").is_none());
        assert!(challenge_token("Kerberos abc").is_none());
        assert!(
            challenge_token(&format!("Negotiate {}", BASE64.encode(b"\x60\x82spnego"))).is_none()
        );
    }
}
