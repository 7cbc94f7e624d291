#!/usr/bin/env bash
# Run the tests that reach native/lookup.c with it built under AddressSanitizer and UBSan
# (gcc's runtimes preloaded into node), then build it again as usual. A sanitizer report
# fails the run: UBSan halts, ASan aborts. Linux with gcc only; not part of CI.
#   npm run test:sanitized [-- <more vitest arguments>]
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'npx node-gyp rebuild >/dev/null' EXIT
CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g" LDFLAGS="-fsanitize=address,undefined" npx node-gyp rebuild >/dev/null
npx tsc -p tsconfig.json
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  npx vitest run test/native.test.ts test/batch.test.ts test/format.test.ts test/run.test.ts test/reliability-corruption.test.ts "$@"
