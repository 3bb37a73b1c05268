//! A scripted model behind an OpenAI-compatible Responses API (`POST …/responses`, streamed
//! as server-sent events), on loopback: the first turn answers with one `apply_patch` tool
//! call carrying the patch it was given, every later turn (the tool's output back) with a
//! closing message. Enough for `codex exec` to edit a repository for real. Every request
//! body is kept, with the bearer token it came with.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

/// A request the fake answered: path, bearer token, JSON body.
#[derive(Debug, Clone)]
pub struct Turn {
    pub path: String,
    pub bearer: Option<String>,
    pub body: Value,
}

struct Shared {
    patch: String,
    closing: String,
    turns: Mutex<Vec<Turn>>,
}

pub struct FakeResponses {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeResponses {
    /// Starts on a free port of 127.0.0.1, to answer with `patch` (apply_patch's format,
    /// `*** Begin Patch` … `*** End Patch`), then with `closing`.
    pub async fn start(patch: &str, closing: &str) -> FakeResponses {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Responses API");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            patch: patch.to_string(),
            closing: closing.to_string(),
            turns: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serve the fake Responses API");
        });
        FakeResponses { addr, shared }
    }

    /// The base URL a model provider is configured with (`…/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn turns(&self) -> Vec<Turn> {
        self.shared.turns.lock().expect("turns").clone()
    }
}

/// The texts of the user's messages in a request.
pub fn user_texts(body: &Value) -> Vec<String> {
    body["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["type"] == "message" && item["role"] == "user")
        .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|span| span["text"].as_str().map(String::from))
        .collect()
}

/// The output the client sent back for tool call `call_id`, if any.
pub fn tool_output(body: &Value, call_id: &str) -> Option<String> {
    body["input"].as_array()?.iter().find_map(|item| {
        (item["call_id"] == call_id && item["type"].as_str()?.ends_with("_output"))
            .then(|| item["output"].as_str().map(String::from))
            .flatten()
    })
}

pub const CALL_ID: &str = "call-apply-patch-1";

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let bearer = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(String::from);
    if parts.method != "POST" || !parts.uri.path().ends_with("/responses") {
        let mut response = Response::new(Body::from("not found"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    shared.turns.lock().expect("turns").push(Turn {
        path: parts.uri.path().to_string(),
        bearer,
        body: body.clone(),
    });
    let answered = tool_output(&body, CALL_ID).is_some();
    let id = if answered { "resp-2" } else { "resp-1" };
    let item = if answered {
        json!({
            "type": "message", "role": "assistant", "id": "msg-1",
            "content": [{"type": "output_text", "text": shared.closing}]
        })
    } else {
        json!({
            "type": "custom_tool_call", "name": "apply_patch",
            "input": shared.patch, "call_id": CALL_ID
        })
    };
    let usage = json!({
        "input_tokens": 0, "input_tokens_details": null,
        "output_tokens": 0, "output_tokens_details": null, "total_tokens": 0
    });
    let events = [
        json!({"type": "response.created", "response": {"id": id}}),
        json!({"type": "response.output_item.done", "item": item}),
        json!({"type": "response.completed", "response": {"id": id, "usage": usage}}),
    ];
    let stream: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect();
    let mut response = Response::new(Body::from(stream));
    response.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("text/event-stream"),
    );
    response
}
