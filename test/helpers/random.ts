/** A seeded PRNG (mulberry32) so every random test is reproducible from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const ALPHABETS = ['abcdefghijklmnopqrstuvwxyz0123456789', 'äöüßéèñçøå', '日本語中文한국어', '🙂🚀👍🏽', '\t ,"\\\n\r\u0000']

/** A random string of `len` code points drawn from mixed scripts, emoji and control bytes. */
export function randomString(next: () => number, len: number): string {
  let s = ''
  for (let i = 0; i < len; i++) {
    const alphabet = [...ALPHABETS[next() < 0.7 ? 0 : Math.floor(next() * ALPHABETS.length)]]
    s += alphabet[Math.floor(next() * alphabet.length)]
  }
  return s
}
