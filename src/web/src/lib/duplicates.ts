/** How alike two profiles are, in words a manager can act on (the API decides the bands). */
export type Likeness = "likely" | "possible" | "unlikely";

export function likeness(candidate: { below_match: boolean; below_uncertain: boolean }): Likeness {
  if (!candidate.below_match) return "likely";
  return candidate.below_uncertain ? "unlikely" : "possible";
}

export const LIKENESS_LABEL: Record<Likeness, string> = {
  likely: "Very alike",
  possible: "Possibly the same person",
  unlikely: "Probably someone else",
};

/** Similarity as a percentage with one decimal, e.g. 0.3712 → "37.1 %". */
export function formatSimilarity(similarity: number): string {
  return `${(similarity * 100).toFixed(1)} %`;
}

/** The selected candidates that recognition would call different people: the dialog warns. */
export function riskySelection<T extends { customer: { customer_id: string }; below_uncertain: boolean }>(
  candidates: readonly T[],
  selected: readonly string[],
): T[] {
  const chosen = new Set(selected);
  return candidates.filter((c) => chosen.has(c.customer.customer_id) && c.below_uncertain);
}
