#!/usr/bin/env bash
# What an attacker's slow unsigned uploads cost `agentpods serve`, and whether GitHub's
# signed deliveries still get through meanwhile (docs/operations.md, "Before a signature
# is checked").
#
# Runs the debug build of the service (`cargo build`; never a release build) with
# `--dry-run` on loopback, then for DURATION seconds (30):
#   - UPLOADS (200) attackers, spread over 50 loopback addresses, each declaring a 25 MiB
#     body with a made-up signature and sending it at RATE_KIB (1280) KiB/s: slow, but
#     each would finish within the body timeout. An attacker refused (503) tries again
#     after a pause; one answered otherwise starts over.
#   - STALLED (240) stalled declarations, from STALL_ADDRESSES (4) other loopback
#     addresses: each declares an ordinary-sized body (1 MiB), sends its head and nothing
#     more, and declares again as soon as it is answered (408 past the body timeout, or
#     503) or cut off. Before bodies reserved as they arrive, two addresses doing this
#     filled the ordinary lane and every signed delivery was answered 503.
#   - HOLDERS (80) uploads from HOLD_ADDRESSES (2) more loopback addresses: each sends a
#     1 MiB body at full speed, all but its last byte, holds it, and starts over once
#     answered (408, 503) or cut off. Before each address had a share of each lane of its
#     own, two addresses doing this held the whole ordinary lane.
#   With the defaults that is 520 connections, past the service's 512: a new connection
#   then takes the place of one that carried no signed delivery (before, it was answered
#   503 at the door).
#   - TRICKLERS (0) more addresses (127.0.3.1, 127.0.3.2, … 250 to a /24), each keeping
#     one connection busy with a header line every 50 ms, never finishing its head, and
#     connecting again 20 ms after it is closed: more addresses than the cap (e.g.
#     TRICKLERS=520 UPLOADS=0 STALLED=0 HOLDERS=0) once had GitHub's deliveries closed to
#     make room.
#   - one signed delivery (examples/variants/pull_request/draft-opened.json, a draft: no
#     agent starts) every 100 ms from 127.0.0.1, each with a fresh delivery id and a body of
#     its own (the same body again is a repeat, answered from memory). With RTT_MS (0), it
#     is sent as across a network: the head and the first 14 KiB, the rest RTT_MS later.
# It reports the server's peak RSS (VmHWM from /proc; target: under 256 MiB) and how many
# signed deliveries were answered 2xx. Should the server's RSS pass MAX_RSS_MIB (1024),
# as a build without the pre-authentication budget does, it is stopped there and the
# report says so.
#
# Needs: python3, curl, openssl, a Rust toolchain (or AGENTPODS_BIN: another debug build
# to measure, e.g. one from before a change).
# Usage: benches/load/preauth.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

SECRET="load-test-secret"
PAYLOAD="examples/variants/pull_request/draft-opened.json"
DURATION="${DURATION:-30}"
UPLOADS="${UPLOADS:-200}"
STALLED="${STALLED:-240}"
STALL_ADDRESSES="${STALL_ADDRESSES:-4}"
HOLDERS="${HOLDERS:-80}"
HOLD_ADDRESSES="${HOLD_ADDRESSES:-2}"
RATE_KIB="${RATE_KIB:-1280}"
TRICKLERS="${TRICKLERS:-0}"
RTT_MS="${RTT_MS:-0}"
MAX_RSS_MIB="${MAX_RSS_MIB:-1024}"
PORT="${PORT:-18191}"

for tool in python3 curl openssl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
if [ -z "${AGENTPODS_BIN:-}" ]; then
    cargo build --quiet
    AGENTPODS_BIN="${CARGO_TARGET_DIR:-target}/debug/agentpods"
fi

work="$(mktemp -d)"
server=""
cleanup() {
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

GITHUB_WEBHOOK_SECRET="$SECRET" "$AGENTPODS_BIN" serve --config services.yaml \
    --listen "127.0.0.1:$PORT" --dry-run 2>"$work/serve.log" &
server=$!

hex="$(openssl dgst -sha256 -hmac "$SECRET" -r <"$PAYLOAD" | cut -d' ' -f1)"
ready=""
for _ in $(seq 100); do
    code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/webhook" \
        -H 'Content-Type: application/json' -H 'X-GitHub-Event: pull_request' \
        -H "X-GitHub-Delivery: ready-$RANDOM" -H "X-Hub-Signature-256: sha256=$hex" \
        --data-binary "@$PAYLOAD" || true)"
    [ "$code" = 200 ] && { ready=1; break; }
    sleep 0.2
done
[ -n "$ready" ] || { echo "error: the service never answered 200" >&2; cat "$work/serve.log" >&2; exit 1; }
echo "serving: $AGENTPODS_BIN (pid $server), VmHWM before: $(awk '/VmHWM/ { print $2 / 1024 " MiB" }' "/proc/$server/status")"

# The RSS watch: stops the server past MAX_RSS_MIB.
(
    while kill -0 "$server" 2>/dev/null; do
        rss="$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$server/status" 2>/dev/null || echo 0)"
        if [ "${rss:-0}" -gt "$MAX_RSS_MIB" ]; then
            echo "over $MAX_RSS_MIB MiB" >"$work/exceeded"
            kill -KILL "$server" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
) &

SECRET="$SECRET" PAYLOAD="$PAYLOAD" DURATION="$DURATION" UPLOADS="$UPLOADS" \
    STALLED="$STALLED" STALL_ADDRESSES="$STALL_ADDRESSES" \
    HOLDERS="$HOLDERS" HOLD_ADDRESSES="$HOLD_ADDRESSES" \
    RATE_KIB="$RATE_KIB" TRICKLERS="$TRICKLERS" RTT_MS="$RTT_MS" PORT="$PORT" \
    python3 - <<'PY' | tee "$work/report"
import asyncio, hashlib, hmac, os, time

secret = os.environ["SECRET"].encode()
payload = open(os.environ["PAYLOAD"], "rb").read()
duration = float(os.environ["DURATION"])
uploads = int(os.environ["UPLOADS"])
stalled = int(os.environ["STALLED"])
stall_addresses = max(1, int(os.environ["STALL_ADDRESSES"]))
holders = int(os.environ["HOLDERS"])
hold_addresses = max(1, int(os.environ["HOLD_ADDRESSES"]))
rate = int(os.environ["RATE_KIB"]) * 1024
tricklers = int(os.environ["TRICKLERS"])
rtt = int(os.environ["RTT_MS"]) / 1000
port = int(os.environ["PORT"])
declared = 25 * 1024 * 1024
chunk = 64 * 1024
end = time.monotonic() + duration
counts = {"refused": 0, "answered": 0, "failed": 0, "bytes": 0}
signed = {"ok": 0, "sent": 0, "worst": 0.0, "statuses": {}}
stalls = {"declared": 0, "statuses": {}, "failed": 0}
holds = {"held": 0, "statuses": {}, "failed": 0}
trickles = {"connections": 0, "failed": 0}

async def status_of(reader):
    line = await reader.readline()
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

async def attacker(n):
    source = f"127.0.0.{10 + n % 50}"
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            counts["failed"] += 1
            await asyncio.sleep(0.2)
            continue
        head = (f"POST /webhook HTTP/1.1\r\nhost: agentpods\r\ncontent-type: application/json\r\n"
                f"x-github-event: pull_request\r\nx-github-delivery: attack-{n}-{time.monotonic_ns()}\r\n"
                f"x-hub-signature-256: sha256={'0' * 64}\r\ncontent-length: {declared}\r\n\r\n")
        answer = asyncio.ensure_future(status_of(reader))
        try:
            writer.write(head.encode())
            sent = 0
            while sent < declared and not answer.done() and time.monotonic() < end:
                n_bytes = min(chunk, declared - sent)
                writer.write(b" " * n_bytes)
                await writer.drain()
                sent += n_bytes
                counts["bytes"] += n_bytes
                await asyncio.sleep(n_bytes / rate)
            status = await asyncio.wait_for(answer, timeout=max(0.1, end - time.monotonic()))
            if status == 503:
                counts["refused"] += 1
                await asyncio.sleep(0.2)
            else:
                counts["answered"] += 1
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            counts["failed"] += 1
        finally:
            answer.cancel()
            writer.close()

async def staller(n):
    source = f"127.0.1.{1 + n % stall_addresses}"
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            stalls["failed"] += 1
            await asyncio.sleep(0.2)
            continue
        try:
            writer.write((f"POST /webhook HTTP/1.1\r\nhost: agentpods\r\ncontent-type: application/json\r\n"
                          f"x-github-event: pull_request\r\nx-github-delivery: stall-{n}-{time.monotonic_ns()}\r\n"
                          f"x-hub-signature-256: sha256={'0' * 64}\r\ncontent-length: {1024 * 1024}\r\n\r\n").encode())
            await writer.drain()
            stalls["declared"] += 1
            status = await asyncio.wait_for(status_of(reader), timeout=max(0.1, end - time.monotonic()))
            stalls["statuses"][status] = stalls["statuses"].get(status, 0) + 1
            if status == 503:
                await asyncio.sleep(0.2)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            stalls["failed"] += 1
        finally:
            writer.close()

async def holder(n):
    source = f"127.0.2.{1 + n % hold_addresses}"
    size = 1024 * 1024
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            holds["failed"] += 1
            await asyncio.sleep(0.2)
            continue
        try:
            writer.write((f"POST /webhook HTTP/1.1\r\nhost: agentpods\r\ncontent-type: application/json\r\n"
                          f"x-github-event: pull_request\r\nx-github-delivery: hold-{n}-{time.monotonic_ns()}\r\n"
                          f"x-hub-signature-256: sha256={'0' * 64}\r\ncontent-length: {size}\r\n\r\n").encode()
                         + b" " * (size - 1))
            await writer.drain()
            holds["held"] += 1
            status = await asyncio.wait_for(status_of(reader), timeout=max(0.1, end - time.monotonic()))
            holds["statuses"][status] = holds["statuses"].get(status, 0) + 1
            if status == 503:
                await asyncio.sleep(0.2)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            holds["failed"] += 1
        finally:
            writer.close()

async def trickler(n):
    source = f"127.0.{3 + n // 250}.{1 + n % 250}"
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            trickles["failed"] += 1
            await asyncio.sleep(0.2)
            continue
        trickles["connections"] += 1
        closed = asyncio.ensure_future(reader.read(1))
        try:
            writer.write(b"POST /webhook HTTP/1.1\r\nhost: agentpods\r\n")
            line = 0
            while not closed.done() and time.monotonic() < end:
                await asyncio.wait([closed], timeout=0.05)
                line += 1
                writer.write(f"x-line-{line}: a\r\n".encode())
                await writer.drain()
        except OSError:
            pass
        finally:
            closed.cancel()
            writer.close()
        await asyncio.sleep(0.02)

async def github():
    i = 0
    while time.monotonic() < end:
        i += 1
        # A body of its own (trailing blanks): the same body under a new id is a repeat.
        body = payload + b"\n" + b" " * i
        signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        started = time.monotonic()
        signed["sent"] += 1
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            wire = (f"POST /webhook HTTP/1.1\r\nhost: agentpods\r\nconnection: close\r\n"
                    f"content-type: application/json\r\nx-github-event: pull_request\r\n"
                    f"x-github-delivery: signed-{i}-{time.monotonic_ns()}\r\n"
                    f"x-hub-signature-256: {signature}\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
            first = wire[:14 * 1024] if rtt else wire
            writer.write(first)
            await writer.drain()
            if rtt:
                await asyncio.sleep(rtt)
                writer.write(wire[len(first):])
                await writer.drain()
            status = await asyncio.wait_for(status_of(reader), timeout=10)
            writer.close()
        except (OSError, asyncio.TimeoutError):
            status = 0
        signed["statuses"][status] = signed["statuses"].get(status, 0) + 1
        if 200 <= status < 300:
            signed["ok"] += 1
        signed["worst"] = max(signed["worst"], time.monotonic() - started)
        await asyncio.sleep(0.1)

async def main():
    await asyncio.gather(github(), *(attacker(n) for n in range(uploads)),
                         *(staller(n) for n in range(stalled)),
                         *(holder(n) for n in range(holders)),
                         *(trickler(n) for n in range(tricklers)))

asyncio.run(main())
print(f"attackers: {uploads} x 25 MiB at {rate // 1024} KiB/s for {duration:.0f} s: "
      f"{counts['refused']} refused with 503, {counts['answered']} answered otherwise, "
      f"{counts['failed']} connections failed, {counts['bytes'] / 2**20:.0f} MiB sent")
print(f"stalled: {stalled} from {stall_addresses} addresses declaring 1 MiB and sending none: "
      f"{stalls['declared']} declarations, answered {dict(sorted(stalls['statuses'].items()))} "
      f"(0: none before the end), {stalls['failed']} connections failed")
print(f"holders: {holders} from {hold_addresses} addresses sending 1 MiB but its last byte: "
      f"{holds['held']} sent, answered {dict(sorted(holds['statuses'].items()))} "
      f"(0: none before the end), {holds['failed']} connections failed")
print(f"tricklers: {tricklers} addresses each keeping one connection trickling its head: "
      f"{trickles['connections']} connections opened, {trickles['failed']} failed")
print(f"signed deliveries: {signed['ok']} of {signed['sent']} answered 2xx "
      f"(statuses {dict(sorted(signed['statuses'].items()))}), slowest {signed['worst'] * 1000:.0f} ms")
PY

if [ -e "$work/exceeded" ]; then
    echo "server: stopped when its RSS went $(cat "$work/exceeded")"
    exit 1
fi
hwm="$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$server/status")"
echo "server: peak RSS (VmHWM) ${hwm} MiB (target: under 256 MiB)"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^agentpods_(webhook_preauth|http_connections)' || true
