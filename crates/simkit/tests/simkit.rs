//! Serving over HTTP and HTTPS, shutdown, and the fault knobs, exercised over real sockets.

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::time::Duration;
use trellis_simkit::{serve, wait_for, with_faults, Faults};

fn hello_router() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

fn client_trusting(pem: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(pem) = pem {
        let certificate = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
        builder = builder.add_root_certificate(certificate);
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn serves_plain_http_on_an_ephemeral_port() {
    let handle = serve(hello_router(), "127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    assert_ne!(handle.addr().port(), 0);
    assert!(handle.base_url().starts_with("http://127.0.0.1:"));
    let body = client_trusting(None)
        .get(format!("{}/hello", handle.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello");
    handle.shutdown().await;
}

#[tokio::test]
async fn serves_https_with_a_certificate_valid_for_loopback() {
    let handle = serve(hello_router(), "127.0.0.1:0".parse().unwrap(), true)
        .await
        .unwrap();
    assert!(handle.base_url().starts_with("https://127.0.0.1:"));
    let url = format!("{}/hello", handle.base_url());

    // Trusting the generated certificate verifies both the chain and the 127.0.0.1 SAN.
    let trusted = client_trusting(handle.certificate_pem());
    assert_eq!(
        trusted
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hello"
    );
    let by_name = format!("https://localhost:{}/hello", handle.addr().port());
    assert_eq!(
        trusted
            .get(&by_name)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hello"
    );

    // Not trusting it fails the handshake.
    assert!(client_trusting(None).get(&url).send().await.is_err());
    handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let handle = serve(hello_router(), "127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    let url = format!("{}/hello", handle.base_url());
    handle.shutdown().await;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    assert!(fresh.get(&url).send().await.is_err());
}

#[tokio::test]
async fn injected_responses_delay_and_unresponsiveness() {
    let faults = Faults::new();
    let router = with_faults(hello_router(), &faults);
    let handle = serve(router, "127.0.0.1:0".parse().unwrap(), false)
        .await
        .unwrap();
    let url = format!("{}/hello", handle.base_url());
    let client = client_trusting(None);

    faults.fail_next_requests(
        1,
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({"message": "down"}),
    );
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.text().await.unwrap(), r#"{"message":"down"}"#);
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );

    faults.set_delay(Duration::from_millis(150));
    let started = std::time::Instant::now();
    client.get(&url).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    faults.set_delay(Duration::ZERO);

    faults.set_unresponsive(true);
    let quick = client
        .get(&url)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(quick.unwrap_err().is_timeout());
    let pending = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(&url).send().await.map(|r| r.status()) }
    });
    faults.set_unresponsive(false);
    assert_eq!(pending.await.unwrap().unwrap(), StatusCode::OK);

    faults.fail_next(2, "boom");
    assert_eq!(faults.pending_failures(), 2);
    assert_eq!(faults.take_failure().as_deref(), Some("boom"));
    faults.reset();
    assert_eq!(faults.take_failure(), None);
    handle.shutdown().await;
}

#[tokio::test]
async fn wait_for_polls_until_the_condition_holds() {
    let mut calls = 0;
    let found = wait_for(Duration::from_secs(5), || {
        calls += 1;
        (calls == 3).then_some(calls)
    })
    .await;
    assert_eq!(found, Some(3));
    assert_eq!(
        wait_for(Duration::from_millis(20), || None::<()>).await,
        None
    );
}

#[tokio::test]
async fn ca_signed_certificates_verify_against_their_ca() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let material = trellis_simkit::tls::ca_signed(&names, "Test CA", "test-server").unwrap();
    assert!(material.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(!material.leaf_der.is_empty());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = material.acceptor.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(stream).await.unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = tls.read(&mut buffer).await.unwrap();
            assert!(read > 0);
            request.extend_from_slice(&buffer[..read]);
        }
        tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await
            .unwrap();
        tls.shutdown().await.unwrap();
    });
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(material.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let answer = client
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "ok");
    server.await.unwrap();
}
