import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Response } from "undici";
import type { Fetch } from "../runtime/kube.ts";
import { retryingFetch } from "./kube.ts";

describe("the CLI's API server requests", () => {
  it("wait out a 429 for its Retry-After, a few times, as kubectl does", async () => {
    const answers = [429, 429, 200];
    let calls = 0;
    const fake: Fetch = async () =>
      new Response("{}", { status: answers[calls++] ?? 200, headers: { "retry-after": "0" } });
    assert.equal((await retryingFetch(fake)("https://api", {})).status, 200);
    assert.equal(calls, 3);

    calls = 0;
    const busy: Fetch = async () => {
      calls++;
      return new Response("{}", { status: 429, headers: { "retry-after": "0" } });
    };
    assert.equal((await retryingFetch(busy, 3)("https://api", {})).status, 429, "then the 429 is the answer");
    assert.equal(calls, 3);
  });
});
