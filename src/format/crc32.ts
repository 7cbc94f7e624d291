/**
 * CRC-32 (the zlib/PNG polynomial, the checksum of every header and page) in JavaScript, for
 * open(): it checks the header region, a page or more that is mostly zeros after the
 * directory and metadata. zlib.crc32 gives the same value, but in a process that has not run
 * it yet its code must first be paged in from the node binary, and after the page cache was
 * dropped that cost open() two major faults (about 4 ms, measured). Here the bytes up to the
 * last nonzero one go through a table, and the zero tail is appended arithmetically: n zero
 * bytes multiply the CRC register by x^(8n) modulo the polynomial (as zlib's crc32_combine
 * does), a few dozen steps whatever n is. Builders and verify keep zlib.crc32: for them the
 * byte loop would be the cost.
 */

const POLY = 0xedb88320 // reflected

const TABLE = new Int32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1
  TABLE[n] = c
}

/** a × b modulo the polynomial, both reflected (bit 31 is x^0). */
function multModP(a: number, b: number): number {
  let m = 0x80000000
  let p = 0
  for (let i = 0; i < 32; i++) {
    if ((a & m) !== 0) p ^= b
    m >>>= 1
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1
  }
  return p >>> 0
}

/** x^(2^k) modulo the polynomial, for k < 64 (the zero run's length in bits has < 64 of them). */
const X2N = new Uint32Array(64)
X2N[0] = 0x40000000 // x^1
for (let k = 1; k < 64; k++) X2N[k] = multModP(X2N[k - 1], X2N[k - 1])

/** The CRC-32 of `bytes`, equal to zlib.crc32(bytes). */
export function crc32(bytes: Uint8Array): number {
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  let c = -1
  for (let i = 0; i < end; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  // Append bytes.length - end zero bytes: the register times x^(8 × zeros).
  let zeroBits = (bytes.length - end) * 8
  let reg = c >>> 0
  for (let k = 0; zeroBits > 0; k++, zeroBits = Math.floor(zeroBits / 2)) {
    if (zeroBits % 2 === 1) reg = multModP(X2N[k], reg)
  }
  return (reg ^ 0xffffffff) >>> 0
}
