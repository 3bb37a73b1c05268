//! What a stranger can make `serve` hold before a delivery's signature is checked: an
//! attacker's slow unsigned uploads, over real TCP from several loopback addresses (Linux
//! routes all of 127.0.0.0/8 to `lo`), against the real server, while GitHub's signed
//! deliveries keep being answered.

use crate::support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agentpods::serve::metrics::PreauthRefusal;
use agentpods::serve::preauth::{FIRST_BUFFER, PreauthLimits};

use tokio::net::{TcpSocket, TcpStream};

use support::fixtures::{another_event, variant};
use support::server::{Post, TestService, eventually, within};

const MIB: u64 = 1024 * 1024;

/// A real delivery that starts nothing (a draft pull request): 21 KB, as GitHub sends.
const DRAFT: &str = "pull_request/draft-opened.json";

/// Writes all of `bytes` (tokio's `io-util` is not in the tree: readiness and `try_write`).
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what is there, waiting for something: 0 at the end of the stream.
async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => return other,
        }
    }
}

/// The loopback address `127.0.0.n`.
fn peer(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .unwrap_or_else(|e| panic!("bind {from}: {e}"));
    socket
        .connect(to)
        .await
        .unwrap_or_else(|e| panic!("connect from {from} to {to}: {e}"))
}

/// The status line's code and the headers of an HTTP answer, as far as they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    status: u16,
    retry_after: Option<String>,
}

/// Reads an answer's head from `stream`; `None` if the connection closed first.
async fn read_head(stream: &mut TcpStream) -> Option<Head> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match read_some(stream, &mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&seen);
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let retry_after = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_owned())
    });
    Some(Head {
        status,
        retry_after,
    })
}

/// An attacker's upload: it declares `declared` bytes, signs them with a made-up (but
/// well-formed) signature, sends the head and the first `sent` bytes, then trickles (or
/// stalls).
struct SlowUpload {
    stream: TcpStream,
}

impl SlowUpload {
    async fn start(from: IpAddr, to: SocketAddr, declared: u64, n: usize) -> SlowUpload {
        SlowUpload::sending(from, to, declared, n, 1024).await
    }

    async fn sending(
        from: IpAddr,
        to: SocketAddr,
        declared: u64,
        n: usize,
        sent: usize,
    ) -> SlowUpload {
        let stream = connect_from(from, to).await;
        let head = format!(
            "POST /webhook HTTP/1.1\r\nhost: agentpods\r\ncontent-type: application/json\r\n\
             x-github-event: pull_request\r\nx-github-delivery: attack-{n}\r\n\
             x-hub-signature-256: sha256={}\r\ncontent-length: {declared}\r\n\r\n",
            "0".repeat(64)
        );
        // Head and first bytes in one write (one segment on loopback for a kilobyte), so
        // the server reads both at once and a refusal closes a connection it has read all
        // of. The server may already have answered and closed: what it said is read later.
        let mut first = head.into_bytes();
        first.extend(std::iter::repeat_n(b' ', sent));
        let _ = write_all(&stream, &first).await;
        SlowUpload { stream }
    }

    /// The answer, if one comes within `wait` (a held upload gets none).
    async fn answer_within(&mut self, wait: Duration) -> Option<Head> {
        tokio::time::timeout(wait, read_head(&mut self.stream))
            .await
            .ok()
            .flatten()
    }

    /// A few more bytes, as a trickling sender does.
    async fn trickle(&mut self) {
        let _ = write_all(&self.stream, b"    ").await;
    }
}

/// What each upload was answered within `wait`, all waiting at once (`None`: held).
async fn answers_within(uploads: &mut [SlowUpload], wait: Duration) -> Vec<Option<Head>> {
    futures_util::future::join_all(uploads.iter_mut().map(|u| u.answer_within(wait))).await
}

/// Sends `post` from `from` over a connection of its own and reads the answer's head.
async fn send_from(from: IpAddr, to: SocketAddr, post: &Post) -> Head {
    let mut stream = connect_from(from, to).await;
    let mut request = format!(
        "POST {} HTTP/1.1\r\nhost: agentpods\r\nconnection: close\r\ncontent-length: {}\r\n",
        post.path,
        post.body.len()
    );
    for (name, value) in &post.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    write_all(&stream, request.as_bytes())
        .await
        .expect("send the head");
    let _ = write_all(&stream, &post.body).await;
    read_head(&mut stream)
        .await
        .unwrap_or_else(|| panic!("no answer to {} from {from}", post.path))
}

/// A service in this process with these bounds.
fn service_with(limits: PreauthLimits) -> TestService {
    let mut service = TestService::start();
    let state = Arc::try_unwrap(service.state).unwrap_or_else(|_| panic!("a fresh state"));
    service.state = Arc::new(state.with_limits(limits));
    service
}

/// A new draft delivery: its body is another event's for each id (a body sent again is a
/// repeat, answered as before, which does not make its connection GitHub's).
fn draft(delivery: &str) -> Post {
    Post::delivery(
        "pull_request",
        delivery,
        another_event(&variant(DRAFT).body(), delivery),
    )
}

/// The value of a metric line in `/metrics`, 0 when the line is not there.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn two_hundred_slow_unsigned_uploads_hold_only_what_they_sent_while_signed_deliveries_flow() {
    within(60, async {
        let service = TestService::start();
        let server = service.listen().await;
        let state = service.state.clone();

        // 200 uploads that each declare GitHub's largest body (25 MiB) and send a
        // trickle, from 50 addresses: four each.
        let mut uploads = Vec::new();
        for n in 0..200 {
            let from = peer(10 + (n % 50) as u8);
            uploads.push(SlowUpload::start(from, server.address, 25 * MIB, n).await);
        }
        eventually(|| state.preauth.held().1 == 200 * FIRST_BUFFER).await;
        let answers = answers_within(&mut uploads, Duration::from_secs(1)).await;
        assert!(
            answers.iter().all(Option::is_none),
            "every upload is held, each with the first buffer its kilobyte needs \
             (5000 MiB declared; before, all but two were refused): {answers:?}"
        );

        // While they are held, GitHub's signed deliveries are answered, from its own
        // addresses and from an address the attacker also uses.
        for i in 0..20u8 {
            let from = if i % 2 == 0 { peer(200 + i) } else { peer(10) };
            let head = send_from(from, server.address, &draft(&format!("signed-{i}"))).await;
            assert_eq!(
                head.status, 200,
                "signed delivery {i} from {from}: {head:?}"
            );
        }

        // What is held is what was sent, rounded up to a buffer: 3 MiB, not 5000.
        let (ordinary, large, peers) = state.preauth.held();
        assert_eq!((ordinary, large, peers), (0, 200 * FIRST_BUFFER, 50));
        let text = Post::get("/metrics").send_to(server.address).await.text();
        assert_eq!(
            metric(&text, r#"agentpods_webhook_preauth_bytes{lane="large"}"#),
            200 * FIRST_BUFFER,
            "{text}"
        );

        // The held ones still trickle; when their senders give up, what they reserved is
        // released.
        for upload in &mut uploads {
            upload.trickle().await;
        }
        drop(uploads);
        let address = server.address;
        let mut reserved = u64::MAX;
        while reserved != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let text = Post::get("/metrics").send_to(address).await.text();
            reserved = metric(&text, r#"agentpods_webhook_preauth_bytes{lane="large"}"#)
                + metric(&text, r#"agentpods_webhook_preauth_bytes{lane="ordinary"}"#);
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stalled_declarations_from_several_addresses_hold_nothing_while_signed_deliveries_flow() {
    within(60, async {
        let service = service_with(PreauthLimits {
            body_timeout: Duration::from_secs(6),
            ..PreauthLimits::default()
        });
        let server = service.listen().await;
        let state = service.state.clone();

        // Four addresses each declare 60 bodies of the ordinary size (1 MiB) and send
        // none of it. Before, two addresses (32 MiB each) filled the ordinary lane (64 MiB)
        // and every signed delivery was answered 503 until the stalled ones timed out.
        assert_eq!(PreauthLimits::default().ordinary_size, MIB);
        let mut stalled = Vec::new();
        for n in 0..240 {
            let from = peer(50 + (n % 4) as u8);
            stalled.push(SlowUpload::sending(from, server.address, MIB, n, 0).await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;

        for i in 0..20u8 {
            let head = send_from(peer(100 + i), server.address, &draft(&format!("real-{i}"))).await;
            assert_eq!(head.status, 200, "signed delivery {i}: {head:?}");
        }
        // All the while, every declaration was let in and held open, holding nothing.
        assert_eq!(state.preauth.open_connections(), 240);
        assert_eq!(
            state.preauth.held(),
            (0, 0, 0),
            "a declaration holds nothing"
        );

        // Past the body timeout each stalled one is told (408) and its connection closed.
        let answers = answers_within(&mut stalled, Duration::from_secs(20)).await;
        for answer in &answers {
            assert_eq!(answer.as_ref().map(|h| h.status), Some(408), "{answers:?}");
        }
        drop(stalled);
        eventually(|| state.preauth.open_connections() == 0).await;
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn one_address_cannot_take_more_than_its_share_of_the_ordinary_lane() {
    within(60, async {
        let service = TestService::start();
        let server = service.listen().await;
        let attacker = peer(9);

        // Ordinary-sized uploads (1 MiB each) from one address, each sending all of its
        // body but the last byte: its share is an eighth of the lane, 8 MiB. One at a
        // time, so that which are held does not depend on how their reads interleave.
        assert_eq!(PreauthLimits::default().ordinary_budget, 64 * MIB);
        assert_eq!(PreauthLimits::default().lane_share, 8);
        assert_eq!(PreauthLimits::default().ordinary_size, MIB);
        let state = service.state.clone();
        let mut uploads = Vec::new();
        for n in 0..12 {
            let upload =
                SlowUpload::sending(attacker, server.address, MIB, n, (MIB - 1) as usize).await;
            uploads.push(upload);
            if n < 8 {
                let want = (n as u64 + 1) * MIB;
                eventually(|| state.preauth.held().0 == want).await;
            } else {
                let want = n as u64 - 7;
                eventually(|| state.metrics.refusals(PreauthRefusal::peer) == want).await;
            }
        }
        assert_eq!(state.preauth.held(), (8 * MIB, 0, 1));

        // That address is refused even a real delivery while it holds its share...
        let head = send_from(attacker, server.address, &draft("from-the-attacker")).await;
        assert_eq!(head.status, 503, "{head:?}");
        // ...and every other address is served.
        let head = send_from(peer(8), server.address, &draft("from-github")).await;
        assert_eq!(head.status, 200, "{head:?}");
        assert_eq!(service.state.metrics.refusals(PreauthRefusal::peer), 4 + 1);
        drop(uploads);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn two_addresses_sending_at_full_speed_cannot_hold_the_ordinary_lane() {
    within(60, async {
        let service = TestService::start();
        let server = service.listen().await;
        let state = service.state.clone();
        let refused = || {
            state.metrics.refusals(PreauthRefusal::peer)
                + state.metrics.refusals(PreauthRefusal::ordinary_lane)
        };

        // Two addresses each send 40 bodies of the ordinary size (1 MiB) whole but for the
        // last byte, and hold them. Before each address had a share of the lane of its
        // own, they held all 64 MiB of it (32 MiB each) until the body timeout, again and
        // again, and every signed delivery meanwhile was answered 503.
        let mut uploads = Vec::new();
        for n in 0..80 {
            let from = peer(70 + (n % 2) as u8);
            let before = (state.preauth.held().0, refused());
            let upload =
                SlowUpload::sending(from, server.address, MIB, n, (MIB - 1) as usize).await;
            uploads.push(upload);
            // Held whole or refused: read 16 KiB at a time, a body is a while arriving.
            eventually(|| state.preauth.held().0 == before.0 + MIB || refused() != before.1).await;
        }
        let (ordinary, _, peers) = state.preauth.held();
        assert_eq!(
            (ordinary, peers),
            (16 * MIB, 2),
            "each holds its eighth of the lane, no more"
        );

        // GitHub's signed deliveries, from other addresses, are read all the while.
        for i in 0..10u8 {
            let head = send_from(peer(120 + i), server.address, &draft(&format!("real-{i}"))).await;
            assert_eq!(head.status, 200, "signed delivery {i}: {head:?}");
        }
        drop(uploads);
        server.stop().await;
    })
    .await;
}

/// `post` as it goes on the wire, head and body, with `extra` header lines.
fn wire(post: &Post, extra: &str) -> Vec<u8> {
    let mut request = format!(
        "POST {} HTTP/1.1\r\nhost: agentpods\r\n{extra}content-length: {}\r\n",
        post.path,
        post.body.len()
    );
    for (name, value) in &post.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut wire = request.into_bytes();
    wire.extend_from_slice(&post.body);
    wire
}

/// Sends `post` from `from` and keeps the connection open once it is answered (HTTP/1.1
/// keep-alive): a connection that carried a signed delivery, and stays.
async fn send_and_stay(from: IpAddr, to: SocketAddr, post: &Post) -> (Head, TcpStream) {
    let mut stream = connect_from(from, to).await;
    write_all(&stream, &wire(post, "")).await.expect("send");
    let head = read_head(&mut stream).await.expect("an answer");
    (head, stream)
}

#[tokio::test]
async fn past_the_connection_cap_of_signed_connections_a_connection_is_answered_503_at_once_and_its_slot_comes_back()
 {
    within(30, async {
        let service = service_with(PreauthLimits {
            max_connections: 4,
            ..PreauthLimits::default()
        });
        let server = service.listen().await;
        // Four connections that each carried a signed delivery, and stay open.
        let mut kept = Vec::new();
        for i in 0..4 {
            let (head, stream) =
                send_and_stay(peer(20), server.address, &draft(&format!("kept-{i}"))).await;
            assert_eq!(head.status, 200, "{head:?}");
            kept.push(stream);
        }
        let state = service.state.clone();
        eventually(|| state.preauth.open_connections() == 4).await;

        // None of them is closed to make room: the fifth is told before it says anything.
        let mut fifth = connect_from(peer(21), server.address).await;
        let head = read_head(&mut fifth).await.expect("an answer");
        assert_eq!(head.status, 503, "{head:?}");
        assert!(head.retry_after.is_some(), "{head:?}");
        assert_eq!(
            service.state.metrics.refusals(PreauthRefusal::connections),
            1
        );

        // They go; their slots come back.
        drop(kept);
        eventually(|| state.preauth.open_connections() == 0).await;
        let head = send_from(peer(21), server.address, &draft("after-the-crowd")).await;
        assert_eq!(head.status, 200, "{head:?}");
        server.stop().await;
        assert_eq!(service.state.preauth.open_connections(), 0);
    })
    .await;
}

#[tokio::test]
async fn stalled_connections_from_a_few_addresses_at_the_cap_cannot_shut_out_signed_deliveries() {
    within(60, async {
        let service = service_with(PreauthLimits {
            max_connections: 32,
            max_connections_per_peer: 8,
            ..PreauthLimits::default()
        });
        let server = service.listen().await;
        let state = service.state.clone();
        // Four addresses take every connection, each within its share: half of them idle,
        // half a declared body stalled after its head. Before, every connection past
        // them was answered 503 at the door until the stalled ones timed out (10 s), and
        // again whenever they came back.
        let mut idle = Vec::new();
        let mut stalled = Vec::new();
        for n in 0..32usize {
            let from = peer(80 + (n % 4) as u8);
            if n % 2 == 0 {
                idle.push(connect_from(from, server.address).await);
            } else {
                stalled.push(SlowUpload::sending(from, server.address, MIB, n, 0).await);
            }
        }
        eventually(|| state.preauth.open_connections() == 32).await;

        // GitHub's signed deliveries, each on a connection of its own, are all answered:
        // each takes the place of a stalled or idle one.
        for i in 0..20u8 {
            let head = send_from(
                peer(140 + i % 2),
                server.address,
                &draft(&format!("signed-{i}")),
            )
            .await;
            assert_eq!(head.status, 200, "signed delivery {i}: {head:?}");
        }
        assert_eq!(state.metrics.refusals(PreauthRefusal::connections), 0);
        let text = Post::get("/metrics").send_to(server.address).await.text();
        // Each closes once answered, so one stranger's connection made room for them all.
        assert!(
            metric(&text, "agentpods_http_connections_evicted_total") >= 1,
            "{text}"
        );
        assert!(state.preauth.open_connections() <= 32);
        drop((idle, stalled));
        eventually(|| state.preauth.open_connections() == 0).await;
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn one_address_holding_idle_connections_cannot_shut_out_anyone_else() {
    within(30, async {
        let service = service_with(PreauthLimits {
            max_connections: 16,
            max_connections_per_peer: 8,
            ..PreauthLimits::default()
        });
        let server = service.listen().await;
        // An attacker opens as many idle connections as the whole service may have, from
        // one address (before the per-address cap, this shut out every signed delivery).
        let mut idle = Vec::new();
        for _ in 0..16 {
            idle.push(connect_from(peer(30), server.address).await);
        }
        let state = service.state.clone();
        eventually(|| state.preauth.open_connections() == 8).await;

        // Anyone else still gets in.
        let head = send_from(peer(31), server.address, &draft("past-the-idlers")).await;
        assert_eq!(head.status, 200, "{head:?}");
        drop(idle);
        eventually(|| state.preauth.open_connections() == 0).await;
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_request_head_over_16_kib_is_refused_not_held() {
    within(30, async {
        let service = TestService::start();
        let server = service.listen().await;
        let head = |pad: usize| {
            format!(
                "POST /webhook HTTP/1.1\r\nhost: agentpods\r\ncontent-type: application/json\r\n\
                 x-github-event: ping\r\nx-github-delivery: head-{pad}\r\n\
                 x-hub-signature-256: sha256={}\r\nx-pad: {}\r\ncontent-length: 2\r\n\r\n{{}}",
                "0".repeat(64),
                "a".repeat(pad)
            )
        };
        // A head six times GitHub's is read, and the request answered (its signature is
        // made up: 401).
        let mut stream = connect_from(peer(40), server.address).await;
        let _ = write_all(&stream, head(12 * 1024).as_bytes()).await;
        let answer = read_head(&mut stream).await;
        assert_eq!(answer.map(|h| h.status), Some(401));
        // Before the bound, hyper would buffer a head of about 400 KB per connection, and
        // these would be read whole and answered 401; before it was 16 KiB, the first one.
        for pad in [20 * 1024, 200 * 1024] {
            let mut stream = connect_from(peer(41), server.address).await;
            let _ = write_all(&stream, head(pad).as_bytes()).await;
            let answer = read_head(&mut stream).await;
            assert!(
                answer.as_ref().is_none_or(|h| h.status == 431),
                "{pad} bytes of a header: refused or cut off, never read: {answer:?}"
            );
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn what_a_body_reserved_is_given_back_on_every_way_out() {
    within(30, async {
        let service = service_with(PreauthLimits {
            body_timeout: Duration::from_millis(300),
            ..PreauthLimits::default()
        });
        let server = service.listen().await;
        let state = service.state.clone();
        let held = move || state.preauth.held();
        let declared = 100 * 1024;

        // A sender that stalls (slowloris) is cut off by the body timeout.
        let mut stalled = SlowUpload::start(peer(30), server.address, declared, 1).await;
        let head = stalled
            .answer_within(Duration::from_secs(5))
            .await
            .expect("an answer once the body timeout passes");
        assert_eq!(head.status, 408, "{head:?}");
        eventually(|| held() == (0, 0, 0)).await;

        // A sender that goes away halfway through its body (it holds the first buffer its
        // kilobyte needs, not what it declared).
        let gone = SlowUpload::start(peer(31), server.address, declared, 2).await;
        eventually(|| held() == (FIRST_BUFFER, 0, 1)).await;
        drop(gone);
        eventually(|| held() == (0, 0, 0)).await;

        // A body whose signature does not match, sent whole.
        let forged = draft("forged").body(b"{}".to_vec());
        assert_eq!(
            send_from(peer(32), server.address, &forged).await.status,
            401
        );
        assert_eq!(held(), (0, 0, 0));

        // A signed delivery.
        let signed = draft("signed");
        assert_eq!(
            send_from(peer(33), server.address, &signed).await.status,
            200
        );
        assert_eq!(held(), (0, 0, 0));
        server.stop().await;
    })
    .await;
}

/// `bytes` as one chunk of a chunked body.
fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// Sends `post` from `from` with a chunked body (no Content-Length), in chunks of `size`,
/// and reads the answer's head.
async fn send_chunked(from: IpAddr, to: SocketAddr, post: &Post, size: usize) -> Head {
    let mut stream = connect_from(from, to).await;
    let mut request = format!(
        "POST {} HTTP/1.1\r\nhost: agentpods\r\nconnection: close\r\ntransfer-encoding: chunked\r\n",
        post.path
    );
    for (name, value) in &post.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut wire = request.into_bytes();
    for part in post.body.chunks(size) {
        wire.extend(chunk(part));
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let _ = write_all(&stream, &wire).await;
    read_head(&mut stream)
        .await
        .unwrap_or_else(|| panic!("no answer to a chunked {} from {from}", post.path))
}

#[tokio::test]
async fn a_body_without_a_length_reserves_as_it_comes_and_may_not_grow_past_the_ordinary_size() {
    within(30, async {
        let service = TestService::start();
        let server = service.listen().await;
        let state = service.state.clone();

        // GitHub never sends one, but a chunked delivery that is signed is taken...
        let head = send_chunked(peer(40), server.address, &draft("chunked"), 4096).await;
        assert_eq!(head.status, 200, "{head:?}");

        // ...and while one is being received it holds what came, rounded up to a buffer.
        let stream = connect_from(peer(41), server.address).await;
        let head = "POST /webhook HTTP/1.1\r\nhost: agentpods\r\ntransfer-encoding: chunked\r\n\
                    content-type: application/json\r\nx-github-event: ping\r\n\
                    x-github-delivery: slow-chunks\r\n\r\n";
        write_all(&stream, head.as_bytes()).await.expect("send");
        write_all(&stream, &chunk(b"{")).await.expect("send");
        eventually(|| state.preauth.held() == (FIRST_BUFFER, 0, 1)).await;
        drop(stream);
        eventually(|| state.preauth.held() == (0, 0, 0)).await;

        // One that grows past it is cut off.
        let big = draft("chunked-big").body(vec![b' '; (MIB + 1) as usize]);
        let head = send_chunked(peer(42), server.address, &big, 64 * 1024).await;
        assert_eq!(head.status, 413, "{head:?}");
        eventually(|| state.preauth.held() == (0, 0, 0)).await;
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_connection_that_says_nothing_is_closed_after_the_header_timeout() {
    within(20, async {
        let service = TestService::start();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(agentpods::serve::http::serve_with(
            listener,
            service.state.clone(),
            async move {
                let _ = stopped.await;
            },
            Duration::from_millis(300),
        ));
        // The cheapest hold on a connection slot: connect, and send not one byte.
        let mut silent = connect_from(peer(60), address).await;
        let state = service.state.clone();
        eventually(|| state.preauth.open_connections() == 1).await;
        let answer = tokio::time::timeout(Duration::from_secs(5), read_head(&mut silent)).await;
        assert!(
            answer.is_ok(),
            "a silent connection was still open after 5 s, with a 300 ms header timeout"
        );
        eventually(|| state.preauth.open_connections() == 0).await;
        let _ = stop.send(());
        server.await.expect("server task").expect("clean stop");
    })
    .await;
}

/// How an attacker keeps its connection busy without ever finishing a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    /// A header line every 50 ms; the head never ends.
    HeaderLines,
    /// The whole head at once (a 64 KiB body declared, a made-up signature), then a byte
    /// of the body every 50 ms.
    BodyBytes,
}

/// An attacker's address keeping one connection busy, as `busy` says, until `stop`: when
/// its connection is closed (to make room, or by a timeout) it connects again one round
/// trip (20 ms) later. Returns how many connections it opened.
async fn keep_busy(
    from: IpAddr,
    to: SocketAddr,
    busy: Busy,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> u64 {
    use std::sync::atomic::Ordering;
    let mut opened = 0;
    while !stop.load(Ordering::SeqCst) {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.bind(SocketAddr::new(from, 0)).expect("bind");
        let Ok(stream) = socket.connect(to).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        opened += 1;
        let head = match busy {
            Busy::HeaderLines => "POST /webhook HTTP/1.1\r\nhost: agentpods\r\n".to_owned(),
            Busy::BodyBytes => format!(
                "POST /webhook HTTP/1.1\r\nhost: agentpods\r\ncontent-type: application/json\r\n\
                 x-github-event: pull_request\r\nx-github-delivery: busy-{from}-{opened}\r\n\
                 x-hub-signature-256: sha256={}\r\ncontent-length: {}\r\n\r\n",
                "0".repeat(64),
                64 * 1024
            ),
        };
        let mut alive = write_all(&stream, head.as_bytes()).await.is_ok();
        let mut line = 0u64;
        while alive && !stop.load(Ordering::SeqCst) {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {
                    line += 1;
                    let more = match busy {
                        Busy::HeaderLines => format!("x-line-{line}: a\r\n").into_bytes(),
                        Busy::BodyBytes => b" ".to_vec(),
                    };
                    alive = write_all(&stream, &more).await.is_ok();
                }
                // Anything from the server (an answer, the end of the stream) ends it.
                _ = stream.readable() => {
                    let mut sink = [0u8; 1024];
                    alive = matches!(stream.try_read(&mut sink), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
                }
            }
        }
        drop(stream);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    opened
}

/// Sends `post` from `from` as GitHub's delivery reaches a server across a network: its
/// whole head and the first 14 KiB of its body at once (TCP's first window), the rest one
/// round trip (`rtt`) later; reads the answer's head.
async fn send_across_a_network(from: IpAddr, to: SocketAddr, post: &Post, rtt: Duration) -> Head {
    let mut stream = connect_from(from, to).await;
    let wire = wire(post, "connection: close\r\n");
    let (first, rest) = wire.split_at(wire.len().min(14 * 1024));
    let sent = async {
        write_all(&stream, first).await?;
        tokio::time::sleep(rtt).await;
        write_all(&stream, rest).await
    }
    .await;
    match (sent, read_head(&mut stream).await) {
        (_, Some(head)) => head,
        (sent, None) => Head {
            status: 0,
            retry_after: Some(format!("closed before an answer ({sent:?})")),
        },
    }
}

/// More addresses than the connection cap, each keeping one connection busy as `busy`
/// says, while GitHub sends a signed delivery every 100 ms, as it reaches a server across
/// a network (its body's second window one round trip after the first): every one is
/// answered 200, and the attackers' connections are the ones closed to make room.
async fn signed_deliveries_get_past_more_busy_addresses_than_the_cap(busy: Busy) {
    let service = service_with(PreauthLimits {
        max_connections: 64,
        ..PreauthLimits::default()
    });
    let server = service.listen().await;
    let state = service.state.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // 80 addresses (127.0.1.1 to 127.0.1.80) for 64 connections.
    let attackers: Vec<_> = (1..=80u8)
        .map(|n| {
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1, n));
            tokio::spawn(keep_busy(from, server.address, busy, stop.clone()))
        })
        .collect();
    eventually(|| state.preauth.open_connections() == 64).await;
    // Let some of them grow old, as they do in a long attack.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut statuses = Vec::new();
    for i in 0..20u8 {
        let post = draft(&format!("signed-{i}"));
        let rtt = Duration::from_millis(100);
        let head = send_across_a_network(peer(200), server.address, &post, rtt).await;
        statuses.push(head.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Before, a new connection took the place of the one quiet longest: GitHub's, while
    // its second window was on its way; every delivery was closed before an answer (0).
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every signed delivery answered 200 (0: closed before an answer): {statuses:?}; \
         {} connections refused at the door",
        state.metrics.refusals(PreauthRefusal::connections)
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut opened = 0;
    for attacker in attackers {
        opened += attacker.await.expect("an attacker");
    }
    assert!(
        opened > 80,
        "the attackers' connections were closed to make room: {opened}"
    );
    eventually(|| state.preauth.open_connections() == 0).await;
    server.stop().await;
}

#[tokio::test]
async fn more_addresses_than_the_cap_trickling_headers_cannot_shut_out_signed_deliveries() {
    within(60, async {
        signed_deliveries_get_past_more_busy_addresses_than_the_cap(Busy::HeaderLines).await;
    })
    .await;
}

#[tokio::test]
async fn more_addresses_than_the_cap_trickling_bodies_cannot_shut_out_signed_deliveries() {
    within(60, async {
        signed_deliveries_get_past_more_busy_addresses_than_the_cap(Busy::BodyBytes).await;
    })
    .await;
}

/// What an attacker pipelines on a connection whose answers it never reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pipelined {
    /// Unsigned deliveries (`{}`, a made-up signature): each is answered 401.
    Unsigned,
}

/// A connection from `from` with a tiny receive buffer that sends `what`, pipelined, until
/// the server stops reading (a few hundred KB at most), and never reads an answer.
async fn never_reading(from: IpAddr, to: SocketAddr, what: Pipelined) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    let _ = socket.set_recv_buffer_size(1024);
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    let stream = socket.connect(to).await.expect("connect");
    let request = match what {
        Pipelined::Unsigned => format!(
            "POST /webhook HTTP/1.1\r\nhost: x\r\nx-github-event: ping\r\nx-github-delivery: d\r\n\
             content-type: application/json\r\ncontent-length: 2\r\nx-hub-signature-256: sha256={}\r\n\r\n{{}}",
            "0".repeat(64)
        ),
    };
    let blob = request.repeat(2000);
    let mut rest = blob.as_bytes();
    while !rest.is_empty() {
        match tokio::time::timeout(Duration::from_millis(300), stream.writable()).await {
            Ok(Ok(())) => match stream.try_write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            },
            // The server stopped reading (or closed): the connection is held as it is.
            _ => break,
        }
    }
    stream
}

/// Four addresses fill the connection cap with connections that pipeline `what` and never
/// read the answers, while GitHub sends signed deliveries: every one is answered 200.
async fn signed_deliveries_get_past_connections_that_never_read(what: Pipelined) {
    let service = service_with(PreauthLimits {
        max_connections: 32,
        max_connections_per_peer: 8,
        ..PreauthLimits::default()
    });
    let server = service.listen().await;
    let state = service.state.clone();
    let held: Vec<TcpStream> = futures_util::future::join_all((0..32u8).map(|n| {
        never_reading(
            IpAddr::V4(Ipv4Addr::new(127, 0, 3, 1 + n % 4)),
            server.address,
            what,
        )
    }))
    .await;
    // Past the grace and the header timeout's first second, as in a long attack.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut statuses = Vec::new();
    for i in 0..10u8 {
        let post = draft(&format!("signed-{i}"));
        let rtt = Duration::from_millis(100);
        let sent = send_across_a_network(peer(200), server.address, &post, rtt);
        let head = tokio::time::timeout(Duration::from_secs(5), sent).await;
        statuses.push(head.map_or(1, |h| h.status));
    }
    // Before, each answer blocked on the unread socket held its connection as "handling"
    // for good: every delivery was answered 503 at the door, or late.
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every signed delivery answered 200 within 5 s (0: closed before an answer, 1: \
         none within 5 s): {statuses:?}; {} refused at the door, {} connections open",
        state.metrics.refusals(PreauthRefusal::connections),
        state.preauth.open_connections()
    );
    // And the server does not keep them: each is closed once its answer has waited a few
    // seconds unread (before, all 32 stayed open as long as their senders liked).
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while state.preauth.open_connections() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{} connections that never read still open after 10 s",
        state.preauth.open_connections()
    );
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn connections_that_never_read_their_answers_cannot_shut_out_signed_deliveries() {
    within(90, async {
        signed_deliveries_get_past_connections_that_never_read(Pipelined::Unsigned).await;
    })
    .await;
}

#[tokio::test]
async fn a_captured_delivery_sent_again_on_many_connections_cannot_shut_out_signed_deliveries() {
    within(60, async {
        let service = service_with(PreauthLimits {
            max_connections: 32,
            max_connections_per_peer: 8,
            ..PreauthLimits::default()
        });
        let server = service.listen().await;
        let state = service.state.clone();
        // One captured signed delivery, sent on every connection four addresses may have,
        // each kept open once answered (a repeat, answered as before).
        let captured = draft("captured");
        let mut held = Vec::new();
        for n in 0..32u8 {
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 4, 1 + n % 4));
            let (head, stream) = send_and_stay(from, server.address, &captured).await;
            assert_eq!(head.status, 200, "{head:?}");
            held.push(stream);
        }
        eventually(|| state.preauth.open_connections() == 32).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let mut statuses = Vec::new();
        for i in 0..10u8 {
            let post = draft(&format!("signed-{i}"));
            let rtt = Duration::from_millis(100);
            let head = send_across_a_network(peer(200), server.address, &post, rtt).await;
            statuses.push(head.status);
        }
        // Before, each repeat marked its connection as GitHub's, never closed to make room.
        assert!(
            statuses.iter().all(|s| *s == 200),
            "every signed delivery answered 200: {statuses:?}; {} refused at the door",
            state.metrics.refusals(PreauthRefusal::connections)
        );
        drop(held);
        eventually(|| state.preauth.open_connections() == 0).await;
        server.stop().await;
    })
    .await;
}
