/**
 * Chained XXH64 over consecutive equal-length blocks, in a WebAssembly module assembled here.
 *
 * Why: the router hashes up to 256 blocks of 64 bytes per request. Emulating 64-bit multiplies on
 * 32-bit halves in JavaScript costs ~900 ns a block on CI's machine, a native binding ~250 ns a
 * call plus a BigInt (ARCHITECTURE.md); WebAssembly has native i64 arithmetic, and one call hashes
 * a whole prompt, so neither call overhead nor BigInts are paid per block. The module is a few
 * hundred bytes, written out below instruction by instruction, so there is no binary in the repo
 * and no toolchain at build time.
 *
 * Block i is hashed with block i−1's hash as its XXH64 seed (block 0 with the given seed), which
 * is exactly `xxh64Into(bytes, i·len, len, prevHi, prevLo)` of ./xxhash64.ts, chained.
 * Verified against @node-rs/xxhash in test/engine/xxhash64.test.ts.
 */

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

// ---- the handful of WebAssembly encodings this module needs ----

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(v: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

const I32 = 0x7f;
const I64 = 0x7e;
const VOID = 0x40;
const op = {
  block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d,
  get: 0x20, set: 0x21,
  i64Load: 0x29, i64Load8u: 0x31, i64Load32u: 0x35, i64Store: 0x37,
  i32Const: 0x41, i64Const: 0x42,
  i32Eqz: 0x45, i32GtU: 0x4b, i32LeU: 0x4d, i32GeU: 0x4f,
  i32Add: 0x6a, i32Sub: 0x6b,
  i64Add: 0x7c, i64Sub: 0x7d, i64Mul: 0x7e, i64Or: 0x84, i64Xor: 0x85, i64Shl: 0x86, i64ShrU: 0x88, i64Rotl: 0x89,
  i64ExtendI32U: 0xad,
} as const;

const get = (l: number) => [op.get, l];
const set = (l: number) => [op.set, l];
const c64 = (v: bigint) => [op.i64Const, ...sleb(BigInt.asIntN(64, v))];
const c32 = (v: number) => [op.i32Const, ...sleb(BigInt(v))];
/** memarg: alignment hint 0 (inputs are byte-aligned), then the static offset. */
const load64 = (offset: number) => [op.i64Load, 0, ...uleb(offset)];

// Locals: parameters first, then declared ones.
const SRC = 0, COUNT = 1, LEN = 2, SEED_HI = 3, SEED_LO = 4, DST = 5; // i32 params
const SEED = 6; // i64
const P = 7, END = 8; // i32
const V1 = 9, V2 = 10, V3 = 11, V4 = 12, H = 13; // i64
const LIMIT = 14; // i32

/** [acc] [input] → rotl(acc + input·P2, 31)·P1 */
const roundTail = [...c64(P2), op.i64Mul, op.i64Add, ...c64(31n), op.i64Rotl, ...c64(P1), op.i64Mul];
/** [input] → round(0, input) */
const round0 = [...c64(P2), op.i64Mul, ...c64(31n), op.i64Rotl, ...c64(P1), op.i64Mul];
/** v = round(v, load64(p + offset)) */
const laneRound = (v: number, offset: number) => [...get(v), ...get(P), ...load64(offset), ...roundTail, ...set(v)];
/** h = (h ^ round(0, v))·P1 + P4 */
const mergeRound = (v: number) => [...get(H), ...get(v), ...round0, op.i64Xor, ...c64(P1), op.i64Mul, ...c64(P4), op.i64Add, ...set(H)];
const rotlLane = (v: number, r: bigint) => [...get(v), ...c64(r), op.i64Rotl];
/** h ^= h >> s */
const xorShift = (s: bigint) => [...get(H), ...get(H), ...c64(s), op.i64ShrU, op.i64Xor, ...set(H)];

// chain(src, count, len, seedHi, seedLo, dst): for each block, H = xxh64(block, seed); store H; seed = H.
const body = [
  // seed = (seedHi << 32) | seedLo
  ...get(SEED_HI), op.i64ExtendI32U, ...c64(32n), op.i64Shl, ...get(SEED_LO), op.i64ExtendI32U, op.i64Or, ...set(SEED),
  ...get(SRC), ...set(P),
  op.block, VOID,
  op.loop, VOID,
  ...get(COUNT), op.i32Eqz, op.brIf, 1,
  ...get(P), ...get(LEN), op.i32Add, ...set(END),
  ...get(LEN), ...c32(32), op.i32GeU,
  op.if, VOID,
  ...get(SEED), ...c64(P1), op.i64Add, ...c64(P2), op.i64Add, ...set(V1),
  ...get(SEED), ...c64(P2), op.i64Add, ...set(V2),
  ...get(SEED), ...set(V3),
  ...get(SEED), ...c64(P1), op.i64Sub, ...set(V4),
  ...get(END), ...c32(32), op.i32Sub, ...set(LIMIT),
  op.loop, VOID,
  ...laneRound(V1, 0), ...laneRound(V2, 8), ...laneRound(V3, 16), ...laneRound(V4, 24),
  ...get(P), ...c32(32), op.i32Add, ...set(P),
  ...get(P), ...get(LIMIT), op.i32LeU, op.brIf, 0,
  op.end,
  ...rotlLane(V1, 1n), ...rotlLane(V2, 7n), op.i64Add, ...rotlLane(V3, 12n), op.i64Add, ...rotlLane(V4, 18n), op.i64Add, ...set(H),
  ...mergeRound(V1), ...mergeRound(V2), ...mergeRound(V3), ...mergeRound(V4),
  op.else,
  ...get(SEED), ...c64(P5), op.i64Add, ...set(H),
  op.end,
  ...get(H), ...get(LEN), op.i64ExtendI32U, op.i64Add, ...set(H),
  // 8-byte lanes: h = rotl(h ^ round(0, lane), 27)·P1 + P4
  op.block, VOID, op.loop, VOID,
  ...get(P), ...c32(8), op.i32Add, ...get(END), op.i32GtU, op.brIf, 1,
  ...get(H), ...get(P), ...load64(0), ...round0, op.i64Xor, ...c64(27n), op.i64Rotl, ...c64(P1), op.i64Mul, ...c64(P4), op.i64Add, ...set(H),
  ...get(P), ...c32(8), op.i32Add, ...set(P),
  op.br, 0,
  op.end, op.end,
  // one 4-byte lane: h = rotl(h ^ lane·P1, 23)·P2 + P3
  ...get(P), ...c32(4), op.i32Add, ...get(END), op.i32LeU,
  op.if, VOID,
  ...get(H), ...get(P), op.i64Load32u, 0, 0, ...c64(P1), op.i64Mul, op.i64Xor, ...c64(23n), op.i64Rotl, ...c64(P2), op.i64Mul, ...c64(P3), op.i64Add, ...set(H),
  ...get(P), ...c32(4), op.i32Add, ...set(P),
  op.end,
  // bytes: h = rotl(h ^ byte·P5, 11)·P1
  op.block, VOID, op.loop, VOID,
  ...get(P), ...get(END), op.i32GeU, op.brIf, 1,
  ...get(H), ...get(P), op.i64Load8u, 0, 0, ...c64(P5), op.i64Mul, op.i64Xor, ...c64(11n), op.i64Rotl, ...c64(P1), op.i64Mul, ...set(H),
  ...get(P), ...c32(1), op.i32Add, ...set(P),
  op.br, 0,
  op.end, op.end,
  // avalanche
  ...xorShift(33n), ...get(H), ...c64(P2), op.i64Mul, ...set(H),
  ...xorShift(29n), ...get(H), ...c64(P3), op.i64Mul, ...set(H),
  ...xorShift(32n),
  // store, chain, next block
  ...get(DST), ...get(H), op.i64Store, 0, 0,
  ...get(DST), ...c32(8), op.i32Add, ...set(DST),
  ...get(H), ...set(SEED),
  ...get(COUNT), ...c32(1), op.i32Sub, ...set(COUNT),
  op.br, 0,
  op.end, op.end,
  op.end,
];

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}
const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'ascii')];
const locals = [4, 1, I64, 2, I32, 5, I64, 1, I32];
const code = [...uleb(locals.length + body.length), ...locals, ...body];

const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 6, I32, I32, I32, I32, I32, I32, 0]), // type: (i32 ×6) → ()
  ...section(3, [1, 0]), // function 0 has type 0
  ...section(5, [1, 0x00, 1]), // one memory, at least 1 page
  ...section(7, [2, ...name('chain'), 0x00, 0, ...name('memory'), 0x02, 0]),
  ...section(10, [1, ...code]),
]);

// The typings of @types/node 20 do not describe WebAssembly: the few members used, declared here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | undefined;

/**
 * One instance owns one linear memory: the caller writes input bytes into `input()`, then `run()`
 * hashes them in place. Not reentrant; give each user its own instance.
 */
export class Xxh64Chain {
  private readonly memory: WasmMemory;
  private readonly chain: (src: number, count: number, len: number, seedHi: number, seedLo: number, dst: number) => void;
  private inputBytes = 0;
  private bytes: Uint8Array;
  private words: Uint32Array;

  constructor() {
    compiled ??= new Wasm.Module(MODULE_BYTES);
    const inst = new Wasm.Instance(compiled, {});
    this.memory = inst.exports.memory as WasmMemory;
    this.chain = inst.exports.chain as Xxh64Chain['chain'];
    this.bytes = new Uint8Array(this.memory.buffer);
    this.words = new Uint32Array(this.memory.buffer);
  }

  /**
   * The input area, at least `byteLength` long (starting at index 0). Fetch it again before each
   * use: growing memory replaces the buffer behind earlier views.
   */
  input(byteLength: number): Uint8Array {
    this.reserve(byteLength, 0);
    return this.bytes;
  }

  /**
   * Hashes `count` consecutive blocks of `blockLen` bytes from the start of the input area. Returns
   * a view in which hash i is words[2i+1] (high half) and words[2i] (low half); valid until the
   * next call.
   */
  run(count: number, blockLen: number, seedHi: number, seedLo: number): { words: Uint32Array; offset: number } {
    this.reserve(count * blockLen, count * 8);
    const dst = (this.inputBytes + 7) & ~7; // outputs after everything ever used as input
    this.chain(0, count, blockLen, seedHi >>> 0, seedLo >>> 0, dst);
    return { words: this.words, offset: dst / 4 };
  }

  private reserve(inputBytes: number, outputBytes: number): void {
    this.inputBytes = Math.max(this.inputBytes, inputBytes);
    const need = ((this.inputBytes + 7) & ~7) + outputBytes;
    if (need > this.memory.buffer.byteLength) {
      this.memory.grow(Math.ceil((need - this.memory.buffer.byteLength) / 65_536));
      this.bytes = new Uint8Array(this.memory.buffer);
      this.words = new Uint32Array(this.memory.buffer);
    }
  }
}
