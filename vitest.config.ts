import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Compiles src/ and type-checks test/ first: tests never run against a stale dist/.
    globalSetup: ['test/setup/compile.ts'],
    // Tests spawn the CLI and worker processes; a slow, busy 2-core CI machine needs room.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
})
