/**
 * pdhash64 v1: the seeded 64-bit hash that places every key (hash_id 1 in the header).
 *
 * Two 32-bit MurmurHash3-style lanes read the same little-endian 32-bit words with
 * different constants and rotations, then cross-mix and finalise like MurmurHash3 x86_128.
 * 32-bit lanes because JavaScript multiplies 32-bit integers exactly and fast (Math.imul)
 * and has no fast 64-bit multiply; two lanes because one 32-bit value is too few bits to
 * choose among millions of pages and still leave independent bits for fingerprints.
 *
 * It is not a cryptographic function. The per-build random seed keeps an attacker who does
 * not know the seed from aiming keys at one page, and the builder reseeds when an input
 * still makes the probe distance long (docs/FORMAT.md, "Hashing").
 *
 * The result is returned as `hashHigh` (the return value) and `hashLow` (read after the
 * call) so the hot lookup path allocates nothing.
 */

/** The low 32 bits of the last hash computed by {@link pdhash64}. */
export let hashLow = 0

const C1 = 0xcc9e2d51
const C2 = 0x1b873593
const C3 = 0x85ebca6b
const C4 = 0xc2b2ae35

function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h
}

/**
 * Hash `bytes[start, end)` with the 64-bit seed (seedLow, seedHigh). Returns the high 32
 * bits (unsigned); the low 32 bits are left in {@link hashLow}.
 */
export function pdhash64(bytes: Uint8Array, start: number, end: number, seedLow: number, seedHigh: number): number {
  const len = end - start
  let h1 = seedLow | 0
  let h2 = seedHigh | 0
  let i = start
  const blocksEnd = start + (len & ~3)
  while (i < blocksEnd) {
    const w = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)
    i += 4
    let k1 = Math.imul(w, C1)
    k1 = (k1 << 15) | (k1 >>> 17)
    h1 ^= Math.imul(k1, C2)
    h1 = (h1 << 13) | (h1 >>> 19)
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0
    let k2 = Math.imul(w, C3)
    k2 = (k2 << 17) | (k2 >>> 15)
    h2 ^= Math.imul(k2, C4)
    h2 = (h2 << 15) | (h2 >>> 17)
    h2 = (Math.imul(h2, 5) + 0x38495ab5) | 0
  }
  const rest = end - i
  if (rest > 0) {
    let w = bytes[i]
    if (rest > 1) w |= bytes[i + 1] << 8
    if (rest > 2) w |= bytes[i + 2] << 16
    let k1 = Math.imul(w, C1)
    k1 = (k1 << 15) | (k1 >>> 17)
    h1 ^= Math.imul(k1, C2)
    let k2 = Math.imul(w, C3)
    k2 = (k2 << 17) | (k2 >>> 15)
    h2 ^= Math.imul(k2, C4)
  }
  h1 ^= len
  h2 ^= len
  h1 = (h1 + h2) | 0
  h2 = (h2 + h1) | 0
  h1 = fmix32(h1)
  h2 = fmix32(h2)
  h1 = (h1 + h2) | 0
  h2 = (h2 + h1) | 0
  hashLow = h2 >>> 0
  return h1 >>> 0
}
