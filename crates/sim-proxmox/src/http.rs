//! The HTTP face of the simulator: `/api2/json` prefix, API-token authentication, parameters from
//! the query string and the body (form or JSON), `{"data": …}` envelopes and Proxmox's error
//! answers, and the request log.

use crate::api::{handle, Caller, Endpoint, Params};
use crate::error::ApiError;
use crate::state::{Credentials, RecordedRequest, Shared};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use percent_encoding::percent_decode_str;
use std::sync::Arc;

/// The path prefix of the JSON API.
pub const API_PREFIX: &str = "/api2/json";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let faults = shared.faults.clone();
    let router = Router::new().fallback(serve_request).with_state(shared);
    trellis_simkit::with_faults(router, &faults)
}

async fn serve_request(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full_path = uri.path();
    let Some(below_prefix) = full_path.strip_prefix(API_PREFIX) else {
        return error_response(&ApiError::not_implemented(method.as_str(), full_path));
    };
    let segments: Vec<String> = below_prefix
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| percent_decode_str(segment).decode_utf8_lossy().into_owned())
        .collect();
    let path = format!("/{}", segments.join("/"));
    let outcome = match parse_params(uri.query(), &headers, &body) {
        Err(error) => Err(error),
        Ok(params) => {
            let answer = answer(&shared, &method, &path, &segments, &headers, &params);
            record(&shared, &method, &path, params, &answer);
            answer
        }
    };
    match outcome {
        Ok(data) => json_response(StatusCode::OK, &serde_json::json!({ "data": data })),
        Err(error) => error_response(&error),
    }
}

fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    segments: &[String],
    headers: &HeaderMap,
    params: &Params,
) -> Result<serde_json::Value, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    match authorization {
        None => return Err(ApiError::unauthorized("No ticket")),
        Some(value) if !token_matches(&shared.credentials, value) => {
            return Err(ApiError::unauthorized("authentication failure"))
        }
        Some(_) => {}
    }
    let not_implemented = || ApiError::not_implemented(method.as_str(), path);
    let endpoint = Endpoint::parse(segments).ok_or_else(not_implemented)?;
    let certificate_pem = shared
        .certificate_pem
        .lock()
        .map(|pem| pem.clone())
        .unwrap_or_default();
    let token_user = shared.credentials.token_user();
    let caller = Caller {
        token_user: &token_user,
        faults: &shared.faults,
        certificate_pem: certificate_pem.as_deref(),
    };
    let mut state = shared.state();
    handle(&mut state, method.as_str(), &endpoint, params, &caller)
        .map_err(|error| error.unwrap_or_else(not_implemented))
}

/// `PVEAPIToken=USER@REALM!TOKENID=SECRET`.
fn token_matches(credentials: &Credentials, header_value: &str) -> bool {
    let Some(token) = header_value.trim().strip_prefix("PVEAPIToken=") else {
        return false;
    };
    let Some((user, rest)) = token.split_once('!') else {
        return false;
    };
    let Some((token_id, secret)) = rest.split_once('=') else {
        return false;
    };
    user == credentials.user && token_id == credentials.token && secret == credentials.secret
}

fn parse_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Params, ApiError> {
    let mut params = Params::new();
    if let Some(query) = query {
        params.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    if body.is_empty() {
        return Ok(params);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        params.extend(form_urlencoded::parse(body).into_owned());
        return Ok(params);
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|_| ApiError::param("body", "unable to parse JSON body"))?;
    for (key, value) in object {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Bool(flag) => if flag { "1" } else { "0" }.to_string(),
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        params.insert(key, text);
    }
    Ok(params)
}

fn record(
    shared: &Shared,
    method: &Method,
    path: &str,
    params: Params,
    answer: &Result<serde_json::Value, ApiError>,
) {
    let status = match answer {
        Ok(_) => 200,
        Err(error) => error.status,
    };
    shared.state().requests.push(RecordedRequest {
        method: method.to_string(),
        path: path.to_string(),
        params,
        status,
    });
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

fn error_response(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, &error.body());
    // pve-http-server puts the message in the status line as well.
    let phrase: String = error
        .message
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect();
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
        response.extensions_mut().insert(reason);
    }
    response
}
