#!/usr/bin/env node
// Browser end-to-end run of the dashboard against a real `appliance serve` (see
// tests/e2e/test_dashboard.py, which starts the server on a fresh database and calls this).
//
//   node e2e/run.mjs <baseUrl> '<json>'     json: {"username", "password", "screenshots"?: dir}
//
// The system_admin named in the JSON signs in and sets a tenant up through the UI; an edge
// worker (an API key created in the UI) posts face events; the live monitor, reports, visits,
// CSV export, customers and the site manager's scope are checked; every page is screenshotted
// (1280×800) and checked with axe-core, at 1280 px and at 390 px. A reload and a bookmark keep the
// user signed in (the refresh cookie), a reload after sign-out lands on /login. Every console
// error must be one a step announces and asserts (`expectErrors`); any other fails the run. The last line printed is `RESULT {json}`; the exit code
// is 0 only when every check held.
import { mkdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { CHROMIUM_ARGS, Worker, avatarPng, axeViolations, measureFirstLoad, nearVector, rng, trackScripts, unitVector } from "./lib.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..", "..");
const [base, rawConfig] = process.argv.slice(2);
if (!base || !rawConfig) {
  console.error("usage: node e2e/run.mjs <baseUrl> '<json with username, password>'");
  process.exit(2);
}
const config = JSON.parse(rawConfig.trim().startsWith("{") ? rawConfig : readFileSync(rawConfig, "utf8"));
const SHOTS = path.resolve(config.screenshots ?? path.join(REPO, "docs", "screenshots"));
const ARTIFACTS = path.resolve(config.artifacts ?? os.tmpdir());
const EXECUTABLE = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PASSWORD = "e2e-password-123";
// Usernames are unique per appliance: a run against a database that has seen one before names
// its users with a suffix ("runId" in the JSON).
const SUFFIX = config.runId ? `.${config.runId}` : "";
const ANNA = `anna.admin${SUFFIX}`;
const SAM = `sam.manager${SUFFIX}`;
const LIVE_BUDGET_MS = 2000;
mkdirSync(SHOTS, { recursive: true });

const result = {
  budget: null,
  liveLatencyMs: [],
  axe: {},
  screenshots: [],
  checks: 0,
  staffPhotoEnrolled: false,
  expectedConsoleErrors: 0,
  unexpectedConsoleErrors: [],
};
let stepNo = 0;

async function step(name, fn) {
  stepNo += 1;
  const started = Date.now();
  try {
    const value = await fn();
    result.checks += 1;
    console.log(`ok ${stepNo} - ${name} (${Date.now() - started} ms)`);
    return value;
  } catch (error) {
    console.log(`not ok ${stepNo} - ${name}`);
    console.log(`  ${String(error?.stack ?? error).split("\n").slice(0, 40).join("\n  ")}`);
    throw error;
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

// Console errors: every one must be announced by the step that causes it (`expectErrors`), which
// then asserts that it happened; any other fails the run at the end. (A failed request logs
// "Failed to load resource: … 401" in Chromium, whether or not the page handles the answer.)
let allowed = [];
function onConsoleError(who, text, url) {
  const line = `${text}${url ? ` (${url})` : ""}`;
  const match = allowed.find((a) => a.status.test(text) && a.url.test(url ?? ""));
  if (match) {
    match.seen += 1;
    result.expectedConsoleErrors += 1;
    console.log(`  [console, expected] ${who}: ${line}`);
  } else {
    result.unexpectedConsoleErrors.push(`${who}: ${line}`);
    console.log(`  [console] ${who}: ${line}`);
  }
}

/** Run `fn` while the failed requests described by `expected` ([status, url pattern]) may log
 * console errors, and assert each of them did happen. */
async function expectErrors(expected, fn) {
  const entries = expected.map(([status, url]) => ({ status: new RegExp(`status of ${status}\\b`), url, seen: 0, label: `${status} ${url}` }));
  allowed.push(...entries);
  try {
    const value = await fn();
    // The console event can trail the response a little.
    for (let i = 0; i < 20 && entries.some((e) => e.seen === 0); i++) await new Promise((r) => setTimeout(r, 100));
    const missing = entries.filter((e) => e.seen === 0).map((e) => e.label);
    assert(missing.length === 0, `expected failed requests did not happen: ${missing.join(", ")}`);
    // A page may fire several requests that fail alike (a report's charts): let the trailing ones in.
    await new Promise((r) => setTimeout(r, 1000));
    return value;
  } finally {
    allowed = allowed.filter((a) => !entries.includes(a));
  }
}

const pages = [];
async function newPage(browser, viewport = { width: 1280, height: 800 }, who = `page ${pages.length + 1}`) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, locale: "en-GB", timezoneId: "Europe/Berlin" });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (error) => {
    result.unexpectedConsoleErrors.push(`${who}: [page error] ${error.message}`);
    console.log(`  [page error] ${who}: ${error.message}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error") onConsoleError(who, message.text(), message.location()?.url);
  });
  pages.push(page);
  return page;
}

async function shoot(page, name) {
  await page.evaluate(() => document.fonts.ready);
  // no toast left over from the previous action, no tooltip from the pointer
  await page.locator(".ant-message-notice").first().waitFor({ state: "detached", timeout: 6000 }).catch(() => undefined);
  await page.mouse.move(0, 799);
  await page.waitForTimeout(250); // let antd's motion settle
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  result.screenshots.push(path.relative(REPO, file));
}

async function axe(page, name) {
  const violations = await axeViolations(page);
  result.axe[name] = violations.length;
  assert(violations.length === 0, `axe found serious/critical violations on ${name}:\n${JSON.stringify(violations, null, 2)}`);
}

/** Screenshot and accessibility check of the page as it is now. */
async function capture(page, name) {
  await shoot(page, name);
  await axe(page, name);
  const broken = await page.evaluate(() =>
    [...document.images].filter((img) => img.complete && img.naturalWidth === 0).map((img) => img.alt || img.src),
  );
  assert(broken.length === 0, `${name}: broken images ${broken.join(", ")}`);
}

async function signIn(page, username, password) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("user-menu").waitFor();
}

async function nav(page, label) {
  // The menu item (a link inside it when the sidebar is expanded; the item itself when collapsed).
  await page.getByRole("navigation", { name: "Main" }).getByRole("menuitem", { name: new RegExp(`(^|\\s)${label}$`) }).click();
  await page.getByRole("heading", { level: 1 }).first().waitFor();
}

async function waitIdle(page) {
  // antd spinners and skeletons gone
  await page.waitForFunction(() => !document.querySelector(".ant-spin-spinning, .ant-skeleton-active"), null, { timeout: 10_000 });
}

async function dialog(page, title) {
  const d = page.getByRole("dialog", { name: title });
  await d.waitFor();
  // Interact once the opening animation is over.
  await page.waitForFunction(() => !document.querySelector(".ant-modal.ant-zoom-appear, .ant-modal.ant-zoom-enter"));
  return d;
}

async function pick(page, scope, label, text) {
  // The accessible name may carry antd's "(optional)" mark after the label.
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const box = scope.getByRole("combobox", { name: new RegExp(`^${escaped}( \\(optional\\))?$`) });
  await box.click({ force: true }); // the current value's label lies over the search input
  await box.fill(text);
  // Typing filters the options to the one wanted; Enter picks the active (first) one. (Clicking
  // races the virtual list's re-render.)
  await page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option-active").filter({ hasText: text }).waitFor();
  await box.press("Enter");
  // A multiple select stays open after a pick: click somewhere neutral (the dialog's title).
  const open = page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden)");
  if (await open.count()) {
    const title = scope.locator(".ant-modal-title");
    if (await title.count()) await title.click();
    else await page.getByRole("heading", { level: 1 }).first().click();
    await open.waitFor({ state: "hidden", timeout: 3000 });
  }
}

/** Click the option of an antd Segmented control. */
async function segment(page, text) {
  await page.locator(".ant-segmented-item-label").filter({ hasText: new RegExp(`^${text}$`) }).click();
}

async function closeDialog(d) {
  await d.waitFor({ state: "detached" });
}

async function statValue(page, testId) {
  return Number((await page.getByTestId(testId).innerText()).replace(/[^\d]/g, ""));
}

const browser = await chromium.launch({ executablePath: EXECUTABLE, args: CHROMIUM_ARGS });
let exitCode = 0;
try {
  // -- budget: cold loads of the first route ------------------------------------------------------
  await step("first load budget (3 cold loads)", async () => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await measureFirstLoad(browser, `${base}/`));
    const sorted = [...runs].sort((a, b) => a.interactiveMs - b.interactiveMs);
    const median = sorted[1];
    result.budget = {
      initialJsGzipBytes: median.jsGzipBytes,
      initialJsRawBytes: median.jsRawBytes,
      initialScripts: median.scripts,
      interactiveMsMedian: Math.round(median.interactiveMs),
      interactiveMsRuns: runs.map((r) => Math.round(r.interactiveMs)),
      domContentLoadedMs: Math.round(median.domContentLoadedMs),
      shellWarmedAfterGzipBytes: median.warmedGzipBytes,
      files: median.files,
    };
    console.log(
      `  initial route JS: ${(median.jsGzipBytes / 1024).toFixed(1)} kB gzipped (${(median.jsRawBytes / 1024).toFixed(1)} kB raw, ${median.scripts} files; the shell, ${(median.warmedGzipBytes / 1024).toFixed(1)} kB, is fetched afterwards); interactive after ${result.budget.interactiveMsRuns.join(" / ")} ms`,
    );
    assert(median.jsGzipBytes <= 300 * 1024, `initial JS ${median.jsGzipBytes} B gzipped > 300 kB`);
    assert(median.interactiveMs < 1000, `first page interactive after ${median.interactiveMs} ms (budget 1000 ms)`);
  });

  // -- the platform operator sets a tenant up -----------------------------------------------------
  const admin = await newPage(browser, undefined, "system_admin");
  await step("login page", async () => {
    await admin.goto(`${base}/`);
    await admin.getByRole("button", { name: "Sign in" }).waitFor();
    await capture(admin, "login");
  });
  await step("the sign-in form fits its card at phone and desktop widths, in a sans-serif font", async () => {
    for (const width of [390, 1280]) {
      await admin.setViewportSize({ width, height: 800 });
      const layout = await admin.evaluate(() => {
        const card = document.querySelector("form")?.parentElement?.getBoundingClientRect();
        const controls = [...document.querySelectorAll("form input, form button")].map((el) => el.getBoundingClientRect());
        return {
          card: card && { left: card.left, right: card.right },
          overflow: controls.filter((r) => !card || r.left < card.left || r.right > card.right).length,
          pageScroll: document.documentElement.scrollWidth - window.innerWidth,
          font: getComputedStyle(document.querySelector("input") ?? document.body).fontFamily,
        };
      });
      assert(layout.card, "the sign-in card is there");
      assert(layout.overflow === 0, `${layout.overflow} form controls stick out of the card at ${width} px`);
      assert(layout.pageScroll <= 0, `the sign-in page scrolls sideways at ${width} px`);
      assert(!/^\s*("?Times|serif)/i.test(layout.font), `serif font on the sign-in page: ${layout.font}`);
      if (width === 390) await axe(admin, "login-phone");
    }
    await admin.setViewportSize({ width: 1280, height: 800 });
  });
  await step("a wrong password shows the API's answer", async () => {
    await expectErrors([[401, /\/v1\/auth\/session$/]], async () => {
      await admin.getByLabel("Username").fill(config.username);
      await admin.getByLabel("Password").fill("not-the-password");
      await admin.getByRole("button", { name: "Sign in" }).click();
      await admin.getByText("Wrong username or password.").waitFor();
    });
  });
  await step("system_admin signs in and lands on Tenants", async () => {
    await signIn(admin, config.username, config.password);
    await admin.waitForURL(/\/tenants$/);
    const links = await admin.getByRole("navigation", { name: "Main" }).getByRole("link").allInnerTexts();
    assert(links.join(",") === "Tenants", `a system_admin without a tenant sees only Tenants, got ${links}`);
  });

  const tenantName = `Northwind Retail${config.runId ? ` ${config.runId}` : ""}`;
  await step("create tenants (field errors from the API are shown in the form)", async () => {
    for (const name of [tenantName, `Harbor Books${config.runId ? ` ${config.runId}` : ""}`]) {
      await admin.getByRole("button", { name: "New tenant" }).click();
      const d = await dialog(admin, "New tenant");
      await d.getByLabel("Name").fill(name);
      await d.getByRole("button", { name: "Create tenant" }).click();
      await closeDialog(d);
      await admin.getByRole("cell", { name, exact: true }).waitFor();
    }
    // A duplicate name is refused by the API (409): its problem detail appears in the dialog.
    await admin.getByRole("button", { name: "New tenant" }).click();
    const d = await dialog(admin, "New tenant");
    await d.getByLabel("Name").fill(tenantName);
    await expectErrors([[409, /\/v1\/tenants$/]], async () => {
      await d.getByRole("button", { name: "Create tenant" }).click();
      await d.locator(".ant-alert-error").waitFor();
    });
    await d.getByRole("button", { name: "Cancel" }).click();
    await closeDialog(d);
    await waitIdle(admin);
    await capture(admin, "tenants");
  });
  await step("open the tenant (tenant switcher acts in it)", async () => {
    await admin.getByRole("row", { name: new RegExp(tenantName) }).getByRole("button", { name: "Open" }).click();
    await admin.waitForURL(/\/reports/);
    await admin.getByTestId("tenant-switcher").getByText(tenantName).waitFor();
  });

  const siteIds = {};
  await step("create two sites with their time zones", async () => {
    await nav(admin, "Sites");
    for (const [name, zone, address] of [
      ["Flagship Store", "Berlin", "Friedrichstraße 68, 10117 Berlin"],
      ["Airport Kiosk", "Berlin", "Terminal 1, BER Airport"],
    ]) {
      await admin.getByRole("button", { name: "New site" }).click();
      const d = await dialog(admin, "New site");
      await d.getByLabel("Name").fill(name);
      await pick(admin, d, "Time zone", zone);
      await d.getByLabel("Address").fill(address);
      await d.getByRole("button", { name: "Create site" }).click();
      await closeDialog(d);
      const link = admin.getByRole("link", { name, exact: true });
      await link.waitFor();
      siteIds[name] = (await link.getAttribute("href")).split("/").pop();
    }
    await admin.getByRole("cell", { name: "Europe/Berlin", exact: true }).first().waitFor();
  });

  await step("create cameras", async () => {
    await nav(admin, "Cameras");
    for (const [site, name, source] of [
      ["Flagship Store", "Entrance", "rtsp://10.0.0.20:554/stream1"],
      ["Flagship Store", "Checkout", "rtsp://10.0.0.21:554/stream1"],
      ["Airport Kiosk", "Gate", "0"],
    ]) {
      await admin.getByRole("button", { name: "New camera" }).click();
      const d = await dialog(admin, "New camera");
      await pick(admin, d, "Site", site);
      await d.getByLabel("Name").fill(name);
      await d.getByLabel("Source").fill(source);
      await d.getByRole("button", { name: "Add camera" }).click();
      await closeDialog(d);
      await admin.getByRole("cell", { name, exact: true }).waitFor();
    }
  });

  await step("edit a camera in the list's dialog, then remove it after the confirmation", async () => {
    await admin.getByRole("button", { name: "New camera" }).click();
    let d = await dialog(admin, "New camera");
    await pick(admin, d, "Site", "Flagship Store");
    await d.getByLabel("Name").fill("Spare");
    await d.getByLabel("Source").fill("1");
    await d.getByRole("button", { name: "Add camera" }).click();
    await closeDialog(d);
    await admin.getByRole("button", { name: "Edit Spare", exact: true }).click();
    d = await dialog(admin, "Edit camera");
    assert(await d.getByRole("combobox", { name: /^Site/ }).isDisabled(), "a camera keeps its site");
    assert((await d.getByLabel("Name").inputValue()) === "Spare", "the dialog opens with the row's values");
    await d.getByLabel("Name").fill("Spare 2");
    await d.getByRole("button", { name: "Save" }).click();
    await closeDialog(d);
    await admin.getByRole("cell", { name: "Spare 2", exact: true }).waitFor();
    await admin.getByRole("button", { name: "Remove Spare 2", exact: true }).click();
    const confirm = admin.locator(".ant-popconfirm").filter({ hasText: "Remove camera Spare 2?" });
    await confirm.getByRole("button", { name: "Remove" }).click();
    await admin.getByRole("cell", { name: "Spare 2", exact: true }).waitFor({ state: "detached" });
  });

  await step("create users: a tenant admin and a site manager for the kiosk only", async () => {
    await nav(admin, "Users");
    const users = [
      [ANNA, "Tenant admin", null],
      [SAM, "Site manager", "Airport Kiosk"],
    ];
    for (const [username, role, site] of users) {
      await admin.getByRole("button", { name: "New user" }).click();
      const d = await dialog(admin, "New user");
      await d.getByLabel("Username").fill(username);
      await d.getByLabel("Password").fill(PASSWORD);
      await d.getByText(role, { exact: true }).click();
      if (site) await pick(admin, d, "Sites", site);
      await d.getByRole("button", { name: "Create user" }).click();
      await closeDialog(d);
      await admin.getByRole("cell", { name: username, exact: true }).waitFor();
    }
    // The edit dialog: the sites field is there for a site manager only.
    await admin.getByRole("button", { name: `Edit ${SAM}`, exact: true }).click();
    const d = await dialog(admin, `Edit ${SAM}`);
    assert(await d.getByLabel("Username").isDisabled(), "a username cannot be changed");
    await d.getByRole("combobox", { name: /^Sites/ }).waitFor();
    await d.getByText("Tenant admin", { exact: true }).click();
    await d.getByRole("combobox", { name: /^Sites/ }).waitFor({ state: "detached" });
    await d.getByRole("button", { name: "Cancel" }).click();
    await closeDialog(d);
  });

  const keys = {};
  await step("create API keys; the secret is shown once", async () => {
    await nav(admin, "API keys");
    for (const site of ["Flagship Store", "Airport Kiosk"]) {
      await admin.getByRole("button", { name: "New API key" }).click();
      const d = await dialog(admin, "New API key");
      await d.getByLabel("Name").fill(`Mac mini · ${site}`);
      await pick(admin, d, "Site", site);
      await d.getByRole("button", { name: "Create key" }).click();
      const shown = await dialog(admin, "Copy the new API key");
      keys[site] = (await shown.getByTestId("api-key-secret").innerText()).trim();
      assert(keys[site].length > 20, "the API key secret is displayed");
      await shown.getByRole("button", { name: "I have stored it" }).click();
      await closeDialog(shown);
    }
    await admin.getByRole("cell", { name: "Mac mini · Airport Kiosk", exact: true }).waitFor();
  });

  // -- an edge worker sends a week of visits --------------------------------------------------------
  const workers = {};
  const cameras = {};
  const seen = new Set();
  const random = rng(20261125);
  const identities = Array.from({ length: 34 }, (_, i) => ({
    vector: unitVector(random),
    gender: random() < 0.55 ? "female" : "male",
    age: Math.round(19 + random() * 50),
    hue: Math.round(random() * 360),
    index: i,
  }));
  await step("edge workers sign in with the keys and post a week of visits", async () => {
    for (const site of Object.keys(keys)) {
      workers[site] = new Worker(base, keys[site]);
      await workers[site].login();
      const edge = await workers[site].call("GET", "/v1/edge/config");
      cameras[site] = edge.cameras.map((c) => c.id);
    }
    const now = Date.now();
    const day = 86_400_000;
    let posted = 0;
    for (let back = 6; back >= 0; back--) {
      const dayStart = new Date(now - back * day);
      dayStart.setUTCHours(7, 0, 0, 0);
      const busy = [3, 5, 4, 6, 8, 11, 7][6 - back];
      for (let n = 0; n < busy; n++) {
        const who = identities[Math.floor(random() * identities.length)];
        const at = new Date(dayStart.getTime() + random() * 10 * 3_600_000);
        if (at.getTime() > now - 120_000) continue; // the future is for the live check
        const site = random() < 0.75 ? "Flagship Store" : "Airport Kiosk";
        const siteCameras = cameras[site];
        await workers[site].face({
          siteId: siteIds[site],
          cameraId: siteCameras[Math.floor(random() * siteCameras.length)],
          vector: who.vector,
          at: at.toISOString(),
          gender: who.gender,
          age: who.age,
          png: avatarPng(who.hue),
        });
        posted += 1;
        seen.add(who);
        // Some visitors stay a while: more sightings minutes apart fold into the same visit.
        const more = random() < 0.45 ? 1 + Math.floor(random() * 3) : 0;
        let later = at.getTime();
        for (let k = 0; k < more; k++) {
          later += (2 + random() * 12) * 60_000;
          if (later > now - 120_000) break;
          await workers[site].face({
            siteId: siteIds[site],
            cameraId: siteCameras[Math.floor(random() * siteCameras.length)],
            vector: who.vector,
            at: new Date(later).toISOString(),
            gender: who.gender,
            age: who.age,
          });
          posted += 1;
        }
      }
    }
    console.log(`  posted ${posted} face events`);
  });

  // -- the tenant admin's dashboard -------------------------------------------------------------
  const anna = await newPage(browser, undefined, "tenant_admin");
  const annaScripts = trackScripts(anna);
  let visitsBefore = 0;
  await step("tenant admin signs in to Reports with every tenant page in the sidebar", async () => {
    await anna.goto(`${base}/`);
    await signIn(anna, ANNA, PASSWORD);
    await anna.waitForURL(/\/reports/);
    // What a cold browser fetched for sign-in + the Reports page (figures shown), then + charts.
    await anna.getByTestId("visitor-chart").locator("svg").first().waitFor();
    const page = await annaScripts.sum(/\/assets\/Charts-/); // the route without its lazy charts chunk
    const charts = await annaScripts.sum();
    result.budget.signedInReportsJsGzipBytes = page.gzip;
    result.budget.signedInReportsWithChartsJsGzipBytes = charts.gzip;
    console.log(
      `  sign-in + Reports: ${(page.gzip / 1024).toFixed(1)} kB gzipped JS (${page.scripts} files); with the lazily loaded charts ${(charts.gzip / 1024).toFixed(1)} kB`,
    );
    const links = await anna.getByRole("navigation", { name: "Main" }).getByRole("link").allInnerTexts();
    for (const label of ["Reports", "Live monitor", "Visits", "Customers", "Sites", "Cameras", "Staff", "Users", "API keys", "Audit log"]) {
      assert(links.includes(label), `tenant admin sees ${label}`);
    }
    assert(!links.includes("Tenants"), "tenant admin does not see Tenants");
    await waitIdle(anna);
    visitsBefore = await statValue(anna, "stat-visits");
    assert(visitsBefore > 0, "the seeded visits are counted");
    await capture(anna, "reports");
  });

  await step("report filters live in the URL (granularity, chart, site, range)", async () => {
    await segment(anna, "Bars");
    await anna.waitForURL(/chart=bar/);
    await segment(anna, "Week");
    await anna.waitForURL(/g=week/);
    // Hourly over the week: a day × hour heat map, not 168 bars.
    await segment(anna, "Hour");
    await anna.waitForURL(/g=hour/);
    const heat = anna.getByTestId("visitor-heatmap");
    await heat.waitFor();
    const days = await heat.locator("tbody tr").count();
    assert(days === 7, `the heat map has a row per day of the week (${days})`);
    await shoot(anna, "reports-heatmap");
    await segment(anna, "Day");
    await anna.waitForURL(/g=day/);
    await pick(anna, anna.getByRole("group", { name: "Report filters" }), "Site", "Flagship Store");
    await anna.waitForURL(new RegExp(`site=${siteIds["Flagship Store"]}`));
    await waitIdle(anna);
    const flagship = await statValue(anna, "stat-visits");
    assert(flagship > 0 && flagship <= visitsBefore, `site filter narrows the count (${flagship} of ${visitsBefore})`);
    const url = new URL(anna.url());
    for (const key of ["from", "to", "site", "g", "chart"]) assert(url.searchParams.has(key), `URL keeps ${key}`);
    await shoot(anna, "reports-bars");
    // back to all sites, line chart
    await pick(anna, anna.getByRole("group", { name: "Report filters" }), "Site", "All sites");
    await segment(anna, "Line");
    await anna.waitForURL(/chart=line/);
  });

  await step("live monitor connects (EventSource for the tenant admin, fetch stream for the system_admin)", async () => {
    await nav(anna, "Live monitor");
    await nav(admin, "Live monitor");
    for (const page of [anna, admin]) {
      await page.locator('[data-testid="live-status"][data-state="open"]').waitFor({ timeout: 10_000 });
    }
  });

  const live = [];
  await step(`a posted face event appears in the live monitor within ${LIVE_BUDGET_MS} ms`, async () => {
    const events = [
      { who: { vector: unitVector(random), gender: "female", age: 34, hue: 170 }, site: "Flagship Store" },
      { who: [...seen][0], site: "Flagship Store" },
    ];
    for (const { who, site } of events) {
      const started = Date.now();
      const match = await workers[site].face({
        siteId: siteIds[site],
        cameraId: cameras[site][0],
        vector: who.vector,
        at: new Date().toISOString(),
        gender: who.gender,
        age: who.age,
        png: avatarPng(who.hue),
      });
      assert(match.visit_id, "the event made a visit");
      await Promise.all(
        [anna, admin].map((page) => page.locator(`[data-visit-id="${match.visit_id}"]`).waitFor({ timeout: LIVE_BUDGET_MS })),
      );
      const elapsed = Date.now() - started;
      result.liveLatencyMs.push(elapsed);
      live.push(match);
      assert(elapsed < LIVE_BUDGET_MS, `visit shown after ${elapsed} ms`);
    }
    assert(live[0].is_new_customer === true && live[1].is_new_customer === false, "new, then returning");
    await anna.locator(`[data-visit-id="${live[0].visit_id}"]`).getByText("New visitor").waitFor();
    await anna.locator(`[data-visit-id="${live[1].visit_id}"]`).getByText("Returning").waitFor();
    await anna.locator(`[data-visit-id="${live[0].visit_id}"] img`).waitFor();
    console.log(`  shown after ${result.liveLatencyMs.join(" / ")} ms (POST included)`);
    await capture(anna, "live");
  });

  await step("the report counts the new visits", async () => {
    await nav(anna, "Reports");
    const expected = visitsBefore + live.length;
    await anna.waitForFunction(
      (n) => Number(document.querySelector('[data-testid="stat-visits"]')?.textContent?.replace(/[^\d]/g, "")) === n,
      expected,
      { timeout: 10_000 },
    );
  });

  await step("visits table and CSV download", async () => {
    await nav(anna, "Visits");
    await anna.locator("tbody tr.ant-table-row").first().waitFor();
    await waitIdle(anna);
    await capture(anna, "visits");
    const [download] = await Promise.all([anna.waitForEvent("download"), anna.getByTestId("export-csv").click()]);
    const file = await download.path();
    const csv = readFileSync(file, "utf8");
    const lines = csv.trim().split(/\r?\n/);
    assert(download.suggestedFilename().endsWith(".csv"), `a .csv file (${download.suggestedFilename()})`);
    assert(lines.length >= visitsBefore + live.length, `CSV has a row per visit (${lines.length - 1} rows)`);
    assert(csv.includes(live[0].visit_id), "CSV contains the live visit");
    // New-only filter in the URL
    await segment(anna, "New");
    await anna.waitForURL(/kind=new/);
  });

  await step("customers list, detail with snapshots, merge and erase", async () => {
    await nav(anna, "Customers");
    await anna.locator("tbody tr.ant-table-row").first().waitFor();
    await waitIdle(anna);
    await capture(anna, "customers");
    // A bookmark opened (a full page load): the refresh cookie keeps the user signed in.
    const refreshed = anna.waitForResponse((r) => r.url().endsWith("/v1/auth/session/refresh"));
    await anna.goto(`${base}/customers/${live[1].customer_id}`);
    assert((await refreshed).status() === 200, "the session is refreshed from its cookie after the page load");
    await anna.getByTestId("user-menu").waitFor();
    assert(new URL(anna.url()).pathname === `/customers/${live[1].customer_id}`, `still on the customer, not ${anna.url()}`);
    assert((await anna.getByRole("button", { name: "Sign in" }).count()) === 0, "no sign-in form after the reload");
    await anna.getByRole("list", { name: "Visits of this customer" }).locator("img").first().waitFor();
    await waitIdle(anna);
    await capture(anna, "customer");
    // merge another profile into this one
    await anna.getByRole("button", { name: "Merge…" }).click();
    const merge = await dialog(anna, /^Merge into/);
    // Candidates come with their faces and similarity, most alike first; an unrelated one warns.
    const profiles = merge.getByRole("list", { name: "Profiles to merge" });
    await profiles.getByRole("checkbox").first().check();
    await capture(anna, "customer-merge");
    const mergeButton = merge.getByRole("button", { name: /^Merge( anyway)?$/ });
    if ((await mergeButton.innerText()).includes("anyway")) {
      await merge.getByText(/less alike than the uncertain threshold/).waitFor();
    }
    await mergeButton.click();
    await closeDialog(merge);
    await anna.getByText(/profile merged into/).waitFor();
    // erase needs the typed confirmation
    await anna.getByRole("button", { name: "Erase…" }).click();
    const erase = await dialog(anna, /^Erase/);
    const ok = erase.getByRole("button", { name: "Erase permanently" });
    assert(await ok.isDisabled(), "erase is disabled until confirmed");
    await erase.getByLabel("Type erase to confirm").fill("erase");
    // The erased profile's open page asks for it once more before leaving it (404).
    await expectErrors([[404, new RegExp(`/v1/customers/${live[1].customer_id}$`)]], async () => {
      await ok.click();
      await anna.getByRole("dialog", { name: "Customer erased" }).waitFor();
    });
    await anna.waitForURL(/\/customers$/);
    await anna.getByRole("button", { name: "OK" }).click();
  });

  await step("a face in the uncertain band becomes a new profile and a suggestion; the manager merges it", async () => {
    const site = "Flagship Store";
    const someone = unitVector(random);
    const post = (vector, hue) =>
      workers[site].face({ siteId: siteIds[site], cameraId: cameras[site][0], vector, at: new Date().toISOString(), png: avatarPng(hue) });
    const first = await post(someone, 30);
    const lookalike = await post(nearVector(someone, 0.35, random), 31);
    assert(lookalike.is_new_customer && lookalike.customer_id !== first.customer_id, "an uncertain match is never merged silently");
    await nav(anna, "Customers");
    await anna.getByRole("tab", { name: "Possible duplicates" }).click();
    const row = anna.locator("tbody tr.ant-table-row").filter({ hasText: lookalike.customer_id.slice(0, 8) }).first();
    await row.waitFor();
    await waitIdle(anna);
    await capture(anna, "customers-duplicates");
    await row.getByRole("button", { name: "Same person" }).click();
    await anna.locator(".ant-popconfirm").getByRole("button", { name: "Merge" }).click();
    await anna.getByText("Profiles merged").waitFor();
  });

  await step("sites, site detail, cameras, staff, users, API keys and audit pages", async () => {
    await nav(anna, "Sites");
    await anna.getByRole("link", { name: "Flagship Store" }).waitFor();
    await capture(anna, "sites");
    await anna.getByRole("link", { name: "Flagship Store" }).click();
    await anna.getByRole("cell", { name: "Entrance", exact: true }).waitFor();
    await capture(anna, "site");
    await nav(anna, "Cameras");
    await anna.getByRole("cell", { name: "Checkout", exact: true }).waitFor();
    await capture(anna, "cameras");
    await nav(anna, "Staff");
    await anna.getByRole("button", { name: "New staff member" }).click();
    const d = await dialog(anna, "New staff member");
    await d.getByLabel("Name").fill("Maria Keller");
    await pick(anna, d, "Works at", "Flagship Store");
    await d.getByRole("button", { name: "Add" }).click();
    await closeDialog(d);
    await anna.getByRole("row", { name: /Maria Keller/ }).waitFor();
    if (config.staffPhoto) {
      // photo enrolment through the upload button (needs the face models on the server)
      const row = anna.getByRole("row", { name: /Maria Keller/ });
      const [chooser] = await Promise.all([anna.waitForEvent("filechooser"), row.getByRole("button", { name: "Enrol photo" }).click()]);
      await chooser.setFiles(config.staffPhoto);
      await anna.getByText(/Photo enrolled for Maria Keller \(face score/).waitFor({ timeout: 30_000 });
      result.staffPhotoEnrolled = true;
    } else {
      console.log("  (no staffPhoto in the config: photo enrolment not exercised)");
    }
    await capture(anna, "staff");
    await nav(anna, "Users");
    await anna.getByRole("cell", { name: SAM, exact: true }).waitFor();
    await capture(anna, "users");
    await nav(anna, "API keys");
    await anna.getByRole("cell", { name: "Mac mini · Flagship Store", exact: true }).waitFor();
    await capture(anna, "api-keys");
    await nav(anna, "Audit log");
    await anna.getByText("visits.export").first().waitFor();
    await capture(anna, "audit");
  });

  await step("tablet width (820 px): no horizontal overflow, navigation collapses", async () => {
    await anna.setViewportSize({ width: 820, height: 1180 });
    for (const label of ["Reports", "Live monitor", "Visits", "Customers", "Sites", "Cameras", "Staff", "Users", "API keys", "Audit log"]) {
      await nav(anna, label);
      await waitIdle(anna);
      const overflow = await anna.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 1, `${label} overflows by ${overflow} px at 820 px`);
    }
    await nav(anna, "Reports");
    await waitIdle(anna);
    await shoot(anna, "reports-tablet");
    await anna.setViewportSize({ width: 1280, height: 800 });
  });

  await step("phone width (390 px): navigation in a drawer, no page scrolls sideways", async () => {
    await anna.setViewportSize({ width: 390, height: 844 });
    await anna.getByRole("button", { name: "Open navigation" }).waitFor();
    const strip = await anna.locator(".app-sider").count();
    assert(strip === 0, "no permanent sidebar at phone width");
    for (const label of ["Reports", "Live monitor", "Visits", "Customers", "Sites", "Cameras", "Staff", "Users", "API keys", "Audit log"]) {
      await anna.getByRole("button", { name: "Open navigation" }).click();
      const drawer = anna.locator(".ant-drawer-open");
      await drawer.getByRole("navigation", { name: "Main" }).getByRole("menuitem", { name: new RegExp(`(^|\\s)${label}$`) }).click();
      await anna.locator(".ant-drawer-open").waitFor({ state: "hidden" });
      await anna.getByRole("heading", { level: 1 }).first().waitFor();
      await waitIdle(anna);
      const overflow = await anna.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 1, `${label} scrolls sideways by ${overflow} px at 390 px`);
      const mainWidth = await anna.evaluate(() => document.getElementById("main")?.getBoundingClientRect().width ?? 0);
      assert(mainWidth >= 380, `${label}: the page is ${mainWidth} px wide at 390 px`);
      // The drawer's closing motion must be over: half-faded menu text fails the contrast rule.
      await anna.locator(".ant-drawer-content-wrapper").waitFor({ state: "hidden" });
      if (label === "Visits") await shoot(anna, "visits-phone");
      await axe(anna, `${label.toLowerCase().replace(/ /g, "-")}-phone`);
    }
    await anna.setViewportSize({ width: 1280, height: 800 });
  });

  await step("the system_admin's tenant pages answer in the chosen tenant, also after a reload", async () => {
    await nav(admin, "Sites");
    await admin.getByRole("link", { name: "Airport Kiosk" }).waitFor();
    // The chosen tenant is kept for this tab: a reload is back in it, signed in.
    await admin.reload();
    await admin.getByTestId("tenant-switcher").getByText(tenantName).waitFor();
    await admin.getByRole("link", { name: "Airport Kiosk" }).waitFor();
    await nav(admin, "Tenants");
    await admin.getByRole("row", { name: new RegExp(tenantName) }).getByText("in use").waitFor();
  });

  // -- the site manager sees its site only ----------------------------------------------------------
  let samPage = null;
  await step("site manager: another site's page is not found, own site opens, admin pages are closed", async () => {
    const sam = await newPage(browser, undefined, "site_manager");
    await sam.goto(`${base}/sites/${siteIds["Flagship Store"]}`);
    await expectErrors([[404, new RegExp(`/v1/sites/${siteIds["Flagship Store"]}$`)]], async () => {
      await signIn(sam, SAM, PASSWORD);
      await sam.waitForURL(new RegExp(`/sites/${siteIds["Flagship Store"]}`));
      await sam.getByText("Site not found").waitFor();
    });
    await capture(sam, "site-manager-denied");
    const links = await sam.getByRole("navigation", { name: "Main" }).getByRole("link").allInnerTexts();
    for (const hidden of ["Users", "API keys", "Audit log", "Tenants"]) assert(!links.includes(hidden), `site manager does not see ${hidden}`);
    await nav(sam, "Sites");
    await sam.getByRole("link", { name: "Airport Kiosk" }).waitFor();
    assert((await sam.getByRole("link", { name: "Flagship Store" }).count()) === 0, "the flagship is not listed");
    await sam.getByRole("link", { name: "Airport Kiosk" }).click();
    await sam.getByRole("cell", { name: "Gate", exact: true }).waitFor();
    // a report for the other site is refused with the API's problem detail
    await expectErrors([[404, new RegExp(`/v1/reports/.*site_id=${siteIds["Flagship Store"]}`)]], async () => {
      await sam.evaluate((site) => {
        history.pushState({}, "", `/reports?site=${site}`);
        dispatchEvent(new PopStateEvent("popstate"));
      }, siteIds["Flagship Store"]);
      await sam.locator(".ant-alert-error").getByText(/not found/i).first().waitFor();
    });
    // the admin-only page answers with a 403 page
    await sam.evaluate(() => {
      history.pushState({}, "", "/users");
      dispatchEvent(new PopStateEvent("popstate"));
    });
    await sam.getByText("You do not have access to this page").waitFor();
    await nav(sam, "Reports");
    await waitIdle(sam);
    await shoot(sam, "site-manager-reports");
    samPage = sam;
  });

  await step("signed out in another tab: the live stream ends (revoked), the refresh is refused, the page asks to sign in", async () => {
    const sam = samPage;
    await nav(sam, "Live monitor");
    await sam.locator('[data-testid="live-status"][data-state="open"]').waitFor();
    // A second tab of the same browser (same cookies) opens a bookmark and signs out there.
    const tab = await sam.context().newPage();
    tab.on("console", (message) => {
      if (message.type() === "error") onConsoleError("site_manager tab 2", message.text(), message.location()?.url);
    });
    await tab.goto(`${base}/sites`);
    await tab.getByTestId("user-menu").waitFor();
    await expectErrors([[401, /\/v1\/auth\/session\/refresh$/]], async () => {
      await tab.getByTestId("user-menu").click();
      await tab.getByRole("menuitem", { name: "Sign out" }).click();
      await tab.waitForURL(/\/login/);
      // The first tab's stream ends with `revoked` within the server's recheck (2 s); its refresh
      // is refused (401): it stops reconnecting and shows the sign-in page.
      await sam.waitForURL(/\/login/, { timeout: 10_000 });
      await sam.getByText("Your session has ended. Sign in again to continue.").waitFor();
    });
    await tab.close();
  });

  await step("a reload keeps the user signed in on the same page", async () => {
    await nav(anna, "Visits");
    await anna.locator("tbody tr.ant-table-row").first().waitFor();
    const before = anna.url();
    const refreshed = anna.waitForResponse((r) => r.url().endsWith("/v1/auth/session/refresh"));
    await anna.reload();
    assert((await refreshed).status() === 200, "the reload refreshed the session");
    await anna.locator("tbody tr.ant-table-row").first().waitFor();
    assert(anna.url() === before, `a reload stays on ${before}, got ${anna.url()}`);
    await anna.getByTestId("user-menu").waitFor();
    // The refresh cookie is httpOnly, SameSite=Strict and sent only to the session routes.
    const cookies = await anna.context().cookies();
    const secret = cookies.find((c) => c.name === "appliance_session");
    assert(secret && secret.httpOnly && secret.sameSite === "Strict" && secret.path === "/v1/auth/session", `refresh cookie attributes: ${JSON.stringify(secret)}`);
    assert(!(await anna.evaluate(() => document.cookie)).includes("appliance_session"), "the page cannot read the refresh cookie");
  });

  await step("sign out returns to the sign-in page; a reload then stays there", async () => {
    await anna.getByTestId("user-menu").click();
    const ending = anna.waitForRequest((r) => r.url().endsWith("/v1/auth/session") && r.method() === "DELETE");
    await anna.getByRole("menuitem", { name: "Sign out" }).click();
    await anna.waitForURL(/\/login/);
    await anna.getByRole("button", { name: "Sign in" }).waitFor();
    // The DELETE is a keepalive request that outlives the page's navigation: Playwright does not
    // always report its response (a loaded box missed it), the browser still applies it.
    const ended = await (await ending).response().catch(() => null);
    assert(ended === null || ended.status() === 204, `the server ended the session (${ended?.status()})`);
    // Only the server's answer can clear the httpOnly refresh cookie: that proves the session ended.
    let left = [];
    for (const started = Date.now(); Date.now() - started < 10_000; await anna.waitForTimeout(100)) {
      left = (await anna.context().cookies()).filter((c) => c.name.startsWith("appliance_"));
      if (left.length === 0) break;
    }
    assert(left.length === 0, `sign-out cleared the cookies, left: ${left.map((c) => c.name)}`);
    await anna.reload();
    await anna.getByRole("button", { name: "Sign in" }).waitFor();
    assert(/\/login$/.test(new URL(anna.url()).pathname), `after sign-out a reload lands on /login, got ${anna.url()}`);
    // a bookmark of a page too
    await anna.goto(`${base}/visits`);
    await anna.waitForURL(/\/login/);
    await anna.getByRole("button", { name: "Sign in" }).waitFor();
  });
  await step("no unexpected console errors on any page", async () => {
    assert(
      result.unexpectedConsoleErrors.length === 0,
      `unexpected console errors:\n  ${result.unexpectedConsoleErrors.join("\n  ")}`,
    );
  });
} catch {
  exitCode = 1;
  for (const [i, page] of pages.entries()) {
    const file = path.join(ARTIFACTS, `dashboard-e2e-failure-${i}.png`);
    await page.screenshot({ path: file }).catch(() => undefined);
    console.log(`  failure screenshot: ${file}`);
  }
} finally {
  await browser.close();
}
delete result.budget?.files;
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(exitCode);
