#!/usr/bin/env node
// `npm start`: build a table from fixtures/ and run lookup jobs over sample data files,
// printing each command and what it prints. The sample files are slices of the real
// OpenFlights routes (one gzipped), written to a temporary directory and removed after.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = path.join(root, 'bin', 'pagedict.js')
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pagedict-demo-'))

function pagedict(args, { show = Infinity } = {}) {
  console.log(`\n$ pagedict ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`)
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: work })
  const lines = r.stdout.trimEnd().split('\n')
  if (r.stdout !== '') console.log(lines.slice(0, show).join('\n') + (lines.length > show ? `\n… (${lines.length - show} more lines)` : ''))
  if (r.stderr !== '') process.stdout.write(r.stderr)
  if (r.status !== 0 && r.status !== 1) throw new Error(`pagedict ${args[0]} exited with ${r.status}`)
  return r
}

try {
  // Four sample data files: routes.dat cut in four, the last one gzipped.
  const routes = fs.readFileSync(path.join(root, 'fixtures', 'openflights', 'routes.dat'))
  const lines = routes.toString('latin1').split('\n')
  const quarter = Math.ceil(lines.length / 4)
  const files = []
  for (let i = 0; i < 4; i++) {
    const part = Buffer.from(lines.slice(i * quarter, (i + 1) * quarter).join('\n').trimEnd() + '\n', 'latin1')
    const file = path.join(work, `routes-${i + 1}.csv${i === 3 ? '.gz' : ''}`)
    fs.writeFileSync(file, i === 3 ? zlib.gzipSync(part) : part)
    files.push(path.basename(file))
  }
  const table = 'airports.pdict'
  console.log('pagedict demo: OpenFlights airports as the table, routes as the data files.')
  console.log(`Working in ${work}, with the data files ${files.join(', ')}.`)

  pagedict(['build', path.join(root, 'fixtures', 'openflights', 'airports.dat'), '--format', 'csv', '--key', '1', '-o', table])
  pagedict(['info', table])
  pagedict(['get', table, '3797', '507'])
  // Routes' column 4 is the source airport id: count how many rows find their airport.
  pagedict(['run', table, ...files, '--key', '4', '--workers', '2'])
  // Join each route to its source airport's fields.
  pagedict(['run', table, ...files, '--key', '4', '--emit', 'join', '-o', 'joined.csv', '--workers', '2', '--json'])
  console.log('\n$ head -3 joined.csv')
  console.log(fs.readFileSync(path.join(work, 'joined.csv'), 'utf8').split('\n').slice(0, 3).join('\n'))
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
