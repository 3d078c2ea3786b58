/**
 * Picks the variant for a server major from a map keyed by the lowest major that has that shape:
 * `forVersions(16, { 13: a, 16: b })` is `b`, `forVersions(15, …)` is `a`.
 */
export function forVersions<T>(major: number, variants: Record<number, T>): T {
  let best: number | undefined;
  for (const key of Object.keys(variants).map(Number)) {
    if (key <= major && (best === undefined || key > best)) best = key;
  }
  if (best === undefined) {
    throw new Error(`No variant for PostgreSQL ${major} (lowest is ${Math.min(...Object.keys(variants).map(Number))})`);
  }
  return variants[best];
}

export function majorOf(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}
