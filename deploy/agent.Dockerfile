# syntax=docker/dockerfile:1
# The agent image: `agentpods agent` as the entrypoint, with git, gh, kubectl and the Codex
# CLI. `docker build -f deploy/agent.Dockerfile -t agentpods-agent .` from the repo root.
# The versions are those of deploy/images/images.lock (tests/it/dockerfiles.rs holds them
# to it); docs/setup.md says where this build differs from deploy/images/build.sh.

FROM rust:1.95.0-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
# What the crate includes at compile time from outside src/ (tests/it/dockerfiles.rs).
COPY deploy/github-app.json deploy/github-app.json
COPY templates templates
RUN cargo build --release --locked --bin agentpods \
    && install -D -m 0755 target/release/agentpods /out/agentpods

FROM debian:12.15-slim
ARG KUBECTL_VERSION=v1.37.1
ARG GH_VERSION=2.102.0
ARG CODEX_VERSION=0.169.0
ARG TARGETARCH=amd64

# git for the checkout; Node.js to run the Codex CLI; curl only while building.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git nodejs npm curl \
    && rm -rf /var/lib/apt/lists/*

# kubectl and gh, each checked against the checksum its project publishes.
RUN set -eu; \
    cd /tmp; \
    curl -fsSLO "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl"; \
    curl -fsSLO "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256"; \
    echo "$(cat kubectl.sha256)  kubectl" | sha256sum -c -; \
    install -m 0755 kubectl /usr/local/bin/kubectl; \
    gh="gh_${GH_VERSION}_linux_${TARGETARCH}"; \
    curl -fsSLO "https://github.com/cli/cli/releases/download/v${GH_VERSION}/${gh}.tar.gz"; \
    curl -fsSLO "https://github.com/cli/cli/releases/download/v${GH_VERSION}/gh_${GH_VERSION}_checksums.txt"; \
    grep " ${gh}.tar.gz\$" "gh_${GH_VERSION}_checksums.txt" | sha256sum -c -; \
    tar -xzf "${gh}.tar.gz"; \
    install -m 0755 "${gh}/bin/gh" /usr/local/bin/gh; \
    rm -rf /tmp/*

# Without what `codex exec` never starts, as deploy/images/build.sh: the voice host and
# the code-mode host (the runtime of the `code_mode` feature, off).
RUN npm install --global --no-fund --no-audit "@openai/codex@${CODEX_VERSION}" \
    && rm -rf /usr/local/lib/node_modules/@openai/codex/node_modules/@openai/codex-linux-*/vendor/*/codex-resources/voice \
        /usr/local/lib/node_modules/@openai/codex/node_modules/@openai/codex-linux-*/vendor/*/bin/codex-code-mode-host \
    && npm cache clean --force \
    && apt-get purge -y curl && apt-get autoremove -y

COPY --from=builder /out/agentpods /usr/local/bin/agentpods

# The uid and gid the agent pod template runs as.
RUN groupadd --gid 10001 agent \
    && useradd --uid 10001 --gid agent --home-dir /home/agent --create-home --shell /usr/sbin/nologin agent
USER 10001:10001
ENV HOME=/home/agent
WORKDIR /workspace
ENTRYPOINT ["/usr/local/bin/agentpods", "agent"]
