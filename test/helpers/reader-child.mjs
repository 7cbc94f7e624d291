/**
 * A reader process for the republish test (test/reliability-faults.test.ts), against dist/.
 *
 *   node test/helpers/reader-child.mjs <table> <keys> <stopFile> <seed>
 *
 * Tables are built by build-child.mjs: keys k0 … k<keys-1>, values "<tag>|<i>|…" where the tag
 * names the build ("build-<round>"). The reader opens the table, looks up random keys, and
 * reopens now and then, until the stop file appears. It exits 1 when:
 *   - one open() answers from two builds (a mix of old and new), or a value is for another key;
 *   - a key is missing, or any call throws;
 *   - a later open() sees an older build than an earlier one.
 * One dict opened at the start stays open to the end: after its files are replaced and its
 * shards unlinked it must still answer, from its own build. A SIGBUS would kill the process,
 * which the test sees as a signal. The last stdout line is a JSON summary.
 */
import fs from 'node:fs'
import { open } from '../../dist/read/open.js'

const [table, keyCount, stopFile, seedText] = process.argv.slice(2)
const keys = Number(keyCount)
let state = Number(seedText) >>> 0
const random = (n) => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0
  return state % n
}
const roundOf = (tag) => Number(tag.slice('build-'.length))

function fail(why) {
  process.stderr.write(`reader ${process.pid}: ${why}\n`)
  process.exit(1)
}

/** Look up `n` random keys; every answer must come from one build. Returns its tag. */
function lookups(dict, n, expectTag) {
  let tag = expectTag
  for (let j = 0; j < n; j++) {
    const i = random(keys)
    const v = dict.get(`k${i}`)
    if (typeof v !== 'string') fail(`k${i}: got ${JSON.stringify(v)}`)
    const [t, index] = v.split('|')
    if (index !== String(i)) fail(`k${i}: got the value of ${index}`)
    if (tag === undefined) tag = t
    else if (t !== tag) fail(`one open() answered from ${tag} and from ${t}`)
  }
  return tag
}

const longLived = open(table)
const longTag = lookups(longLived, 20, undefined)
process.stdout.write('ready\n')
const seen = new Set([longTag])
let last = roundOf(longTag)
let opens = 0
let lookupCount = 0
while (!fs.existsSync(stopFile)) {
  let dict
  try {
    dict = open(table)
  } catch (err) {
    fail(`open(): ${err.code ?? err.name}: ${err.message}`)
  }
  opens++
  // Stay on this open() across a few lookups batches, yielding in between, so a rebuild
  // usually lands while it is open; then check the long-lived dict too.
  let tag
  for (let batch = 0; batch < 1 + random(4); batch++) {
    tag = lookups(dict, 50, tag)
    lookupCount += 50
    if (lookups(longLived, 5, longTag) !== longTag) fail('the long-lived dict changed builds')
    await new Promise((resolve) => setTimeout(resolve, random(3)))
  }
  if (roundOf(tag) < last) fail(`went back from build-${last} to ${tag}`)
  last = roundOf(tag)
  seen.add(tag)
  dict.close()
}
// The long-lived dict must answer every key from its own build, to the end.
let n = 0
for (const [k, v] of longLived) {
  if (!v.startsWith(`${longTag}|`)) fail(`long-lived iteration: ${k} from ${v.slice(0, 20)}`)
  n++
}
if (n !== keys) fail(`long-lived iteration saw ${n} keys, expected ${keys}`)
longLived.close()
process.stdout.write(JSON.stringify({ opens, lookups: lookupCount, builds: [...seen] }) + '\n')
