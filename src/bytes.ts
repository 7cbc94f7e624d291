/**
 * Copying a record's bytes. Keys and values are mostly a few dozen bytes, where a plain loop
 * beats TypedArray#set, which first needs a subarray object per call (measured: the subarray
 * objects were a tenth of a 5M-key build's time).
 */
const LOOP_BELOW = 64

/** Copy src[start, start + len) to dst at `at`. */
export function copyBytes(src: Uint8Array, start: number, len: number, dst: Uint8Array, at: number): void {
  if (len < LOOP_BELOW) {
    for (let i = 0; i < len; i++) dst[at + i] = src[start + i]
  } else {
    dst.set(src.subarray(start, start + len), at)
  }
}

/**
 * The same copy, four bytes per step through DataViews: for 20-60 bytes about twice as fast
 * as the byte loop (29 against 52-64 ns in a scratch benchmark), which the build's two
 * copies of every record feel. The caller passes `dstView`, a DataView over all of `dst`
 * (a build writes into many buffers: it keeps each one's view beside it). The source's view
 * comes from a cache of the last few source buffers, so callers that read from a few reused
 * buffers allocate none; the cache keeps at most VIEW_SLOTS buffers alive. `src` and `dst`
 * must not overlap.
 */
export function copyBytesWide(src: Uint8Array, start: number, len: number, dst: Uint8Array, dstView: DataView, at: number): void {
  if (len < 4) {
    for (let i = 0; i < len; i++) dst[at + i] = src[start + i]
    return
  }
  if (len >= LOOP_BELOW) {
    dst.set(src.subarray(start, start + len), at)
    return
  }
  const s = viewOf(src)
  const last = len - 4
  for (let i = 0; i < last; i += 4) dstView.setUint32(at + i, s.getUint32(start + i, true), true)
  // The last word may overlap the one before: it still copies each byte's own value.
  dstView.setUint32(at + last, s.getUint32(start + last, true), true)
}

/**
 * Copy `len` >= 4 bytes four at a time between two DataViews, at any length: for a whole
 * spill record (often 64-100 bytes) this avoids the subarray object copyBytesWide makes
 * past LOOP_BELOW. `src` and `dst` must not overlap.
 */
export function copyWords(src: DataView, start: number, len: number, dst: DataView, at: number): void {
  const last = len - 4
  for (let i = 0; i < last; i += 4) dst.setUint32(at + i, src.getUint32(start + i, true), true)
  dst.setUint32(at + last, src.getUint32(start + last, true), true)
}

/** A DataView over all of `b`. */
export function viewOfBytes(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength)
}

const VIEW_SLOTS = 2
const viewBuffers: (Uint8Array | undefined)[] = new Array(VIEW_SLOTS).fill(undefined)
const views: DataView[] = new Array(VIEW_SLOTS).fill(new DataView(new ArrayBuffer(0)))
let nextSlot = 0

function viewOf(b: Uint8Array): DataView {
  for (let i = 0; i < VIEW_SLOTS; i++) if (viewBuffers[i] === b) return views[i]
  const v = viewOfBytes(b)
  viewBuffers[nextSlot] = b
  views[nextSlot] = v
  nextSlot = (nextSlot + 1) % VIEW_SLOTS
  return v
}
