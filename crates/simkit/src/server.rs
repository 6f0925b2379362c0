//! Serving a router over HTTP or HTTPS (self-signed, generated at start-up).

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// The subject alternative names of the generated certificate.
const CERTIFICATE_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A running simulator server. Dropping it stops the server as well; [`ServerHandle::shutdown`]
/// also waits until the listener is closed.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    tls: bool,
    certificate_pem: Option<String>,
    shutdown_sender: watch::Sender<bool>,
    accept_task: JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` or `https://127.0.0.1:<port>` (the loopback address even when
    /// listening on all interfaces).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = match self.addr {
            SocketAddr::V4(v4) if !v4.ip().is_unspecified() => v4.ip().to_string(),
            SocketAddr::V6(v6) if !v6.ip().is_unspecified() => format!("[{}]", v6.ip()),
            _ => "127.0.0.1".to_string(),
        };
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    /// Whether the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The PEM of the self-signed certificate, for clients that want to trust it explicitly.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Stops accepting, drops open connections and waits for the server task to end.
    pub async fn shutdown(self) {
        self.shutdown_sender.send_replace(true);
        // The task ends by itself once signalled; a join error would only mean it panicked.
        let _ = self.accept_task.await;
    }
}

/// Serves `router` on `listen` (port 0 picks a free port), over HTTPS with a throw-away
/// self-signed certificate when `tls` is set.
pub async fn serve(router: Router, listen: SocketAddr, tls: bool) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(listen).await?;
    serve_listener(router, listener, tls)
}

/// Serves `router` on a listener bound already (by a caller that binds synchronously, say);
/// like [`serve`] otherwise. Must be called within a Tokio runtime, which runs the server.
pub fn serve_listener(
    router: Router,
    listener: TcpListener,
    tls: bool,
) -> io::Result<ServerHandle> {
    let (acceptor, certificate_pem) = if tls {
        let (acceptor, pem) = self_signed_acceptor()?;
        (Some(acceptor), Some(pem))
    } else {
        (None, None)
    };
    let addr = listener.local_addr()?;
    let (shutdown_sender, shutdown_receiver) = watch::channel(false);
    let accept_task = tokio::spawn(accept_loop(listener, acceptor, router, shutdown_receiver));
    Ok(ServerHandle {
        addr,
        tls,
        certificate_pem,
        shutdown_sender,
        accept_task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: Router,
    mut shutdown_receiver: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // A send or a dropped handle both mean: stop.
            _ = shutdown_receiver.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, acceptor.clone(), router.clone()));
                }
                // Out of descriptors and the like: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, acceptor: Option<TlsAcceptor>, router: Router) {
    // Latency matters more than throughput for simulators.
    let _ = stream.set_nodelay(true);
    let service = TowerToHyperService::new(router);
    let builder = http1::Builder::new();
    // Connection-level errors (client went away, bad TLS handshake) end this connection only.
    match acceptor {
        Some(acceptor) => {
            if let Ok(tls_stream) = acceptor.accept(stream).await {
                let _ = builder
                    .serve_connection(TokioIo::new(tls_stream), service)
                    .await;
            }
        }
        None => {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    }
}

fn self_signed_acceptor() -> io::Result<(TlsAcceptor, String)> {
    let names: Vec<String> = CERTIFICATE_NAMES
        .iter()
        .map(|name| name.to_string())
        .collect();
    crate::tls::self_signed(&names)
}
