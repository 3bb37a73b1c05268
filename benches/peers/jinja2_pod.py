#!/usr/bin/env python3
"""The peer for benches/plan_render.rs: Jinja2 rendering the same templates.

Renders templates/prompts/review.md and templates/agent-pod.yaml for the pull_request
`opened` fixture with Jinja2, values printed as JSON-quoted scalars (the same safety rule
agentpods applies), as many times as it can in --seconds on one core, and prints renders/s.
Jinja2 here only renders text: it does not plan, parse the YAML or type the objects, which
agentpods' figure includes. With --parse it also parses the output with PyYAML's C loader.

    python3 -m venv .venv && .venv/bin/pip install jinja2 pyyaml
    taskset -c 0 .venv/bin/python benches/peers/jinja2_pod.py [--parse]
"""
import json
import os
import sys
import time

import jinja2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "examples", "webhooks", "pull_request", "opened.json")


def quote(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def context():
    payload = json.load(open(FIXTURE))
    pr = payload["pull_request"]
    repo = payload["repository"]
    return {
        "event": "pull_request",
        "action": payload["action"],
        "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "repo": {k: repo[k] for k in ("full_name", "name", "clone_url", "html_url", "default_branch", "private")},
        "sender": {"login": payload["sender"]["login"]},
        "pr": {
            "number": pr["number"], "title": pr["title"], "body": pr["body"] or "", "draft": pr["draft"],
            "head": {"ref": pr["head"]["ref"], "sha": pr["head"]["sha"]},
            "base": {"ref": pr["base"]["ref"], "sha": pr["base"]["sha"]},
            "labels": [l["name"] for l in pr["labels"]], "user": {"login": pr["user"]["login"]},
        },
        "issue": None, "comment": None, "push": None, "release": None,
        "checkout": {"ref": "refs/pull/%d/head" % pr["number"], "sha": pr["head"]["sha"]},
        "run": {
            "name": "review-pr2-d58c95d3", "namespace": "agentpods-runs", "trigger": "pull_request.opened",
            "requested_by": payload["sender"]["login"], "token_secret": None,
            "labels": {"app.kubernetes.io/managed-by": "agentpods"},
        },
        "agent": {
            "name": "review", "image": "ghcr.io/agentpods/agent:0.1.0", "command": ["codex", "exec", "--full-auto"],
            "env": {}, "secrets": [{"env": "OPENAI_API_KEY", "name": "openai-api-key", "key": "api-key"}],
            "service_account": "agentpods-agent", "automount_service_account_token": False,
            "timeout_seconds": 1200, "pending_timeout_seconds": 600, "ttl_seconds": 86400,
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        },
        "project": "agentpods-demo",
    }


def main():
    parse = "--parse" in sys.argv
    seconds = 5.0
    if "--seconds" in sys.argv:
        seconds = float(sys.argv[sys.argv.index("--seconds") + 1])
    loader = jinja2.FileSystemLoader(os.path.join(ROOT, "templates"))
    text_env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    yaml_env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                  keep_trailing_newline=True, finalize=quote)
    prompt = text_env.get_template("prompts/review.md")
    pod = yaml_env.get_template("agent-pod.yaml")
    ctx = context()
    if parse:
        import yaml
        load = lambda text: list(yaml.load_all(text, Loader=yaml.CSafeLoader))

    def once():
        task = prompt.render(ctx)
        out = pod.render(dict(ctx, task=task))
        if parse:
            assert len(load(out)) == 2
        return out

    once()
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            once()
        n += 100
    elapsed = time.perf_counter() - start
    what = "render+parse (PyYAML C loader)" if parse else "render"
    print(f"jinja2 {jinja2.__version__} {what}: {n / elapsed:,.0f}/s ({elapsed / n * 1e6:.1f} µs each)")


if __name__ == "__main__":
    main()
