// Test support: Baton's Clock driven by the GitHub simulator's, so a simulated hour is an hour for both (token
// lifetimes, rate-limit windows). Waits move the simulator's clock instead of sleeping. Not used outside tests.
import type { Clock } from "../../runtime/clock.ts";
import type { GitHubSimulator } from "../../simulator/github/index.ts";

export function simulatorClock(sim: GitHubSimulator): Clock {
  return {
    now: () => sim.clock.now(),
    setTimeout: (fn, ms) => {
      const timer = setTimeout(fn, 0);
      sim.clock.advance(ms);
      return { cancel: () => clearTimeout(timer) };
    },
    sleep: async (ms) => {
      sim.clock.advance(ms);
    },
  };
}

/**
 * A pull request into octo-org/hello from branch `fix` of `forker`'s fork, as a first-time contributor opens one:
 * the fork, a commit of `files` on top of main, then the pull request.
 */
export async function openForkPullRequest(
  sim: GitHubSimulator,
  change: { files: Record<string, string>; title: string },
): Promise<{ pushed: { sha: string }; pr: { number: number } }> {
  await sim.fork({ owner: "octo-org", repo: "hello", into: "forker" });
  const pushed = await sim.push({
    owner: "forker",
    repo: "hello",
    branch: "fix",
    files: change.files,
    as: "forker",
    startPoint: "main",
  });
  const pr = (await sim.openPullRequest({
    owner: "octo-org",
    repo: "hello",
    head: "forker:fix",
    title: change.title,
    as: "forker",
  })) as { number: number };
  return { pushed, pr };
}
