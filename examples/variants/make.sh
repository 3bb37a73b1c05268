#!/usr/bin/env bash
# Regenerates the payload variants in this folder from GitHub's examples in
# examples/webhooks (which are never edited). Needs jq. See README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
real="$here/../webhooks"
mkdir -p "$here/issue_comment" "$here/pull_request"

comment() { # comment <out> <jq filter>: a variant of issue_comment/created.json
    jq -c "$2" "$real/issue_comment/created.json" >"$here/issue_comment/$1.json"
}
on_pr='.issue.pull_request = {
    "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1",
    "html_url": "https://github.com/Codertocat/Hello-World/pull/1",
    "diff_url": "https://github.com/Codertocat/Hello-World/pull/1.diff",
    "patch_url": "https://github.com/Codertocat/Hello-World/pull/1.patch"}'

comment run-on-issue '.comment.body = "/agent run fix the flaky test"'
comment run-on-pull-request "$on_pr | .comment.body = \"/agent run fix the flaky test\""
comment review-with-focus "$on_pr | .comment.body = \"/agent review focus on error handling\""
comment typo-revew "$on_pr | .comment.body = \"/agent revew\""
comment help '.comment.body = "/agent help"'
comment run-with-detail '.comment.body = "Thanks for the report!\r\n\r\n/agent run fix the flaky test\r\nIt fails one run in ten on CI:\r\n\r\n- `tests/net.rs` times out\r\n- only on ARM: \"connection reset\"\r\n\r\n```\r\nkey: value\r\n```"'
comment two-runs '.comment.body = "/agent run fix the flaky test\nin tests/net.rs\n/agent run update the changelog\nfor 1.2"'
comment by-outsider '.comment.body = "/agent run fix the flaky test"
    | .comment.author_association = "NONE"
    | .comment.user.login = "drive-by" | .comment.user.id = 7777777
    | .sender.login = "drive-by" | .sender.id = 7777777'
comment by-bot '.comment.body = "/agent run fix the flaky test"
    | .comment.user.login = "renovate[bot]" | .comment.user.type = "Bot"
    | .comment.author_association = "NONE"
    | .sender.login = "renovate[bot]" | .sender.type = "Bot"'

jq -c '.pull_request.draft = true' \
    "$real/pull_request/opened.json" >"$here/pull_request/draft-opened.json"
jq -c '.pull_request.head.label = "forker:changes"
    | .pull_request.head.user.login = "forker"
    | .pull_request.head.repo.full_name = "forker/Hello-World"
    | .pull_request.head.repo.owner.login = "forker"
    | .pull_request.head.repo.fork = true
    | .pull_request.head.repo.clone_url = "https://github.com/forker/Hello-World.git"
    | .pull_request.head.sha = "0123456789abcdef0123456789abcdef01234567"
    | .pull_request.user.login = "forker"
    | .pull_request.author_association = "CONTRIBUTOR"
    | .sender.login = "forker"' \
    "$real/pull_request/opened.json" >"$here/pull_request/fork-opened.json"
