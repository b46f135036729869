/** A token bucket: at most `perSecond` events per second on average, bursts up to one second's worth. */
export class RateLimiter {
  private tokens: number;
  private last = process.hrtime.bigint();

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  take(): boolean {
    const now = process.hrtime.bigint();
    this.tokens = Math.min(this.perSecond, this.tokens + (Number(now - this.last) / 1e9) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
