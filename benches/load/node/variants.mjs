// The signed bodies of benches/load, from one of GitHub's recorded payloads: first the
// payload brought to now, as GitHub would send it today (every `"…_at":"<time>"` of it set
// to the current second, the same number of bytes), written to FRESH; then COUNT (default
// 65536) variants of that, each followed by 16 characters of JSON whitespace (a space for
// a 0 bit, a tab for a 1: the variant's number in binary), so that every variant is the
// same event to any JSON reader and yet a body of its own, as GitHub's deliveries are: a
// service that knows a repeat by its body (agentpods does) handles each as new.
//
// Writes one line per variant to stdout: its 16 bits as 0s and 1s, a space, and its
// X-Hub-Signature-256. delivery.lua builds the same body from FRESH and the bits.
//
// Usage: GITHUB_WEBHOOK_SECRET=... node variants.mjs PAYLOAD FRESH [COUNT]
import { createHmac } from "node:crypto";
import { readFileSync, writeFileSync, writeSync } from "node:fs";

const secret = process.env.GITHUB_WEBHOOK_SECRET;
const [payloadPath, freshPath, countText] = process.argv.slice(2);
const count = Number(countText || 65536);
if (!secret || !payloadPath || !freshPath || !(count >= 1 && count <= 65536)) {
  console.error("usage: GITHUB_WEBHOOK_SECRET=... node variants.mjs PAYLOAD FRESH [COUNT <= 65536]");
  process.exit(2);
}
const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
const body = Buffer.from(
  readFileSync(payloadPath, "utf8").replace(
    /("\w+_at":\s*")\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/g,
    (_, key) => `${key}${now}"`,
  ),
);
writeFileSync(freshPath, body);
const lines = [];
for (let i = 0; i < count; i++) {
  const bits = i.toString(2).padStart(16, "0");
  const tail = Buffer.from(bits.replaceAll("0", " ").replaceAll("1", "\t"));
  const hmac = createHmac("sha256", secret).update(body).update(tail).digest("hex");
  lines.push(`${bits} sha256=${hmac}\n`);
}
writeSync(1, lines.join(""));
