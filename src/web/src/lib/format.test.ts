import { describe, expect, it } from "vitest";

import { formatAtSite, formatDemographics, formatGender, formatTime, plural } from "./format";

describe("times at a site", () => {
  it("are shown in the site's zone, with the zone named", () => {
    const at = "2026-11-20T09:15:00Z";
    expect(formatAtSite(at, "Europe/Berlin")).toBe("20 Nov 2026, 10:15 CET");
    expect(formatAtSite(at, "America/New_York")).toMatch(/^20 Nov 2026, 04:15 (EST|GMT-5)$/);
    expect(formatTime(at, "Asia/Tokyo")).toMatch(/^18:15:00 (GMT\+9|JST)$/);
  });

  it("show a dash when there is no time", () => {
    expect(formatAtSite(null, "Europe/Berlin")).toBe("–");
  });
});

describe("plural", () => {
  it("says 1 visit and 2 visits", () => {
    expect(plural(1, "visit")).toBe("1 visit");
    expect(plural(2, "visit")).toBe("2 visits");
    expect(plural(0, "person", "people")).toBe("0 people");
  });
});

describe("demographics", () => {
  it("say the gender capitalised and the age rounded, or a dash", () => {
    expect(formatDemographics({ gender: "female", age: 33.6 })).toBe("Female, 34");
    expect(formatDemographics({ gender: null, age: 41 })).toBe("41");
    expect(formatDemographics({ gender: null, age: null })).toBe("–");
    expect(formatGender("male")).toBe("Male");
    expect(formatGender(undefined)).toBeNull();
  });
});
