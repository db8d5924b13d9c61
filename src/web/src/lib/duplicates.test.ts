import { describe, expect, it } from "vitest";

import { formatSimilarity, likeness, riskySelection } from "./duplicates";

const candidate = (id: string, below_match: boolean, below_uncertain: boolean) => ({
  customer: { customer_id: id },
  similarity: 0,
  below_match,
  below_uncertain,
});

describe("duplicate review helpers", () => {
  it("names the band the API put a candidate in", () => {
    expect(likeness(candidate("a", false, false))).toBe("likely");
    expect(likeness(candidate("a", true, false))).toBe("possible");
    expect(likeness(candidate("a", true, true))).toBe("unlikely");
  });

  it("formats similarity as a percentage", () => {
    expect(formatSimilarity(0.3712)).toBe("37.1 %");
    expect(formatSimilarity(1)).toBe("100.0 %");
  });

  it("warns only about selected candidates below the uncertain threshold", () => {
    const all = [candidate("a", true, true), candidate("b", true, false), candidate("c", true, true)];
    expect(riskySelection(all, ["a", "b"]).map((c) => c.customer.customer_id)).toEqual(["a"]);
    expect(riskySelection(all, [])).toEqual([]);
  });
});
