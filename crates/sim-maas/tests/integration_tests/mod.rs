//! Shared test code: a small signing MAAS client for talking to the simulator.

mod machines;
mod oauth;

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trellis_sim_maas::oauth::{authorization_header, SignRequest};
use trellis_sim_maas::{ApiKey, MaasSim, SignatureMethod, SimConfig};

/// Where `op` travels in a POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpIn {
    Query,
    Form,
    Multipart,
    Path,
}

/// A raw answer: status and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub www_authenticate: Option<String>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not json ({e}): {}", self.body))
    }
}

pub struct Client {
    pub base: String,
    pub key: ApiKey,
    pub method: SignatureMethod,
    http: reqwest::blocking::Client,
}

pub fn start(config: SimConfig) -> (MaasSim, Client) {
    let sim = MaasSim::start(config).expect("simulator starts");
    let client = Client {
        base: format!("{}/api/2.0/", sim.url()),
        key: sim.api_key().parse().expect("sim key parses"),
        method: SignatureMethod::Plaintext,
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
    };
    (sim, client)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Client {
    pub fn with_method(&self, method: SignatureMethod) -> Client {
        Client {
            base: self.base.clone(),
            key: self.key.clone(),
            method,
            http: self.http.clone(),
        }
    }

    pub fn with_key(&self, key: &str) -> Client {
        Client {
            base: self.base.clone(),
            key: key.parse().unwrap(),
            method: self.method,
            http: self.http.clone(),
        }
    }

    pub fn sign(&self, http_method: &str, url: &str, form: &[(String, String)]) -> String {
        authorization_header(
            &self.key,
            self.method,
            &SignRequest {
                http_method,
                url,
                form,
                nonce: &format!("n{}", now()),
                timestamp: now(),
            },
        )
    }

    pub fn get(&self, path: &str) -> Answer {
        let url = format!("{}{path}", self.base);
        let header = self.sign("GET", &url, &[]);
        self.send(self.http.get(&url).header("Authorization", header))
    }

    pub fn post(&self, path: &str, op: &str, params: &[(&str, &str)], op_in: OpIn) -> Answer {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let url = match op_in {
            OpIn::Query => format!("{}{path}?op={op}", self.base),
            OpIn::Path => format!("{}{path}op-{op}", self.base),
            OpIn::Form | OpIn::Multipart => {
                form.insert(0, ("op".to_string(), op.to_string()));
                format!("{}{path}", self.base)
            }
        };
        if op_in == OpIn::Multipart {
            let boundary = "SimTestBoundary";
            let mut body = String::new();
            for (name, value) in &form {
                body.push_str(&format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                ));
            }
            body.push_str(&format!("--{boundary}--\r\n"));
            let header = self.sign("POST", &url, &[]);
            return self.send(
                self.http
                    .post(&url)
                    .header("Authorization", header)
                    .header(
                        "Content-Type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body),
            );
        }
        let header = self.sign("POST", &url, &form);
        self.send(
            self.http
                .post(&url)
                .header("Authorization", header)
                .form(&form),
        )
    }

    pub fn send(&self, request: reqwest::blocking::RequestBuilder) -> Answer {
        let response = request.send().expect("request reaches the simulator");
        let status = response.status().as_u16();
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Answer {
            status,
            body: response.text().expect("body"),
            www_authenticate,
        }
    }

    pub fn raw(&self) -> &reqwest::blocking::Client {
        &self.http
    }
}
