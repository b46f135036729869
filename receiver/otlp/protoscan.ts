/**
 * Walking protobuf bytes without decoding them: wire types, varints, and skipping a value of any
 * wire type (groups to their end tag). Shared by the receiver's well-formedness check (wire.ts)
 * and the span splicer (splice.ts); each passes the error class its callers catch.
 */

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_SGROUP = 3;
export const WT_EGROUP = 4;
export const WT_I32 = 5;

export class ProtoCursor {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
    private readonly error: (message: string) => Error,
    /** Deepest group nesting skipValue follows. */
    private readonly maxDepth = 100,
  ) {}

  fail(what: string): never {
    throw this.error(`${what} at byte ${this.pos}`);
  }

  /** A varint as a number; exact up to 2^53, which covers tags and lengths (longer ones only need skipping). */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      if (i === 9 && b > 1) this.fail('varint longer than 64 bits');
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    return this.fail('varint longer than 10 bytes');
  }

  skip(n: number, what = 'field'): void {
    if (n < 0 || n > this.end - this.pos) this.fail(`truncated ${what}`);
    this.pos += n;
  }

  /** Skips one value of wire type `wire` of field `fieldNo`; groups are skipped to their matching end tag. */
  skipValue(wire: number, fieldNo: number, depth = 0): void {
    switch (wire) {
      case WT_VARINT:
        this.varint();
        return;
      case WT_I64:
        this.skip(8, 'fixed64');
        return;
      case WT_I32:
        this.skip(4, 'fixed32');
        return;
      case WT_LEN:
        this.skip(this.varint(), 'length-delimited field');
        return;
      case WT_SGROUP: {
        if (depth >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
        for (;;) {
          const tag = this.varint();
          const no = Math.floor(tag / 8);
          const wt = tag & 7;
          if (no === 0) this.fail('field number 0');
          if (wt === WT_EGROUP) {
            if (no !== fieldNo) this.fail(`end of group ${no} inside group ${fieldNo}`);
            return;
          }
          this.skipValue(wt, no, depth + 1);
        }
      }
      default:
        return this.fail(wire === WT_EGROUP ? 'unexpected end-group tag' : `invalid wire type ${wire}`);
    }
  }
}
