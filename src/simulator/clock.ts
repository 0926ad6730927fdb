/**
 * The simulator's only source of time. Token expiry, rate-limit refill, commit dates, webhook `date` and every
 * entity timestamp read it, so a test can jump over a 90-day token lifetime with `advance()` instead of waiting.
 */
export interface SimClock {
  /** Current simulated time, epoch milliseconds. */
  now(): number;
  /** Move time forward (never backward: expiry must not "un-expire"). */
  advance(ms: number): void;
  /** Jump to an absolute time; it must not be earlier than `now()`. */
  set(epochMs: number): void;
}

export interface ClockOptions {
  /** Simulated time at start (default: the real time). */
  start?: number;
  /**
   * A frozen clock only moves through advance()/set(). The default follows real time plus the accumulated
   * offset, so timestamps of consecutive events still increase in a demo.
   */
  frozen?: boolean;
}

export function createClock(options: ClockOptions = {}, realNow: () => number = Date.now): SimClock {
  const frozen = options.frozen ?? false;
  let offset = (options.start ?? realNow()) - realNow();
  let fixed = options.start ?? realNow();
  const now = (): number => (frozen ? fixed : realNow() + offset);
  return {
    now,
    advance(ms: number): void {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`clock.advance(${ms}): expected a non-negative number`);
      if (frozen) fixed += ms;
      else offset += ms;
    },
    set(epochMs: number): void {
      const current = now();
      if (epochMs < current) throw new RangeError(`clock.set(${epochMs}): earlier than now (${current})`);
      this.advance(epochMs - current);
    },
  };
}

/** Bitbucket's webhook `date`: `yyyy-MM-ddTHH:mm:ss+0000`, a colon-less offset, no milliseconds (not RFC 3339). */
export function formatWebhookDate(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}+0000`;
}
