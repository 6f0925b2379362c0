//! The Trellis management server.
//!
//! Three execution contexts (see ARCHITECTURE.md): *requests* (the [`http`] module: verify,
//! parse, call [`app::App`], render — never retry), *jobs* ([`jobs`]: durable, step-wise,
//! resumable) and *reconcilers* ([`reconcile`]: periodic, input-free, idempotent).

pub mod app;
pub mod config;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod reconcile;

use std::sync::Arc;

pub use app::App;
pub use config::ServerConfig;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare data directory {path}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database")]
    Store(#[from] trellis_store::StoreError),
    #[error("cannot bind {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up https")]
    Tls(#[source] http::tls::LoadTlsError),
    #[error("cannot initialise the extension runner")]
    Runner(#[source] trellis_ext_runner::RunnerInitError),
    #[error("cannot use the secret key")]
    SecretKey(#[source] app::job::seal::KeyError),
    #[error("bootstrap failed: {0}")]
    Bootstrap(trellis_model::Error),
}

/// A running server.
pub struct Running {
    pub app: Arc<App>,
    pub addr: std::net::SocketAddr,
    /// The admin password generated on first start, if any (print it once).
    pub generated_admin_password: Option<String>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop accepting requests, let running jobs finish (bounded), stop background work.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.app.server_leave().await;
    }

    /// Wait until a shutdown is requested by a signal, then shut down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Open the store, bind, bootstrap and start serving, jobs and reconcilers.
pub async fn start(cfg: ServerConfig) -> Result<Running, StartError> {
    let tls_acceptor = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => Some(http::tls::acceptor(cert, key).map_err(StartError::Tls)?),
        (None, None) => None,
        _ => return Err(StartError::Tls(http::tls::LoadTlsError::Incomplete)),
    };
    std::fs::create_dir_all(&cfg.data_dir).map_err(|source| StartError::DataDir {
        path: cfg.data_dir.clone(),
        source,
    })?;
    let store = trellis_store::Store::open(&cfg.database_url()).await?;
    let app = Arc::new(App::new(cfg.clone(), store)?);
    // Bind before bootstrap: a first start that cannot bind (port in use) must not create the
    // admin with a generated password nobody will ever see.
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let generated_admin_password = app.bootstrap().await.map_err(StartError::Bootstrap)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let router = http::router(app.clone());
    let mut http_rx = rx.clone();
    let stopped = async move {
        let _ = http_rx.wait_for(|v| *v).await;
    };
    match tls_acceptor {
        Some(acceptor) => {
            let listener = http::tls::TlsListener::new(listener, acceptor).map_err(|source| {
                StartError::Bind {
                    addr: cfg.listen,
                    source,
                }
            })?;
            tasks.push(tokio::spawn(async move {
                let serve = axum::serve(listener, router.into_make_service())
                    .with_graceful_shutdown(stopped);
                if let Err(e) = serve.await {
                    tracing::error!(error = %trellis_model::ErrorChain(&e), "https server failed");
                }
            }));
        }
        None => tasks.push(tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(stopped);
            if let Err(e) = serve.await {
                tracing::error!(error = %trellis_model::ErrorChain(&e), "http server failed");
            }
        })),
    }
    tasks.push(tokio::spawn(jobs::worker(
        app.clone(),
        http::render_job_outcome,
        rx.clone(),
    )));
    tasks.extend(reconcile::spawn_all(app.clone(), rx));
    tracing::info!(%addr, server_id = %app.server_id, https = cfg.tls_cert.is_some(), "trellis is serving");
    Ok(Running {
        app,
        addr,
        generated_admin_password,
        shutdown: tx,
        tasks,
    })
}
