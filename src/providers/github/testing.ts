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
