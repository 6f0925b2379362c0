//! OAuth 1.0 verification: PLAINTEXT and HMAC-SHA1, good and bad signatures, MAAS's 401 texts.

use super::{start, OpIn};
use trellis_sim_maas::oauth::oauth_encode;
use trellis_sim_maas::{SignatureMethod, SimConfig};

#[test]
fn plaintext_signatures_are_verified() {
    let (sim, client) = start(SimConfig::default());
    let answer = client.get("machines/");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json().as_array().unwrap().len(), 4);

    // The signature `&secret` is accepted raw as well as percent-encoded.
    let url = format!("{}machines/", client.base);
    let key = &client.key;
    for signature in [
        format!("&{}", key.token_secret),
        format!("%26{}", oauth_encode(&key.token_secret)),
    ] {
        let header = format!(
            "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"{}\", oauth_nonce=\"x\", oauth_timestamp=\"1\"",
            key.consumer_key, key.token_key, signature
        );
        let answer = client.send(client.raw().get(&url).header("Authorization", header));
        assert_eq!(answer.status, 200, "{signature}: {}", answer.body);
    }

    let wrong_secret = client.with_key(&format!(
        "{}:{}:not-the-secret",
        key.consumer_key, key.token_key
    ));
    let answer = wrong_secret.get("machines/");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, "Authorization Error: 'Invalid signature.'");

    let recorded = sim.requests();
    assert_eq!(
        recorded[0].signature_method,
        Some(SignatureMethod::Plaintext)
    );
    assert_eq!(recorded.last().unwrap().status, 401);
    assert_eq!(recorded.last().unwrap().signature_method, None);
}

#[test]
fn hmac_sha1_signatures_are_verified() {
    let (sim, client) = start(SimConfig::default());
    let client = client.with_method(SignatureMethod::HmacSha1);
    let id = sim.machines()[0].system_id.clone();

    // Query parameters are signed.
    let answer = client.get(&format!("machines/?id={id}"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json().as_array().unwrap().len(), 1);

    // Form body parameters (op included) are signed.
    let answer = client.post(
        "machines/",
        "allocate",
        &[("system_id", &id), ("agent_name", "t e/st")],
        OpIn::Form,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["status_name"], "Allocated");
    assert_eq!(
        sim.requests().last().unwrap().signature_method,
        Some(SignatureMethod::HmacSha1)
    );

    // A body changed after signing no longer matches.
    let url = format!("{}machines/{id}/?op=set_owner_data", client.base);
    let signed = vec![("owner".to_string(), "alice".to_string())];
    let header = client.sign("POST", &url, &signed);
    let tampered = [("owner", "mallory")];
    let answer = client.send(
        client
            .raw()
            .post(&url)
            .header("Authorization", &header)
            .form(&tampered),
    );
    assert_eq!(answer.status, 401);
    assert!(
        answer.body.starts_with(
            "Authorization Error: 'Invalid signature. Expected signature base string: POST&"
        ),
        "{}",
        answer.body
    );
    assert!(sim.machine(&id).unwrap().owner_data.is_empty());
    let answer = client.send(
        client
            .raw()
            .post(&url)
            .header("Authorization", &header)
            .form(&signed),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sim.machine(&id).unwrap().owner_data["owner"], "alice");

    // A wrong secret fails HMAC-SHA1 too.
    let key = &client.key;
    let wrong = client.with_key(&format!("{}:{}:wrong", key.consumer_key, key.token_key));
    assert_eq!(wrong.get("machines/").status, 401);
}

#[test]
fn bad_credentials_get_maas_texts() {
    let (_sim, client) = start(SimConfig::default());
    let key = client.key.clone();

    let unknown_consumer =
        client.with_key(&format!("nobody:{}:{}", key.token_key, key.token_secret));
    let answer = unknown_consumer.get("machines/");
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, "Authorization Error: Invalid API key.")
    );

    let unknown_token = client.with_key(&format!(
        "{}:badtoken:{}",
        key.consumer_key, key.token_secret
    ));
    let answer = unknown_token.get("machines/");
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, "Authorization Error: 'Invalid access token: badtoken'")
    );

    let url = format!("{}machines/", client.base);
    let answer = client.send(client.raw().get(&url));
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (401, "Authorization Required")
    );
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some("OAuth realm=\"OAuth\"")
    );

    let header = format!(
        "OAuth oauth_signature_method=\"RSA-SHA1\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"x\"",
        key.consumer_key, key.token_key
    );
    let answer = client.send(client.raw().get(&url).header("Authorization", header));
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .body
            .contains("Signature method RSA-SHA1 not supported"),
        "{}",
        answer.body
    );

    // HMAC-SHA1 requests must be fresh.
    let stale = trellis_sim_maas::oauth::authorization_header(
        &key,
        SignatureMethod::HmacSha1,
        &trellis_sim_maas::oauth::SignRequest {
            http_method: "GET",
            url: &url,
            form: &[],
            nonce: "old",
            timestamp: 1000,
        },
    );
    let answer = client.send(client.raw().get(&url).header("Authorization", stale));
    assert_eq!(answer.status, 401);
    assert!(answer.body.contains("Expired timestamp"), "{}", answer.body);
}
