/**
 * The simulator's entry points. Shared machinery (git http-backend, clock, faults, deliveries, rate limiter,
 * request log) lives beside this file; each Bitbucket flavour is a personality in its own folder.
 */

export * from "./bitbucket-cloud/index.ts";
export * from "./bitbucket-datacenter/index.ts";
