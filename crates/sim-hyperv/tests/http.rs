//! The simulator's HTTP surface as any client sees it: the endpoint, the authentication
//! challenge, and refusals, checked with a plain HTTP client.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use trellis_sim_hyperv::{HyperVSim, SimConfig};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("http client")
}

fn offers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// A minimal NEGOTIATE_MESSAGE (unicode, NTLM, extended session security).
fn negotiate() -> Vec<u8> {
    let mut message = b"NTLMSSP\0".to_vec();
    message.extend_from_slice(&1u32.to_le_bytes());
    message.extend_from_slice(&0xE208_8207u32.to_le_bytes());
    message.extend_from_slice(&[0; 16]);
    message
}

#[tokio::test]
async fn unauthenticated_requests_are_challenged() -> anyhow::Result<()> {
    let sim = HyperVSim::start(SimConfig::default()).await?;
    let response = client().post(sim.url()).body("<x/>").send().await?;
    assert_eq!(response.status(), 401);
    assert_eq!(offers(&response), vec!["Negotiate", "Kerberos"]);

    let token = BASE64.encode(negotiate());
    let response = client()
        .post(sim.url())
        .header("Authorization", format!("Negotiate {token}"))
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    let challenge = offers(&response);
    let token = challenge[0]
        .strip_prefix("Negotiate ")
        .expect("a negotiate challenge");
    let bytes = BASE64.decode(token)?;
    assert_eq!(&bytes[..8], b"NTLMSSP\0");
    assert_eq!(bytes[8], 2, "a CHALLENGE_MESSAGE");

    // SPNEGO-wrapped and Basic credentials are refused.
    let spnego = BASE64.encode([0x60, 0x28, 0x06, 0x06]);
    let response = client()
        .post(sim.url())
        .header("Authorization", format!("Negotiate {spnego}"))
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    let response = client()
        .post(sim.url())
        .basic_auth(sim.user(), Some(sim.password()))
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    assert!(sim.auth_failures().len() >= 2);
    assert!(sim.requests().is_empty(), "nothing reached ws-management");
    Ok(())
}

#[tokio::test]
async fn only_post_to_wsman_is_served() -> anyhow::Result<()> {
    let sim = HyperVSim::start(SimConfig::default()).await?;
    let base = sim.url().trim_end_matches("/wsman").to_string();
    assert_eq!(
        client()
            .post(format!("{base}/other"))
            .send()
            .await?
            .status(),
        404
    );
    assert_eq!(client().get(sim.url()).send().await?.status(), 405);
    Ok(())
}

#[tokio::test]
async fn the_certificate_chains_to_the_published_ca() -> anyhow::Result<()> {
    let sim = HyperVSim::start(SimConfig::default()).await?;
    let ca = reqwest::Certificate::from_pem(sim.ca_certificate_pem().as_bytes())?;
    let verifying = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()?;
    assert_eq!(verifying.post(sim.url()).send().await?.status(), 401);
    let localhost = sim.url().replace("127.0.0.1", "localhost");
    assert_eq!(verifying.post(localhost).send().await?.status(), 401);
    assert!(
        reqwest::Client::new().post(sim.url()).send().await.is_err(),
        "not trusted without the ca"
    );
    Ok(())
}
