//! How fast `agentpods agent` redacts an agent's output: every byte an agent prints passes
//! through [`Redactor`] on its way to the pod log. A pod's usual secrets (a GitHub token,
//! two API keys, a registry `config.json`, a PEM key) over 4 MiB of build-log-like text
//! (words, paths, hex digests, base64, URL-encoded query strings, `%` in progress lines),
//! all at once and as a stream in 4 KiB pieces. Run on one core:
//! `taskset -c 0 cargo bench --bench redact`.
//!
//! On 2026-12-02 (a shared 2-core machine, not pinned, so noisy): before case folding,
//! double URL-encoding and whole `echo | base64` patterns, 128 MiB/s whole and 123 MiB/s
//! as a stream; after, 66 and 78 MiB/s. Still far above what an agent prints, but about
//! half: the patterns to try at each byte grew (both cases of a long value's first
//! letter, eight whole-base64 forms per fragment, each line of the PEM key a fragment).

use std::hint::black_box;

use agentpods::agent::redact::Redactor;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

// The allocator the service binary uses (src/main.rs), so the figure is the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn secrets() -> Vec<String> {
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}-----END PRIVATE KEY-----\n",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n".repeat(25)
    );
    vec![
        "ghs_16C7e42F292c6912E7710c838347Ae178B4a".to_string(),
        "sk-proj-Q2xhdWRlIGlzIG5pY2U_xyzAbCdEfGhIjKlMnOpQrStUv".to_string(),
        "AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
        r#"{"auths":{"registry.example.com":{"auth":"cm9ib3Q6cmVnaXN0cnktcGFzc3dvcmQtMTIz"}}}"#
            .to_string(),
        pem,
    ]
}

/// Text such as a build prints, about `size` bytes of it.
fn output(size: usize) -> Vec<u8> {
    let lines = [
        "   Compiling serde_json v1.0.140 (/home/agent/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde_json-1.0.140)\n",
        "npm http fetch GET 200 https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz?cache=%2Ftmp%2Fnpm&x=1 53ms\n",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  dist/app.tar.gz\n",
        "Downloading 45% |#############            | 12.3 MB/27.1 MB eta 00:00:03\n",
        "data: eyJpZCI6ImNoYXRjbXBsLTEyMyIsIm9iamVjdCI6ImNoYXQuY29tcGxldGlvbi5jaHVuayJ9\n",
        "test result: ok. 412 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 2.31s\n",
        "warning: unused variable: `response` --> src/client.rs:118:13 | help: prefix it with an underscore\n",
    ];
    let mut out = Vec::with_capacity(size + 256);
    let mut i = 0;
    while out.len() < size {
        out.extend_from_slice(lines[i % lines.len()].as_bytes());
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::new(secrets());
    let text = output(4 << 20);
    assert_eq!(
        redactor.redact_bytes(&text),
        text,
        "nothing in it to redact"
    );
    let mut group = c.benchmark_group("redact");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("whole", |b| {
        b.iter(|| black_box(redactor.redact_bytes(black_box(&text))).len())
    });
    group.bench_function("stream_4k", |b| {
        b.iter(|| {
            let mut stream = redactor.stream();
            let mut n = 0;
            for piece in text.chunks(4096) {
                n += stream.push(black_box(piece)).len();
            }
            n + stream.finish().len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
