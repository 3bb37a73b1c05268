//! The App's webhook deliveries, for catch-up: reading them page by page and asking for
//! one again.

use std::time::SystemTime;

use hyper::http::Method;
use percent_encoding::percent_decode_str;

use super::http::Replay;
use super::{GithubClient, GithubError, decode, parse_time, query_value, wire};

/// One delivery attempt of the App's webhook, as GitHub lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDelivery {
    pub id: u64,
    /// The delivery's `X-GitHub-Delivery`, shared by its redeliveries.
    pub guid: String,
    pub delivered_at: SystemTime,
    pub redelivery: bool,
    /// The HTTP status our endpoint answered (0: no answer).
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
}

/// The deliveries of a time window, as far as they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveriesRead {
    /// Newest first.
    pub deliveries: Vec<HookDelivery>,
    /// The page limit was reached before the start of the window: older ones are unread.
    pub cut_short: bool,
}

impl HookDelivery {
    pub fn failed(&self) -> bool {
        !(200..300).contains(&self.status_code)
    }
}

/// The `cursor` of the page after this one, from the `Link` header's `rel="next"` URL.
/// Only the cursor is taken: the next request goes to our own API root, never to a URL
/// the answer names.
/// Split by hand rather than with `url::Url` (in the tree through octocrab; issue 12
/// asked to say why): only one parameter of one link is read, the URL itself is never
/// requested, and that parameter is decoded with `percent-encoding`, which the crate uses.
fn next_cursor(headers: &hyper::http::HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (url, params) = link.trim().split_once(';')?;
            let next = params
                .split(';')
                .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
            let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
            let (_, query) = url.split_once('?')?;
            next.then(|| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("cursor="))
                    .map(|cursor| percent_decode_str(cursor).decode_utf8_lossy().into_owned())
            })
            .flatten()
            .filter(|c| !c.is_empty())
        })
}

impl GithubClient {
    /// The App's webhook deliveries from `since` on, newest first: page after page
    /// (GitHub's `cursor`, from the `Link` header's `rel="next"`) until one reaches back
    /// past `since`, the last page, or `max_pages` pages.
    pub async fn hook_deliveries(
        &self,
        since: SystemTime,
        max_pages: u32,
    ) -> Result<DeliveriesRead, GithubError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..max_pages {
            let path = match &cursor {
                None => "/app/hook/deliveries?per_page=100".to_owned(),
                Some(c) => format!(
                    "/app/hook/deliveries?per_page=100&cursor={}",
                    query_value(c)
                ),
            };
            let reply = self
                .app_reply(Method::GET, &path, None::<&()>, Replay::Safe)
                .await?;
            let page: Vec<wire::HookDelivery> = decode(&Method::GET, &path, &reply.body)?;
            let mut reached_since = false;
            for d in page {
                let delivered_at = parse_time(&d.delivered_at, "delivered_at")?;
                if delivered_at < since {
                    reached_since = true;
                    continue;
                }
                out.push(HookDelivery {
                    id: d.id,
                    guid: d.guid,
                    delivered_at,
                    redelivery: d.redelivery,
                    status_code: d.status_code,
                    event: d.event,
                    action: d.action,
                });
            }
            cursor = next_cursor(&reply.headers);
            if reached_since || cursor.is_none() {
                return Ok(DeliveriesRead {
                    deliveries: out,
                    cut_short: false,
                });
            }
        }
        Ok(DeliveriesRead {
            deliveries: out,
            cut_short: true,
        })
    }

    /// Asks GitHub to deliver one delivery again. Not retried after an ambiguous
    /// failure: the next catch-up sees whether it went out.
    pub async fn redeliver(&self, delivery_id: u64) -> Result<(), GithubError> {
        let path = format!("/app/hook/deliveries/{delivery_id}/attempts");
        self.app_reply(Method::POST, &path, None::<&()>, Replay::Unsafe)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::http::HeaderValue;

    fn link(value: &str) -> hyper::http::HeaderMap {
        let mut headers = hyper::http::HeaderMap::new();
        headers.insert(
            hyper::http::header::LINK,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn the_next_page_is_the_cursor_of_the_link_whose_rel_is_next() {
        let base = "https://api.github.com/app/hook/deliveries";
        assert_eq!(
            next_cursor(&link(&format!(
                "<{base}?per_page=100&cursor=v1_12077215967>; rel=\"next\""
            ))),
            Some("v1_12077215967".into())
        );
        assert_eq!(
            next_cursor(&link(&format!(
                "<{base}?cursor=v1_1&per_page=2>; rel=\"prev\", <{base}?per_page=2&cursor=v1%2B9>; rel=\"next\""
            ))),
            Some("v1+9".into())
        );
        assert_eq!(
            next_cursor(&link(&format!("<{base}?cursor=v1_1>; rel=\"prev\""))),
            None
        );
        assert_eq!(
            next_cursor(&link(&format!("<{base}?page=2>; rel=\"next\""))),
            None
        );
        assert_eq!(next_cursor(&hyper::http::HeaderMap::new()), None);
    }
}
