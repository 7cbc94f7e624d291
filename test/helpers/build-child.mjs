/**
 * A library build in its own process, for tests that kill a build or rebuild a table under
 * readers (test/reliability-faults.test.ts). Runs against dist/.
 *
 *   node test/helpers/build-child.mjs <output> <keys> <tag> [shardBytes] [pagefile|lmdb]
 *
 * Keys are k0 … k<keys-1>; every value starts with "<tag>|<i>", so a reader can tell which
 * build answered and for which key. Every fourth value is 3000 bytes (the value area).
 * shardBytes > 0 builds page-file shards of about that size through buildPageFile (the CLI
 * only splits past 1 GiB).
 */
import { build } from '../../dist/build/index.js'
import { buildPageFile } from '../../dist/build/pagefile.js'
import { CODEC_STRING } from '../../dist/format/layout.js'

const [output, keys, tag, shardBytes = '0', backend = 'pagefile'] = process.argv.slice(2)
const count = Number(keys)
const pad = 'p'.repeat(3000)
const valueOf = (i) => (i % 4 === 0 ? `${tag}|${i}|${pad}` : `${tag}|${i}`)

if (backend === 'lmdb') {
  await build((function* () {
    for (let i = 0; i < count; i++) yield [`k${i}`, valueOf(i)]
  })(), output, { backend: 'lmdb' })
} else {
  await buildPageFile(
    async (sink) => {
      for (let i = 0; i < count; i++) {
        const k = Buffer.from(`k${i}`)
        const v = Buffer.from(valueOf(i))
        sink(k, 0, k.length, v, 0, v.length, 0, i + 1)
      }
      return { codec: CODEC_STRING, records: count, bytes: 0, describe: {} }
    },
    output,
    { inputs: ['generated'], onDuplicate: 'error', memoryMiB: 32, expectedBytes: 0, ...(Number(shardBytes) > 0 ? { shardBytes: Number(shardBytes) } : {}), metadata: { tag } },
  )
}
