//! `X-Hub-Signature-256` as GitHub documents it, checked through the public API and through
//! the service: GitHub's own test vector, and each way a signature can be wrong.

use crate::support;

use agentpods::github::webhook::{WebhookError, WebhookSecrets, verify_signature};
use support::server::{Post, SECRET, TestService, json, within};

/// From GitHub's documentation ("Validating webhook deliveries": its test values).
const VECTOR_SECRET: &str = "It's a Secret to Everybody";
const VECTOR_BODY: &[u8] = b"Hello, World!";
const VECTOR_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn secrets(list: &str) -> WebhookSecrets {
    WebhookSecrets::parse_list(list).expect("secrets")
}

#[test]
fn githubs_documented_vector_verifies() {
    let s = secrets(VECTOR_SECRET);
    assert_eq!(s.first().sign(VECTOR_BODY), VECTOR_SIGNATURE);
    assert_eq!(
        verify_signature(&s, Some(VECTOR_SIGNATURE.as_bytes()), false, VECTOR_BODY),
        Ok(())
    );
}

#[test]
fn the_vector_fails_with_any_change() {
    let s = secrets(VECTOR_SECRET);
    let verify = |secrets: &WebhookSecrets, signature: &str, body: &[u8]| {
        verify_signature(secrets, Some(signature.as_bytes()), false, body)
    };
    assert_eq!(
        verify(&s, VECTOR_SIGNATURE, b"Hello, World"),
        Err(WebhookError::BadSignature),
        "a changed body"
    );
    assert_eq!(
        verify(
            &secrets("It's a secret to everybody"),
            VECTOR_SIGNATURE,
            VECTOR_BODY
        ),
        Err(WebhookError::BadSignature),
        "another secret"
    );
    let flipped = VECTOR_SIGNATURE.replace("e17", "e18");
    assert_eq!(
        verify(&s, &flipped, VECTOR_BODY),
        Err(WebhookError::BadSignature),
        "one digit changed"
    );
    assert_eq!(
        verify(
            &s,
            "sha1=0123456789abcdef0123456789abcdef01234567",
            VECTOR_BODY
        ),
        Err(WebhookError::MalformedSignature),
        "a SHA-1 signature in the SHA-256 header"
    );
}

#[test]
fn either_secret_of_a_rotation_verifies_the_vector() {
    let rotating = secrets(&format!("the new secret,{VECTOR_SECRET}"));
    assert_eq!(
        verify_signature(
            &rotating,
            Some(VECTOR_SIGNATURE.as_bytes()),
            false,
            VECTOR_BODY
        ),
        Ok(())
    );
}

/// The service accepts GitHub's vector signature on its body (which is not a JSON event, so
/// it then refuses it as malformed: 400, not 401).
#[tokio::test]
async fn the_service_verifies_the_vector_before_parsing() {
    within(30, async {
        assert_eq!(SECRET, VECTOR_SECRET);
        let service = TestService::start();
        let post = Post::delivery("ping", "vector-1", VECTOR_BODY.to_vec());
        assert!(
            post.headers
                .iter()
                .any(|(n, v)| n == "x-hub-signature-256" && v == VECTOR_SIGNATURE)
        );
        let reply = service.oneshot(&post).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        let error = json(&reply)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains("not a JSON object"), "{error}");

        let forged = post.body(b"Hello, World?".to_vec());
        let reply = service.oneshot(&forged).await;
        assert_eq!(reply.status, 401, "{}", reply.text());
    })
    .await;
}
