// Helpers for the browser E2E (run.mjs): a tiny API client for the worker side, synthetic
// snapshots, face vectors, axe-core, and the load budget measurement.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { gzipSync, deflateSync } from "node:zlib";

const require = createRequire(import.meta.url);

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

// -- a seeded random source, so the seeded history and screenshots are the same every run -----

export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random) {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A random unit vector: unrelated identities are near-orthogonal in 128 dimensions. */
export function unitVector(random, dim = 128) {
  const v = Array.from({ length: dim }, () => gaussian(random));
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** A unit vector with exactly the given cosine similarity to the unit vector `base`. */
export function nearVector(base, cosine, random) {
  const noise = base.map(() => gaussian(random));
  const along = noise.reduce((sum, x, i) => sum + x * base[i], 0);
  const ortho = noise.map((x, i) => x - along * base[i]);
  const norm = Math.hypot(...ortho);
  return base.map((b, i) => cosine * b + Math.sqrt(1 - cosine * cosine) * (ortho[i] / norm));
}

// -- a synthetic face crop (PNG) -------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A 96×96 illustrated "face" (no real person) in a colour picked by `hue` (0..360). */
export function avatarPng(hue, size = 96, tone = (hue * 7) % 4) {
  const hsl = (h, s, l) => {
    const a = s * Math.min(l, 1 - l);
    const f = (n) => {
      const k = (n + h / 30) % 12;
      return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
    };
    return [f(0), f(8), f(4)];
  };
  const bg = hsl(hue, 0.45, 0.82);
  const skin = hsl(26, 0.45, [0.8, 0.7, 0.56, 0.42][tone] ?? 0.7);
  const hair = hsl(hue, 0.35, 0.3);
  const shirt = hsl(hue, 0.55, 0.45);
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      const dx = x - size / 2;
      const head = (dx / 22) ** 2 + ((y - 40) / 27) ** 2 <= 1;
      const hairCap = (dx / 24) ** 2 + ((y - 32) / 22) ** 2 <= 1 && y < 34;
      const body = (dx / 38) ** 2 + ((y - 104) / 34) ** 2 <= 1;
      const eye = (((x - 39) ** 2 + (y - 40) ** 2 <= 6) || ((x - 57) ** 2 + (y - 40) ** 2 <= 6));
      const mouth = Math.abs(y - 53) <= 1 && Math.abs(dx) <= 7;
      let c = bg;
      if (body) c = shirt;
      if (head) c = skin;
      if (hairCap) c = hair;
      if (eye || mouth) c = [60, 45, 40];
      row.set(c, 1 + x * 3);
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// -- the worker's side of the API --------------------------------------------------------------

export class Worker {
  constructor(base, apiKey) {
    this.base = base;
    this.apiKey = apiKey;
    this.token = null;
  }

  async login() {
    const r = await fetch(`${this.base}/v1/auth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ grant_type: "api_key", api_key: this.apiKey }),
    });
    if (!r.ok) throw new Error(`worker login: ${r.status} ${await r.text()}`);
    this.token = (await r.json()).access_token;
  }

  async call(method, path, body) {
    const r = await fetch(`${this.base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.json();
  }

  /** Upload a snapshot through a presigned URL; returns its key. */
  async snapshot(cameraId, eventId, png) {
    const up = await this.call("POST", "/v1/events/snapshot-url", { camera_id: cameraId, event_id: eventId, content_type: "image/png" });
    const r = await fetch(up.upload_url, { method: up.method, headers: up.headers, body: png });
    if (!r.ok) throw new Error(`snapshot upload: ${r.status} ${await r.text()}`);
    return up.snapshot_key;
  }

  /** POST /v1/events/face for one face (Event.FaceDetected.v1). */
  async face({ siteId, cameraId, vector, at, gender, age, png }) {
    const eventId = crypto.randomUUID();
    const snapshotKey = png ? await this.snapshot(cameraId, eventId, png) : undefined;
    return this.call("POST", "/v1/events/face", {
      event_id: eventId,
      site_id: siteId,
      camera_id: cameraId,
      captured_at: at,
      embedding: vector,
      det_score: 0.93,
      bbox: [100, 80, 120, 150],
      landmarks: [
        [130, 120],
        [190, 120],
        [160, 150],
        [135, 185],
        [185, 185],
      ],
      quality: 0.8,
      is_staff_local: false,
      model: { name: "e2e-stand-in", version: "1" },
      ...(gender ? { gender } : {}),
      ...(age ? { age } : {}),
      ...(snapshotKey ? { snapshot_key: snapshotKey } : {}),
    });
  }
}

// -- accessibility -------------------------------------------------------------------------------

const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** axe-core's serious and critical violations on the current page (WCAG 2.x A/AA + best practice). */
export async function axeViolations(page) {
  // Evaluated through the DevTools protocol, so the page's Content-Security-Policy (which forbids
  // inline scripts) stays on.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

// -- the load budget -----------------------------------------------------------------------------

/**
 * Load `url` in a fresh context (cold cache) and measure: the JavaScript the first route needed
 * (every script requested before the page became interactive; raw and gzip -9), and the time from
 * navigation start until the sign-in form is interactive (the app's `app-interactive` mark, set
 * once the form rendered). Scripts fetched afterwards (the shell, warmed while the user types)
 * are reported separately.
 */
export async function measureFirstLoad(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const bodies = new Map();
  const cspErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error" && message.text().includes("Content Security Policy")) cspErrors.push(message.text());
  });
  page.on("response", (response) => {
    if (response.request().resourceType() === "script") bodies.set(response.url(), response.body().catch(() => Buffer.alloc(0)));
  });
  await page.goto(url, { waitUntil: "load" });
  await page.getByRole("button", { name: "Sign in" }).waitFor({ state: "visible" });
  await page.waitForFunction(() => performance.getEntriesByName("app-interactive").length > 0);
  await page.waitForTimeout(1500); // let the background warm-up finish, to report it too
  const timing = await page.evaluate(() => {
    const mark = performance.getEntriesByName("app-interactive")[0];
    const nav = performance.getEntriesByType("navigation")[0];
    const scripts = performance
      .getEntriesByType("resource")
      .filter((r) => r.name.endsWith(".js"))
      .map((r) => ({ url: r.name, before: r.startTime <= mark.startTime }));
    return { interactiveMs: mark.startTime, domContentLoadedMs: nav ? nav.domContentLoadedEventEnd : null, scripts };
  });
  const measure = async (list) => {
    let raw = 0;
    let gzip = 0;
    const files = [];
    for (const { url: scriptUrl } of list) {
      const body = (await bodies.get(scriptUrl)) ?? Buffer.alloc(0);
      const gz = gzipSync(body, { level: 9 }).length;
      raw += body.length;
      gzip += gz;
      files.push({ file: new URL(scriptUrl).pathname, raw: body.length, gzip: gz });
    }
    return { raw, gzip, files };
  };
  const initial = await measure(timing.scripts.filter((s) => s.before));
  const later = await measure(timing.scripts.filter((s) => !s.before));
  await context.close();
  if (cspErrors.length) throw new Error(`the page broke its Content-Security-Policy: ${cspErrors.join("; ")}`);
  return {
    interactiveMs: timing.interactiveMs,
    domContentLoadedMs: timing.domContentLoadedMs,
    scripts: initial.files.length,
    jsRawBytes: initial.raw,
    jsGzipBytes: initial.gzip,
    files: initial.files,
    warmedGzipBytes: later.gzip,
    warmedScripts: later.files.length,
  };
}

/** Every script a page fetched so far: count, raw and gzip -9 bytes; `exclude` leaves URLs out. */
export function trackScripts(page) {
  const bodies = new Map();
  page.on("response", (response) => {
    if (response.request().resourceType() === "script") bodies.set(response.url(), response.body().catch(() => Buffer.alloc(0)));
  });
  return {
    async sum(exclude = null) {
      let raw = 0;
      let gzip = 0;
      let scripts = 0;
      const chosen = [...bodies.entries()].filter(([url]) => !exclude || !exclude.test(url));
      for (const body of await Promise.all(chosen.map(([, body]) => body))) {
        scripts += 1;
        raw += body.length;
        gzip += gzipSync(body, { level: 9 }).length;
      }
      return { scripts, raw, gzip };
    },
  };
}
