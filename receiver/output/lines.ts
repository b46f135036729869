/**
 * Output lines gathered as UTF-8 bytes, for one write per batch.
 *
 * Formatters append to it directly: strings are encoded once into a buffer that is reused until
 * taken, and byte chunks that a formatter keeps ready (json.ts: a stack's JSON text) are copied
 * without being decoded and encoded again. Joining lines as strings first cost more than
 * formatting them.
 */
const INITIAL_BYTES = 256 * 1024;

export class LineBuffer {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES);
  private used = 0;
  /** Complete lines since the last take(). */
  lines = 0;

  get bytes(): number {
    return this.used;
  }

  appendString(s: string): void {
    // At most 3 UTF-8 bytes per UTF-16 unit (a lone surrogate becomes U+FFFD, 3 bytes).
    this.reserve(3 * s.length);
    this.used += this.buf.write(s, this.used);
  }

  appendBytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.used);
    this.used += b.length;
  }

  /** Ends the current line with "\n". */
  endLine(): void {
    this.reserve(1);
    this.buf[this.used++] = 0x0a;
    this.lines++;
  }

  /**
   * The bytes appended since the last take(). The caller owns them: the next append goes to a
   * new buffer, so a write still holding these bytes cannot see them change.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(this.buf.length);
    this.used = 0;
    this.lines = 0;
    return out;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.used + n));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}
