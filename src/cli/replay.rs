//! `agentpods replay`: signs a payload the way GitHub does and POSTs it to a running
//! service, so an operator can test a deployment (and the tests can drive one over TCP).
//!
//! A small HTTP/1.1 client on hyper (already in the tree through axum): plain `http://`
//! only; for an HTTPS endpoint, port-forward to the service.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::github::webhook::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, WebhookSecret};

/// How long one request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("invalid URL {url:?}: {why}")]
    Url { url: String, why: String },
    #[error(
        "cannot connect to {address}\nwhat to do: start the service first \
         (`agentpods serve --dry-run --listen {address}` runs one here that launches nothing), \
         or give --url the host and port it listens on"
    )]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP error talking to {address}: {message}")]
    Http { address: String, message: String },
    #[error("no answer from {address} within {} s", TIMEOUT.as_secs())]
    Timeout { address: String },
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the service found the delivery too old to act on: its `"outcome"` is
    /// `stale`, or, for a repeat of such a delivery, its first answer's note says so.
    pub fn stale(&self) -> bool {
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&self.body) else {
            return false;
        };
        answer["outcome"] == "stale"
            || answer["notes"].as_array().is_some_and(|notes| {
                notes
                    .iter()
                    .any(|n| n.as_str().is_some_and(|n| n.starts_with("stale: ")))
            })
    }
}

/// The headers GitHub sends with a delivery, signed with `secret`.
pub fn github_headers(
    secret: &WebhookSecret,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        (
            "user-agent",
            concat!("agentpods-replay/", env!("CARGO_PKG_VERSION")).into(),
        ),
        (EVENT_HEADER, event.into()),
        (DELIVERY_HEADER, delivery.into()),
        (SIGNATURE_HEADER, secret.sign(body)),
    ]
}

/// A delivery id for a replay that was given none: unique enough for one operator.
pub fn fresh_delivery_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("replay-{nanos:x}-{:x}", std::process::id())
}

/// Sends one request (`GET` if `body` is `None`, else `POST`) and reads the whole answer.
pub async fn send(
    url: &str,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> Result<HttpAnswer, ReplayError> {
    let bad = |why: &str| ReplayError::Url {
        url: url.to_string(),
        why: why.to_string(),
    };
    // `127.0.0.1:8080/webhook`: before, "not a URL" (new-user review 13c, N14).
    if !url.contains("://") {
        return Err(bad(&format!("it has no scheme; write http://{url}")));
    }
    let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported by this client; port-forward to the service and use http://",
            ));
        }
        _ => return Err(bad("expected http://HOST[:PORT]/PATH")),
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?.clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let address = format!("{}:{port}", authority.host());
    let exchange = async {
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|source| ReplayError::Connect {
                address: address.clone(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let http = |e: hyper::Error| ReplayError::Http {
            address: address.clone(),
            message: e.to_string(),
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        tokio::spawn(connection);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::builder()
            .method(if body.is_some() { "POST" } else { "GET" })
            .uri(path)
            .header("host", authority.as_str());
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ReplayError::Http {
                address: address.clone(),
                message: e.to_string(),
            })?;
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(http)?
            .to_bytes();
        Ok(HttpAnswer {
            status,
            body: body.to_vec(),
        })
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(ReplayError::Timeout {
                address: address.clone(),
            })
        })
}

/// Signs `body` as delivery `delivery` of event `event` and POSTs it to `url`.
pub async fn replay(
    url: &str,
    secret: &WebhookSecret,
    event: &str,
    delivery: &str,
    body: Vec<u8>,
) -> Result<HttpAnswer, ReplayError> {
    let headers = github_headers(secret, event, delivery, &body);
    send(url, &headers, Some(body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_without_its_scheme_is_given_back_with_it() {
        let e = send("127.0.0.1:18081/webhook", &[], None)
            .await
            .expect_err("no scheme");
        assert_eq!(
            e.to_string(),
            "invalid URL \"127.0.0.1:18081/webhook\": it has no scheme; write \
             http://127.0.0.1:18081/webhook"
        );
    }
}
