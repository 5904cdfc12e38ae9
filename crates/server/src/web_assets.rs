//! The web app at `/`: built into the binary (so one file is the whole server), or read from
//! `--web-dir` when that is given (to try a new build without rebuilding the server).
//!
//! Vite names every file under `assets/` after a hash of its content, so those are cached for a
//! year; `index.html` and anything else is revalidated on each load (`no-cache`, with an ETag
//! for the built-in copy), so a new release is picked up at once. Any other path that is not
//! under `/api` gets `index.html` (the app routes in the browser); a missing file under
//! `assets/` is a plain `404`, not a page of HTML where a script was expected.
//!
//! A binary compiled before the web app was built (a fresh clone, `cargo test`) still works:
//! it answers with a page that says the web app was not built in and how to fix that.
//!
//! It owns serving the built files and reaches nothing else of the server.

use axum::body::Body;
use axum::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;
use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

/// The built web app, embedded at compile time (in debug builds, read from the source tree at
/// run time). Empty when `web/dist` did not exist at compile time.
#[derive(RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct BuiltIn;

/// Cache policy for content-hashed files.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy for everything else: always revalidate.
const REVALIDATE: &str = "no-cache";

/// Where the web app comes from.
#[derive(Debug, Clone)]
pub enum WebApp {
    /// A folder given with `--web-dir`.
    Dir(PathBuf),
    /// The copy built into the binary.
    BuiltIn,
    /// No web app: a page saying so.
    Missing,
}

/// One file to send.
struct Asset {
    bytes: Cow<'static, [u8]>,
    content_type: String,
    etag: Option<String>,
}

impl WebApp {
    /// `web_dir` when it holds an `index.html`, else the built-in copy when there is one.
    pub fn choose(web_dir: Option<&Path>) -> WebApp {
        if let Some(dir) = web_dir {
            if dir.join("index.html").is_file() {
                tracing::info!(dir = %dir.display(), "web app: from --web-dir");
                return WebApp::Dir(dir.to_path_buf());
            }
            tracing::warn!(dir = %dir.display(), "--web-dir has no index.html; ignoring it");
        }
        if BuiltIn::get("index.html").is_some() {
            tracing::info!("web app: built in");
            WebApp::BuiltIn
        } else {
            tracing::warn!(
                "the web app was not built into this binary; serving a page that says so at /"
            );
            WebApp::Missing
        }
    }

    /// The answer to `method path` (any path the API does not own).
    pub async fn respond(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(ALLOW, HeaderValue::from_static("GET, HEAD"))],
            )
                .into_response();
        }
        let relative = match path.trim_start_matches('/') {
            "" => "index.html",
            relative => relative,
        };
        let hashed = relative.starts_with("assets/");
        let asset = match self.load(relative).await {
            Some(asset) => asset,
            None if hashed => return StatusCode::NOT_FOUND.into_response(),
            None => match self.load("index.html").await {
                Some(index) => index,
                None => return not_built_in(),
            },
        };
        let cache = if hashed { IMMUTABLE } else { REVALIDATE };
        if let (Some(etag), Some(wanted)) = (&asset.etag, headers.get(IF_NONE_MATCH)) {
            if wanted.as_bytes() == etag.as_bytes() {
                return (StatusCode::NOT_MODIFIED, [(CACHE_CONTROL, cache)]).into_response();
            }
        }
        let mut response = Response::new(Body::from(asset.bytes));
        let response_headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&asset.content_type) {
            response_headers.insert(CONTENT_TYPE, value);
        }
        response_headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
        if let Some(value) = asset.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            response_headers.insert(ETAG, value);
        }
        response
    }

    async fn load(&self, relative: &str) -> Option<Asset> {
        match self {
            WebApp::Dir(dir) => {
                // Only plain names below the folder: no `..`, no absolute paths.
                let path = Path::new(relative);
                if !path.components().all(|c| matches!(c, Component::Normal(_))) {
                    return None;
                }
                let file = dir.join(path);
                let bytes = tokio::fs::read(&file).await.ok()?;
                Some(Asset {
                    bytes: Cow::Owned(bytes),
                    content_type: content_type(relative),
                    etag: None,
                })
            }
            WebApp::BuiltIn => {
                let file = BuiltIn::get(relative)?;
                let hash: String = file
                    .metadata
                    .sha256_hash()
                    .iter()
                    .take(16)
                    .map(|b| format!("{b:02x}"))
                    .collect();
                Some(Asset {
                    bytes: file.data,
                    content_type: content_type(relative),
                    etag: Some(format!("\"{hash}\"")),
                })
            }
            WebApp::Missing => None,
        }
    }
}

/// The media type for a file name, with a charset for text.
fn content_type(name: &str) -> String {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    if mime.type_() == mime_guess::mime::TEXT || mime.subtype() == mime_guess::mime::JAVASCRIPT {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

/// The page of a binary built without the web app.
fn not_built_in() -> Response {
    (
        [(CACHE_CONTROL, REVALIDATE)],
        Html(
            "<!doctype html><meta charset=utf-8><title>sotong</title><h1>sotong is running</h1>\
             <p>The web app was not built into this binary: the server was compiled before \
             <code>web/dist</code> existed. The API (<code>/api</code>) and the WebSocket \
             (<code>/ws</code>) work as usual.</p><p>To get the web app, build it and then the \
             server (<code>./scripts/run</code> does both), or point <code>--web-dir</code> at a \
             built copy: <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>.</p>",
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_have_charsets_for_text() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-3f2a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-3f2a.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }

    #[tokio::test]
    async fn a_dir_never_serves_outside_itself() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("index.html"), "<p>app</p>").expect("write");
        let web = WebApp::Dir(dir.path().to_path_buf());
        assert!(web.load("../etc/passwd").await.is_none());
        assert!(web.load("/etc/passwd").await.is_none());
        assert!(web.load("index.html").await.is_some());
    }
}
