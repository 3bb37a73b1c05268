// The baseline of benches/load: @octokit/webhooks' Node middleware with the same secret
// as `agentpods serve`. It verifies the signature, parses the JSON and runs the handlers
// (none do anything, as no agent starts for the benchmark's delivery), then answers 200.
//
// PORT (default 18182) and GITHUB_WEBHOOK_SECRET come from the environment. WORKERS (default
// 1): with more, node:cluster forks that many processes sharing the port, the way Node is
// run on more than one core.
import cluster from "node:cluster";
import { createServer } from "node:http";
import { Webhooks, createNodeMiddleware } from "@octokit/webhooks";

const secret = process.env.GITHUB_WEBHOOK_SECRET;
if (!secret) {
  console.error("GITHUB_WEBHOOK_SECRET is not set");
  process.exit(1);
}
const workers = Number(process.env.WORKERS || 1);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers)) worker.kill("SIGTERM");
    process.exit(0);
  });
} else {
  serve();
}

function serve() {
  const webhooks = new Webhooks({ secret });
  webhooks.on("pull_request", () => {});
  const middleware = createNodeMiddleware(webhooks, {
    path: "/webhook",
    log: { debug() {}, info() {}, warn() {}, error: console.error },
  });
  const port = Number(process.env.PORT || 18182);
  createServer(middleware).listen(port, "127.0.0.1", () => {
    console.error(`listening on http://127.0.0.1:${port}/webhook`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
