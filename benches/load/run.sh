#!/usr/bin/env bash
# Load test: `agentpods serve --dry-run` against a Node server using @octokit/webhooks'
# middleware (benches/load/node), in the same run, with the same secret and the same signed
# 21 KB pull_request delivery (examples/variants/pull_request/draft-opened.json: a draft, so
# no agent starts), each request with a fresh X-GitHub-Delivery id and a body of its own:
# the payload brought to now (its `…_at` times, as GitHub would send it today: recorded in
# 2019, it is a stale delivery, which a dry run previews with a log line more) and followed
# by 16 characters of JSON whitespace, one of 65,536 variants signed beforehand
# (node/variants.mjs), so that each is a new delivery to agentpods, which knows a repeat by
# its body and remembers the last 10,000. REPEAT=1 sends the recorded payload itself every
# time instead, as this script did before: all but the first are then repeats, which
# agentpods answers from its log of answered deliveries without reading them.
#
# Each server is pinned to one core (SERVER_CPU, default 0) and wrk to the other
# (CLIENT_CPU, default 1), so the two servers get the same single core.
#
#   1. throughput: wrk, CONNECTIONS (32) connections for DURATION (10s), as fast as it goes;
#   2. latency at a held rate: PACED_CONNECTIONS (10) connections, each pausing PACE_MS (10)
#      before each request: about 1,000 deliveries/s; p50/p99/p99.9 as wrk measures them.
#
#   3. the whole machine (WHOLE=1, the default): each server as it ships, unpinned, and wrk
#      with two threads on the same two cores: `serve` with its default runtime (a worker
#      per core), the Node server as one process, and the Node server on node:cluster with
#      one worker per core. Only requests/s; the machine is shared with the load generator.
#
# Needs: wrk (apt-get install wrk), node >= 20 and npm, a Rust toolchain, openssl, curl.
# Each line also gives the server's own CPU time per request (cpu_us, from /proc), which a
# neighbour's load does not change. The servers take turns, ROUNDS (3) times; the summary
# keeps each one's best round.
# Usage: benches/load/run.sh            (from anywhere; prints each round and a summary)
set -euo pipefail
cd "$(dirname "$0")/../.."

SECRET="load-test-secret"
PAYLOAD="${PAYLOAD:-examples/variants/pull_request/draft-opened.json}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
PACED_CONNECTIONS="${PACED_CONNECTIONS:-10}"
PACE_MS="${PACE_MS:-10}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
ROUNDS="${ROUNDS:-3}"
WHOLE="${WHOLE:-1}"
REPEAT="${REPEAT:-0}"
AGENTPODS_PORT=18181
NODE_PORT=18182
WHOLE_AGENTPODS_PORT=18183
WHOLE_NODE_PORT=18184
WHOLE_CLUSTER_PORT=18185

for tool in wrk node npm openssl curl taskset; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done

# AGENTPODS_BIN: another build of the service to measure (say, the one before a change);
# by default the one built here, in CARGO_TARGET_DIR when that is set.
if [ -z "${AGENTPODS_BIN:-}" ]; then
    cargo build --release --quiet
    AGENTPODS_BIN="${CARGO_TARGET_DIR:-target}/release/agentpods"
fi
(cd benches/load/node && npm ci --no-audit --no-fund --silent)

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$REPEAT" != 1 ]; then
    # The payload brought to now (its `…_at` times), and its signed variants.
    GITHUB_WEBHOOK_SECRET="$SECRET" node benches/load/node/variants.mjs "$PAYLOAD" \
        "$work/payload.json" >"$work/variants"
    export VARIANTS="$work/variants" PAYLOAD="$work/payload.json"
fi
hex="$(openssl dgst -sha256 -hmac "$SECRET" -r <"$PAYLOAD" | cut -d' ' -f1)"
export SIGNATURE="sha256=$hex" PAYLOAD EVENT=pull_request
# Where the next wrk run starts in the variants: past the last one sent (wrk says where),
# so no run sends a body agentpods still remembers. A file: `bench` runs in pipelines.
echo 0 >"$work/start"

GITHUB_WEBHOOK_SECRET="$SECRET" taskset -c "$SERVER_CPU" "$AGENTPODS_BIN" serve \
    --config services.yaml --listen "127.0.0.1:$AGENTPODS_PORT" --dry-run \
    2>"$work/agentpods.log" &
pids+=($!)
GITHUB_WEBHOOK_SECRET="$SECRET" PORT="$NODE_PORT" taskset -c "$SERVER_CPU" \
    node benches/load/node/server.mjs 2>"$work/node.log" &
pids+=($!)

# Ready when each answers a signed delivery with 200.
deliver() {
    curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$1/webhook" \
        -H 'Content-Type: application/json' -H "X-GitHub-Event: pull_request" \
        -H "X-GitHub-Delivery: ready-$1-$RANDOM" -H "X-Hub-Signature-256: $SIGNATURE" \
        --data-binary "@$PAYLOAD" || true
}
wait_ready() { # port...
    local port
    for port in "$@"; do
        for _ in $(seq 100); do
            [ "$(deliver "$port")" = 200 ] && break
            sleep 0.1
        done
        [ "$(deliver "$port")" = 200 ] || { echo "error: port $port never answered 200" >&2; cat "$work"/*.log >&2; exit 1; }
    done
}
wait_ready "$AGENTPODS_PORT" "$NODE_PORT"

ticks_per_second="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# wrk's cores and threads: its own core by default; the whole-machine runs share both.
WRK_CPUS="$CLIENT_CPU"
WRK_THREADS=1

bench() { # name port pid connections [pace]
    local name="$1" port="$2" pid="$3" connections="$4" pace="${5:-0}"
    local line before after requests
    before="$(cpu_ticks "$pid")"
    line="$(PACE_MS="$pace" START="$(cat "$work/start")" THREADS="$WRK_THREADS" taskset -c "$WRK_CPUS" \
        wrk -t"$WRK_THREADS" -c"$connections" -d"$DURATION" -s benches/load/delivery.lua \
        "http://127.0.0.1:$port/webhook" | grep '^RESULT')"
    after="$(cpu_ticks "$pid")"
    requests="$(sed 's/.* requests=\([0-9]*\).*/\1/' <<<"$line")"
    sed 's/.* next_variant=\([0-9]*\).*/\1/' <<<"$line" >"$work/start"
    # The server's own CPU time per request: what a core can answer, whatever else runs.
    echo "$name ${line#RESULT } cpu_us=$(awk "BEGIN { printf \"%.0f\", ($after - $before) * 1e6 / $ticks_per_second / $requests }")"
}

echo "warming up"
DURATION=2s bench warmup "$AGENTPODS_PORT" "${pids[0]}" "$CONNECTIONS" >/dev/null
DURATION=2s bench warmup "$NODE_PORT" "${pids[1]}" "$CONNECTIONS" >/dev/null

# The servers take turns, ROUNDS times, so that a neighbour's load (a build on the same
# machine) falls on both alike; the summary keeps each one's best round.
for round in $(seq "$ROUNDS"); do
    echo "== round $round: throughput, $CONNECTIONS connections, $DURATION"
    bench agentpods "$AGENTPODS_PORT" "${pids[0]}" "$CONNECTIONS" | tee -a "$work/a-max"
    bench octokit "$NODE_PORT" "${pids[1]}" "$CONNECTIONS" | tee -a "$work/n-max"
    echo "== round $round: held rate, $PACED_CONNECTIONS connections pausing ${PACE_MS} ms (about $((PACED_CONNECTIONS * 1000 / PACE_MS))/s), $DURATION"
    bench agentpods "$AGENTPODS_PORT" "${pids[0]}" "$PACED_CONNECTIONS" "$PACE_MS" | tee -a "$work/a-paced"
    bench octokit "$NODE_PORT" "${pids[1]}" "$PACED_CONNECTIONS" "$PACE_MS" | tee -a "$work/n-paced"
done

if [ "$WHOLE" = 1 ]; then
    all_cpus="$SERVER_CPU,$CLIENT_CPU"
    GITHUB_WEBHOOK_SECRET="$SECRET" "$AGENTPODS_BIN" serve --config services.yaml \
        --listen "127.0.0.1:$WHOLE_AGENTPODS_PORT" --dry-run 2>"$work/agentpods-whole.log" &
    pids+=($!)
    GITHUB_WEBHOOK_SECRET="$SECRET" PORT="$WHOLE_NODE_PORT" \
        node benches/load/node/server.mjs 2>"$work/node-whole.log" &
    pids+=($!)
    GITHUB_WEBHOOK_SECRET="$SECRET" PORT="$WHOLE_CLUSTER_PORT" WORKERS=2 \
        node benches/load/node/server.mjs 2>"$work/cluster-whole.log" &
    pids+=($!)
    whole_pids=("${pids[@]: -3}")
    wait_ready "$WHOLE_AGENTPODS_PORT" "$WHOLE_NODE_PORT" "$WHOLE_CLUSTER_PORT"
    WRK_CPUS="$all_cpus" WRK_THREADS=2
    for port in "$WHOLE_AGENTPODS_PORT" "$WHOLE_NODE_PORT" "$WHOLE_CLUSTER_PORT"; do
        DURATION=2s bench warmup "$port" "${whole_pids[0]}" "$CONNECTIONS" >/dev/null
    done
    for round in $(seq "$ROUNDS"); do
        echo "== round $round: the whole machine, servers unpinned, wrk with 2 threads, $CONNECTIONS connections, $DURATION"
        # cpu_us: of the process named; node:cluster's workers are other processes.
        bench agentpods "$WHOLE_AGENTPODS_PORT" "${whole_pids[0]}" "$CONNECTIONS" | tee -a "$work/a-whole"
        bench octokit "$WHOLE_NODE_PORT" "${whole_pids[1]}" "$CONNECTIONS" | tee -a "$work/n-whole"
        bench octokit-cluster "$WHOLE_CLUSTER_PORT" "${whole_pids[2]}" "$CONNECTIONS" |
            sed 's/ cpu_us=[0-9]*$/ cpu_us=-/' | tee -a "$work/c-whole"
    done
fi

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$work/$1"; }
most() { field "$1" "$2" | sort -g | tail -1; }
least() { field "$1" "$2" | sort -g | head -1; }
a_rps="$(most a-max rps)" n_rps="$(most n-max rps)"
echo "== summary (best of $ROUNDS rounds)"
echo "throughput: agentpods ${a_rps}/s, octokit ${n_rps}/s: $(awk "BEGIN { printf \"%.1f\", $a_rps / $n_rps }")x"
a_cpu="$(least a-max cpu_us)" n_cpu="$(least n-max cpu_us)"
echo "server CPU per request: agentpods ${a_cpu} us, octokit ${n_cpu} us: $(awk "BEGIN { printf \"%.1f\", $n_cpu / $a_cpu }")x the requests per core"
echo "held rate: agentpods p99 $(least a-paced p99_ms) ms at up to $(most a-paced rps)/s; octokit p99 $(least n-paced p99_ms) ms at up to $(most n-paced rps)/s"
if [ "$WHOLE" = 1 ]; then
    a_whole="$(most a-whole rps)" n_whole="$(most n-whole rps)" c_whole="$(most c-whole rps)"
    echo "whole machine: agentpods ${a_whole}/s; octokit ${n_whole}/s as one process ($(awk "BEGIN { printf \"%.1f\", $a_whole / $n_whole }")x), ${c_whole}/s on node:cluster with 2 workers ($(awk "BEGIN { printf \"%.1f\", $a_whole / $c_whole }")x)"
fi
if grep -v ' errors=0 non2xx=0 cpu_us=' "$work"/[anc]-* >&2; then
    echo "warning: the lines above had errors or non-2xx answers" >&2
fi
