/**
 * Build a page file of string entries split into small shards (the public build() never
 * makes shards this small), so tests can cross shard boundaries with a few thousand keys.
 */
import type { RecordSource } from '../../src/build/options.js'
import { buildPageFile } from '../../src/build/pagefile.js'
import { CODEC_STRING } from '../../src/format/layout.js'

export async function buildSharded(entries: readonly (readonly [string, string])[], file: string, seed: number, shardBytes: number): Promise<void> {
  const source: RecordSource = async (sink) => {
    let bytes = 0
    entries.forEach(([k, v], i) => {
      const kb = Buffer.from(k, 'utf8')
      const vb = Buffer.from(v, 'utf8')
      bytes += kb.length + vb.length
      sink(kb, 0, kb.length, vb, 0, vb.length, 0, i + 1)
    })
    return { codec: CODEC_STRING, records: entries.length, bytes, describe: { source: 'test' } }
  }
  await buildPageFile(source, file, { inputs: ['gen'], onDuplicate: 'error', seed, memoryMiB: 64, expectedBytes: 0, shardBytes, metadata: {} })
}
