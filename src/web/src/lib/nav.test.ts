import { describe, expect, it } from "vitest";

import { addSighting } from "./arrivals";
import { canOpen, homePath, pageByKey, pageForPath, visiblePages } from "./nav";

const keys = (role: Parameters<typeof visiblePages>[0], tenant: boolean) => visiblePages(role, tenant).map((p) => p.key);

describe("role-aware navigation", () => {
  it("system_admin: tenants only until a tenant is chosen, then everything", () => {
    expect(keys("system_admin", false)).toEqual(["tenants"]);
    expect(keys("system_admin", true)).toEqual(["reports", "live", "visits", "customers", "sites", "cameras", "staff", "users", "api-keys", "audit", "tenants"]);
  });

  it("tenant_admin: all of its tenant, no tenant registry", () => {
    expect(keys("tenant_admin", true)).toEqual(["reports", "live", "visits", "customers", "sites", "cameras", "staff", "users", "api-keys", "audit"]);
  });

  it("site_manager: insights and setup of its sites, no administration", () => {
    expect(keys("site_manager", true)).toEqual(["reports", "live", "visits", "customers", "sites", "cameras", "staff"]);
    expect(canOpen(pageByKey("users"), "site_manager")).toBe(false);
    expect(canOpen(pageByKey("sites"), undefined)).toBe(false);
  });

  it("lands on reports, or on tenants for a platform admin without a tenant", () => {
    expect(homePath("system_admin", false)).toBe("/tenants");
    expect(homePath("system_admin", true)).toBe("/reports");
    expect(homePath("site_manager", true)).toBe("/reports");
  });

  it("finds the page of a nested path", () => {
    expect(pageForPath("/customers/123")?.key).toBe("customers");
    expect(pageForPath("/sites")?.key).toBe("sites");
    expect(pageForPath("/sitesX")).toBeUndefined();
  });
});

describe("live arrivals", () => {
  const base = {
    customer_id: "c1",
    site_id: "s1",
    camera_id: "cam",
    is_new_customer: true,
    snapshot_key: null,
  };

  it("adds new visits on top and folds later sightings of a visit into it", () => {
    let list = addSighting([], { ...base, visit_id: "v1", captured_at: "2026-11-25T10:00:00Z", event_id: "e1" });
    list = addSighting(list, { ...base, visit_id: "v2", customer_id: "c2", captured_at: "2026-11-25T10:01:00Z", event_id: "e2" });
    expect(list.map((a) => a.visitId)).toEqual(["v2", "v1"]);
    list = addSighting(list, { ...base, visit_id: "v1", captured_at: "2026-11-25T10:05:00+01:00", event_id: "e3", snapshot_key: "k" });
    expect(list.map((a) => a.visitId)).toEqual(["v1", "v2"]);
    expect(list[0]).toMatchObject({ sightings: 2, hasSnapshot: true, snapshotVersion: "e3", lastAt: "2026-11-25T10:00:00Z" });
  });

  it("keeps at most `limit` arrivals", () => {
    let list = addSighting([], { ...base, visit_id: "a", captured_at: "2026-11-25T10:00:00Z" });
    list = addSighting(list, { ...base, visit_id: "b", captured_at: "2026-11-25T10:00:00Z" }, 1);
    expect(list.map((a) => a.visitId)).toEqual(["b"]);
  });
});
