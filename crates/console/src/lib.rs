//! The Trellis web console: hand-written HTML, CSS and JavaScript modules, embedded in the binary
//! and served at `/`. The console is an ordinary CloudStack API client: it logs in with `login`,
//! then calls `/client/api` with the `sessionkey` parameter and the session cookies, like any other
//! client. This crate only serves files; it knows nothing about the server's state.
//!
//! Layout of the URL space:
//! - `/` — the single page (`index.html`), revalidated on every load (`Cache-Control: no-cache`).
//! - `/console/<build>/<file>` — scripts, styles and icons. `<build>` is a hash of every embedded
//!   file, so a new binary gets new URLs and the files can be cached for a year as immutable.
//!
//! Every response carries a strict Content-Security-Policy: scripts, styles and connections only
//! from this origin, no inline script or style, no framing.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::LazyLock;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const HTML: &str = "text/html; charset=utf-8";

macro_rules! asset {
    ($path:literal, $ty:expr) => {
        Asset {
            path: $path,
            content_type: $ty,
            body: include_bytes!(concat!("../assets/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("style.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/ui.js", JS),
    asset!("js/validate.js", JS),
    asset!("js/pages/login.js", JS),
    asset!("js/pages/overview.js", JS),
    asset!("js/pages/extensions.js", JS),
    asset!("js/pages/actions.js", JS),
    asset!("js/pages/infra.js", JS),
    asset!("js/pages/catalog.js", JS),
    asset!("js/pages/instances.js", JS),
    asset!("js/pages/runaction.js", JS),
    asset!("js/pages/events.js", JS),
    asset!("js/pages/domains.js", JS),
    asset!("js/pages/accounts.js", JS),
    asset!("js/pages/users.js", JS),
    asset!("js/pages/roles.js", JS),
];

const INDEX: &str = include_str!("../assets/index.html");

/// The policy sent with every console response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

const fn build_hash() -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < ASSETS.len() {
        hash = fnv1a(hash, ASSETS[i].path.as_bytes());
        hash = fnv1a(hash, ASSETS[i].body);
        i += 1;
    }
    fnv1a(hash, INDEX.as_bytes())
}

const BUILD_HASH: u64 = build_hash();

static BUILD: LazyLock<String> = LazyLock::new(|| format!("{BUILD_HASH:016x}"));

static INDEX_PAGE: LazyLock<String> =
    LazyLock::new(|| INDEX.replace("{{ASSET_BASE}}", &asset_base()));

/// The build identifier that appears in asset URLs.
pub fn build_id() -> &'static str {
    &BUILD
}

/// Where the assets of this build are served, e.g. `/console/0123456789abcdef/`.
pub fn asset_base() -> String {
    format!("/console/{}/", build_id())
}

/// Paths (relative to [`asset_base`]) of every embedded file.
pub fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// The console's routes, to be merged into the server's router. Stateless, so it fits any state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/console/{build}/{*path}", get(asset))
}

fn with_security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

fn not_found() -> Response {
    with_security_headers(
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response(),
    )
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == etag || t == "*" || t.strip_prefix("W/") == Some(etag))
}

fn respond(
    headers: &HeaderMap,
    content_type: &'static str,
    cache: &'static str,
    etag: String,
    body: axum::body::Body,
) -> Response {
    let mut resp = if etag_matches(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(body);
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    with_security_headers(resp)
}

async fn index(headers: HeaderMap) -> Response {
    respond(
        &headers,
        HTML,
        "no-cache",
        format!("\"{}\"", build_id()),
        axum::body::Body::from(INDEX_PAGE.as_str()),
    )
}

async fn asset(Path((build, path)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if build != build_id() {
        return not_found();
    }
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => respond(
            &headers,
            a.content_type,
            "public, max-age=31536000, immutable",
            format!(
                "\"{}-{:016x}\"",
                build_id(),
                fnv1a(0xcbf2_9ce4_8422_2325, a.body)
            ),
            axum::body::Body::from(a.body),
        ),
        None => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(uri: &str, etag: Option<&str>) -> Response {
        let mut req = Request::builder().uri(uri);
        if let Some(e) = etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn text(resp: Response) -> String {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn header_of(resp: &Response, name: header::HeaderName) -> &str {
        resp.headers().get(name).unwrap().to_str().unwrap()
    }

    #[tokio::test]
    async fn index_links_this_build_and_is_revalidated() {
        let resp = get("/", None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header_of(&resp, header::CONTENT_TYPE), HTML);
        assert_eq!(header_of(&resp, header::CACHE_CONTROL), "no-cache");
        assert_eq!(
            header_of(&resp, header::CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(header_of(&resp, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        let etag = header_of(&resp, header::ETAG).to_string();
        let body = text(resp).await;
        assert!(!body.contains("{{"), "placeholder left in index.html");
        assert!(body.contains(&format!("{}js/app.js", asset_base())));
        assert!(body.contains(&format!("{}style.css", asset_base())));
        let again = get("/", Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn every_asset_is_served_with_its_type_and_long_caching() {
        for a in ASSETS {
            let resp = get(&format!("{}{}", asset_base(), a.path), None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{}", a.path);
            assert_eq!(header_of(&resp, header::CONTENT_TYPE), a.content_type);
            assert!(header_of(&resp, header::CACHE_CONTROL).contains("immutable"));
            assert!(resp.headers().contains_key(header::CONTENT_SECURITY_POLICY));
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], a.body);
        }
    }

    #[tokio::test]
    async fn unknown_files_and_stale_builds_are_not_found() {
        let resp = get(&format!("{}nope.js", asset_base()), None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let resp = get("/console/0000000000000000/js/app.js", None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let resp = get(&format!("{}../src/lib.rs", asset_base()), None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn module_imports_point_at_embedded_files() {
        // Every relative import in a module must name a file this crate serves.
        let known: Vec<&str> = asset_paths().collect();
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(a.body).unwrap();
            let dir = a.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            for line in text.lines() {
                let line = line.trim();
                if !(line.starts_with("import ") || line.starts_with("} from ")) {
                    continue;
                }
                let Some(spec) = line.split('\'').nth(1) else {
                    continue;
                };
                let mut parts: Vec<&str> = if dir.is_empty() {
                    vec![]
                } else {
                    dir.split('/').collect()
                };
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    known.contains(&resolved.as_str()),
                    "{} imports {spec}, which is not embedded",
                    a.path
                );
            }
        }
    }

    #[test]
    fn no_inline_script_or_style_in_the_page() {
        // The policy forbids them; the page would break silently.
        assert!(!INDEX.contains("style="));
        assert!(!INDEX.contains("<style"));
        assert!(!INDEX.contains("onclick"));
        for line in INDEX.lines().filter(|l| l.contains("<script")) {
            assert!(line.contains("src="), "inline script: {line}");
        }
    }
}
