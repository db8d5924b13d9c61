#!/usr/bin/env node
// Generates the typed API description (`paths`, `components`, `operations`) from docs/openapi.json
// into src/web/generated/schema.ts with openapi-typescript; src/api/client.ts wraps it with
// openapi-fetch. It sits outside src/ because it is generated, not written: tools that look at the
// hand-written code (duplicates, reviews) leave it out.
//
//   node scripts/gen-api.mjs          rewrite generated/schema.ts
//   node scripts/gen-api.mjs --check  exit 1 when it is stale (docs/openapi.json changed)
//
// Deterministic: no timestamp in the banner; the openapi-typescript version is pinned in
// package-lock.json.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

import openapiTS, { astToString } from "openapi-typescript";

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const REPO_DIR = path.resolve(WEB_DIR, "..", "..");
const SPEC = path.join(REPO_DIR, "docs", "openapi.json");
const OUT = path.join(WEB_DIR, "generated", "schema.ts");

const BANNER = [
  "/* eslint-disable */",
  "/**",
  " * generated — do not edit.",
  " * Source: docs/openapi.json",
  " * Regenerate with `npm --prefix src/web run api` (after `make openapi`).",
  " */",
  "",
].join("\n");

async function generate() {
  const spec = JSON.parse(readFileSync(SPEC, "utf8"));
  const ast = await openapiTS(spec, {
    alphabetize: true,
    exportType: false,
    immutable: false,
    rootTypes: false,
    defaultNonNullable: true,
    propertiesRequiredByDefault: false,
  });
  return `${BANNER}\n${astToString(ast)}`;
}

async function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length) {
    console.error(`usage: gen-api.mjs [--check]  (unknown argument: ${unknown.join(" ")})`);
    return 2;
  }
  const content = await generate();
  const rel = path.relative(REPO_DIR, OUT).split(path.sep).join("/");
  if (args.includes("--check")) {
    if (!existsSync(OUT) || readFileSync(OUT, "utf8") !== content) {
      console.error(`${rel} is stale (docs/openapi.json changed); run \`npm --prefix src/web run api\`.`);
      return 1;
    }
    console.log(`${rel} is up to date.`);
    return 0;
  }
  if (!existsSync(OUT) || readFileSync(OUT, "utf8") !== content) {
    writeFileSync(OUT, content);
    console.log(`wrote ${rel}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
