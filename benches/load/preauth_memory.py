#!/usr/bin/env python3
"""What unauthenticated bodies cost `agentpods serve` in resident memory, beyond their bytes
(docs/security.md, "Still open", A8).

Starts a debug build of the service (`--dry-run`, on loopback), then opens CONNECTIONS (200)
connections from ADDRESSES (20) loopback addresses (127.0.4.1, ...), each declaring a body of
BODY (1,048,000) bytes with a made-up signature and sending all of it but its last byte at
full speed, and holds them: the ordinary lane (64 MiB) holds 64 of them, and the rest are
answered 503. It reports the server's resident memory (VmRSS from /proc) before, while they
are held, and after they are closed, and its peak (VmHWM), each in MB (10^6 bytes), and
what the held bodies themselves are (held x BODY).

Usage: AGENTPODS_BIN=target/debug/agentpods benches/load/preauth_memory.py
(ROUNDS=3 repeats the burst on the same server; PORT, CONNECTIONS, ADDRESSES, BODY.)
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("AGENTPODS_BIN", "target/debug/agentpods")
PORT = int(os.environ.get("PORT", "18291"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "200"))
ADDRESSES = int(os.environ.get("ADDRESSES", "20"))
BODY = int(os.environ.get("BODY", "1048000"))
ROUNDS = int(os.environ.get("ROUNDS", "1"))
SETTLE = float(os.environ.get("SETTLE", "3"))


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(100).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def burst(pid):
    head = (
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {id}\r\n"
        "X-Hub-Signature-256: sha256=" + "0" * 64 + "\r\n"
        f"Content-Length: {BODY}\r\n\r\n"
    )
    chunk = b"x" * (BODY - 1)
    socks = []
    for i in range(CONNECTIONS):
        address = f"127.0.4.{1 + i % ADDRESSES}"
        s = socket.socket()
        s.bind((address, 0))
        s.connect(("127.0.0.1", PORT))
        s.setblocking(False)
        socks.append([s, (head.format(id=f"mem-{i}").encode() + chunk), 0])
    # Send every connection's bytes at full speed, interleaved, until each has sent all but
    # the last byte of its body or was answered.
    deadline = time.time() + 8
    pending = list(socks)
    while pending and time.time() < deadline:
        still = []
        for entry in pending:
            s, data, sent = entry
            try:
                n = s.send(data[sent : sent + 262144])
                entry[2] = sent + n
            except BlockingIOError:
                pass
            except OSError:
                continue
            if entry[2] < len(data):
                still.append(entry)
        pending = still
        if pending:
            time.sleep(0.001)
    time.sleep(SETTLE)
    answered = 0
    for s, _, _ in socks:
        try:
            if s.recv(64).startswith(b"HTTP/1.1 503"):
                answered += 1
        except (BlockingIOError, OSError):
            pass
    held_rss = status(pid, "VmRSS")
    held = CONNECTIONS - answered
    for s, _, _ in socks:
        s.close()
    time.sleep(SETTLE)
    return held, answered, held_rss, status(pid, "VmRSS")


def main():
    work = tempfile.mkdtemp()
    env = dict(os.environ, GITHUB_WEBHOOK_SECRET="memory-test-secret", RUST_LOG="error")
    server = subprocess.Popen(
        [BIN, "serve", "--dry-run", "--config", "services.yaml", "--manifests-dir",
         os.path.join(work, "runs"), "--listen", f"127.0.0.1:{PORT}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if ready(PORT):
                break
            time.sleep(0.1)
        else:
            sys.exit("the service did not start")
        time.sleep(1)
        base = status(server.pid, "VmRSS")
        print(f"baseline VmRSS {base:.1f} MB")
        for r in range(ROUNDS):
            held, refused, during, after = burst(server.pid)
            print(
                f"round {r + 1}: {held} held ({held * BODY / 1e6:.1f} MB of bodies), "
                f"{refused} answered 503; VmRSS while held {during:.1f} MB "
                f"(+{during - base:.1f}), after {after:.1f} MB (+{after - base:.1f}); "
                f"VmHWM {status(server.pid, 'VmHWM'):.1f} MB"
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
