//! Errors as the API server sends them: a `metav1.Status` body with the matching HTTP code.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::store::Resource;

#[derive(Clone, Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

fn details(res: &Resource, name: &str) -> Value {
    json!({"name": name, "group": res.gvr.group, "kind": res.gvr.resource})
}

impl ApiError {
    pub fn not_found(res: &Resource, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", qualified(res)),
            details: Some(details(res, name)),
        }
    }

    /// What creating an object in a namespace that does not exist is answered.
    pub fn namespace_not_found(namespace: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("namespaces \"{namespace}\" not found"),
            details: Some(json!({"name": namespace, "kind": "namespaces"})),
        }
    }

    pub fn already_exists(res: &Resource, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", qualified(res)),
            details: Some(details(res, name)),
        }
    }

    pub fn conflict(res: &Resource, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(res)
            ),
            details: Some(details(res, name)),
        }
    }

    pub fn invalid(res: &Resource, name: &str, field: &str, why: &str) -> ApiError {
        let mut details = details(res, name);
        details["kind"] = json!(res.kind);
        details["causes"] = json!([{"reason": "FieldValueInvalid", "message": format!("Invalid value: \"{name}\": {why}"), "field": field}]);
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!(
                "{} \"{name}\" is invalid: {field}: Invalid value: \"{name}\": {why}",
                res.kind
            ),
            details: Some(details),
        }
    }

    pub fn bad_request(message: &str) -> ApiError {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.to_owned(),
            details: None,
        }
    }

    pub fn no_route(path: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("the server could not find the requested resource ({path})"),
            details: None,
        }
    }

    pub fn not_allowed(method: &str) -> ApiError {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource ({method})"
            ),
            details: None,
        }
    }

    /// A continue token that cannot be resumed: 410 Expired, as the API server says.
    pub fn expired_continue() -> ApiError {
        ApiError {
            code: 410,
            reason: "Expired",
            message: "the provided continue parameter is too old or malformed".into(),
            details: None,
        }
    }

    pub fn gone(rv: u64, floor: u64) -> ApiError {
        ApiError {
            code: 410,
            reason: "Expired",
            message: format!("too old resource version: {rv} ({floor})"),
            details: None,
        }
    }

    /// What fault injection answers: 500 InternalError or 503 ServiceUnavailable.
    pub fn injected(code: u16) -> ApiError {
        let reason = if code == 503 {
            "ServiceUnavailable"
        } else {
            "InternalError"
        };
        ApiError {
            code,
            reason,
            message: format!("injected fault ({code})"),
            details: None,
        }
    }

    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// `configmaps` or `agentruns.agentpods.dev`, as the real server names resources in messages.
fn qualified(res: &Resource) -> String {
    if res.gvr.group.is_empty() {
        res.gvr.resource.clone()
    } else {
        format!("{}.{}", res.gvr.resource, res.gvr.group)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            self.to_status().to_string(),
        )
            .into_response()
    }
}
