// Extracts, from npm `@octokit/openapi` (GitHub's REST description), the request schemas of
// the operations agentpods calls, so the fake GitHub validates request bodies offline.
//
//   npm install --no-save @octokit/openapi@23.0.2
//   node tests/it/support/fake_github/openapi/extract.mjs node_modules/@octokit/openapi \
//     > tests/it/support/fake_github/openapi/operations.json
import { readFileSync } from "node:fs";
import { join } from "node:path";

const OPERATIONS = [
  ["get", "/repos/{owner}/{repo}/installation"],
  ["post", "/app/installations/{installation_id}/access_tokens"],
  ["delete", "/installation/token"],
  ["get", "/repos/{owner}/{repo}/collaborators/{username}/permission"],
  ["get", "/orgs/{org}/teams/{team_slug}/memberships/{username}"],
  ["get", "/repos/{owner}/{repo}/pulls/{pull_number}"],
  ["get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"],
  ["post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"],
  ["post", "/repos/{owner}/{repo}/check-runs"],
  ["patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"],
  ["get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"],
  ["post", "/repos/{owner}/{repo}/statuses/{sha}"],
  ["post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"],
  ["get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["get", "/app/hook/deliveries"],
  ["post", "/app/hook/deliveries/{delivery_id}/attempts"],
  ["post", "/repos/{owner}/{repo}/pulls"],
  ["get", "/repos/{owner}/{repo}/pulls"],
  ["get", "/rate_limit"],
  ["get", "/app"],
  ["get", "/user"],
  ["post", "/app-manifests/{code}/conversions"],
  ["get", "/repos/{owner}/{repo}/git/ref/{ref}"],
  ["get", "/repos/{owner}/{repo}/git/tags/{tag_sha}"],
  ["get", "/repos/{owner}/{repo}/contents/{path}"],
];

const dir = process.argv[2];
const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
const spec = JSON.parse(readFileSync(join(dir, "generated", "api.github.com.deref.json"), "utf8"));

const operations = {};
for (const [method, path] of OPERATIONS) {
  const op = spec.paths[path]?.[method];
  if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the description`);
  const body = op.requestBody?.content?.["application/json"]?.schema ?? null;
  const query = (op.parameters ?? [])
    .filter((p) => p.in === "query")
    .map((p) => ({ name: p.name, schema: p.schema }));
  operations[`${method.toUpperCase()} ${path}`] = {
    operationId: op.operationId,
    requestBodyRequired: op.requestBody?.required ?? false,
    body,
    query,
  };
}
process.stdout.write(
  JSON.stringify({ package: `${pkg.name}@${pkg.version}`, operations }, null, 1) + "\n",
);
