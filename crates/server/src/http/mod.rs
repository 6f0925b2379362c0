//! The HTTP front: `/client/api` (the CloudStack API), `/healthz`, `/metrics`. The only module that
//! knows axum. Every request follows: parse → authenticate → validate against the catalog →
//! authorize by role type → call the application → render the envelope.

mod custom_actions;
mod extensions;
pub mod handlers;
mod identity;
mod infrastructure;
mod instances;
mod jobs;
mod meta;
mod settings;
pub mod views;
pub use jobs::render_job_outcome;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use trellis_api::envelope::{render, render_error};
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
    if app.store.ping().await {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = app.runner.metrics_text();
    text.push_str(&app.jobs_metrics_text());
    text.push_str(&crate::reconcile::metrics_text(&app));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

fn json_response(status: u16, body: String, description: Option<&str>) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    if let Some(d) = description {
        let clean: String = d
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&clean) {
            resp.headers_mut().insert("X-Description", v);
        }
    }
    resp
}

fn error_response(response_name: &str, e: &ApiError) -> Response {
    json_response(e.code, render_error(response_name, e), Some(&e.text))
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
    let params = match Params::from_pairs(pairs) {
        Ok(p) => p,
        Err(e) => return error_response("errorresponse", &e),
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
            return login(&app, &params, &response_name).await;
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
            let mut resp = json_response(
                200,
                render(
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

    let (caller, by_session) = match authenticate(&app, &params, &cookie_list).await {
        Ok(p) => p,
        Err(e) => return error_response(&response_name, &e),
    };
    let Some(cmd) = cmd else {
        // Unknown commands: 401 for signed requests (as CloudStack's verifier), 432 in a session.
        return if by_session {
            error_response("errorresponse", &ApiError::unsupported(&command_name))
        } else {
            error_response("errorresponse", &ApiError::unauthorized())
        };
    };
    if !cmd.allows(caller.role_type()) {
        return if by_session {
            error_response("errorresponse", &ApiError::unsupported(cmd.name))
        } else {
            error_response(&response_name, &ApiError::unauthorized())
        };
    }
    if let Err(e) = params.validate(cmd) {
        return error_response(&response_name, &e);
    }
    let result = handlers::dispatch(&app, &caller, cmd, &params).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(reply) => {
            tracing::debug!(command = cmd.name, elapsed_ms, "api request served");
            json_response(200, render(&response_name, reply), None)
        }
        Err(e) => {
            tracing::info!(command = cmd.name, code = e.code, error = %e.text, elapsed_ms, "api request failed");
            error_response(&response_name, &e)
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

async fn login(app: &App, params: &Params, response_name: &str) -> Response {
    let (Some(username), Some(password)) = (params.str("username"), params.str("password")) else {
        return error_response(
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
            let mut resp = json_response(200, render(response_name, Reply::Bare(body)), None);
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
            error_response(response_name, &ApiError::new(531, 4365, text))
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
