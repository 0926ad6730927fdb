export interface Version {
  major: number;
  minor: number;
  patch: number;
  /** As the server reported it, e.g. `8.19.1` or `9.4.0-SNAPSHOT`. */
  raw: string;
}

/** Reads the leading `major[.minor[.patch]]`; anything after it (`-rc1`, `-SNAPSHOT`) is ignored. */
export function parseVersion(raw: string): Version | undefined {
  const match = /^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(raw);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2] ?? 0), patch: Number(match[3] ?? 0), raw: raw.trim() };
}

export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function atLeast(version: Version, minimum: string): boolean {
  const min = parseVersion(minimum);
  if (!min) throw new TypeError(`invalid minimum version ${JSON.stringify(minimum)}`);
  return compareVersions(version, min) >= 0;
}

/**
 * First releases of what Baton depends on (docs/reference/bitbucket-data-center.md). Project webhooks are
 * documented from 8.9 (8.8 is unconfirmed), so 8.9 is the safe floor.
 */
export const FEATURE_SINCE = {
  projectAccessTokens: "7.17",
  buildStatusGetByKey: "7.14",
  projectWebhooks: "8.9",
  draftPullRequests: "8.18",
} as const;

export type Feature = keyof typeof FEATURE_SINCE;
export type Features = Record<Feature, boolean>;

export function featuresOf(version: Version): Features {
  const out = {} as Features;
  for (const [feature, since] of Object.entries(FEATURE_SINCE) as [Feature, string][]) {
    out[feature] = atLeast(version, since);
  }
  return out;
}
