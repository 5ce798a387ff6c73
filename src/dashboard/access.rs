//! Who may read the dashboard, and the headers every response carries.
//!
//! On loopback (the default) anyone on the machine may read it. Any other address needs
//! `server.auth_token`: requests then carry it as `Authorization: Bearer TOKEN`, or as the
//! password of HTTP basic auth (any user name), which browsers prompt for.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::AppState;

/// Shortest token accepted: guessing it must be out of reach.
pub const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(
        "refusing to serve the dashboard on {0}: it is not a loopback address, so set \
         server.auth_token (or TIERWATCH_AUTH_TOKEN) to a secret of at least 16 characters, \
         or listen on 127.0.0.1"
    )]
    TokenRequired(SocketAddr),
    #[error("server.auth_token is too short: use at least {MIN_TOKEN_CHARS} characters")]
    TokenTooShort,
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Whether the dashboard may listen on `address` with this token.
pub fn check_bind(address: SocketAddr, auth_token: Option<&str>) -> Result<(), AccessError> {
    match auth_token {
        Some(token) if token.chars().count() < MIN_TOKEN_CHARS => Err(AccessError::TokenTooShort),
        Some(_) => Ok(()),
        None if address.ip().is_loopback() => Ok(()),
        None => Err(AccessError::TokenRequired(address)),
    }
}

/// Lets a request through when no token is configured or it presents the token.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.auth_token.as_deref() else {
        return next.run(request).await;
    };
    if presented_token(request.headers()).is_some_and(|given| same_secret(&given, token)) {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"tierwatch\", charset=\"UTF-8\""),
    );
    response
}

/// The token from `Authorization: Bearer …` or the password of `Authorization: Basic …`.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credentials.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_user, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

/// Compares secrets in time independent of where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    let mut difference = given.len() ^ expected.len();
    for (index, byte) in expected.iter().enumerate() {
        let other = given.get(index).copied().unwrap_or(0);
        difference |= usize::from(byte ^ other);
    }
    difference == 0
}

/// Headers on every response: no scripts anywhere, no framing, no sniffing, no referrers,
/// and nothing cached by shared caches.
pub async fn security_headers(request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Pages hold spend data: no shared cache keeps them (the stylesheet says otherwise).
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("private, no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_other_addresses_do() {
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6_loopback: SocketAddr = "[::1]:8080".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_bind(loopback, None).is_ok());
        assert!(check_bind(v6_loopback, None).is_ok());
        let error = check_bind(open, None).unwrap_err().to_string();
        assert!(
            error.contains("0.0.0.0:8080") && error.contains("auth_token"),
            "{error}"
        );
        assert!(check_bind(open, Some("a-long-enough-secret")).is_ok());
        assert!(matches!(
            check_bind(open, Some("short")),
            Err(AccessError::TokenTooShort)
        ));
    }

    #[test]
    fn tokens_come_from_bearer_or_basic_auth() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert_eq!(presented_token(&headers).as_deref(), Some("s3cret"));
        // "user:pa:ss" — a colon inside the password survives.
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYTpzcw=="),
        );
        assert_eq!(presented_token(&headers).as_deref(), Some("pa:ss"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(presented_token(&headers), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("abcd", "abc"));
        assert!(!same_secret("", "abc"));
    }
}
