/*
 * pagedict's one piece of native code: batched lookups in a mapped page file.
 *
 * Why native (BENCHMARKS.md, "Native batched lookups"): JavaScript has no prefetch
 * instruction, and its byte-by-byte probe costs ~75 ns a key even in L1. Here a batch is
 * hashed with a prefetch of every home page's directory lines, then probed: the CPU keeps
 * many page loads in flight instead of waiting on each. getMany and `run` use it; one-key
 * lookups stay in JavaScript, where a call into C would cost what it saves.
 *
 * The layout rules mirrored here (page header, directory, records, value references) are
 * defined in src/format/layout.ts and docs/FORMAT.md; the byte offsets come from layout.ts at
 * attach(), and test/native.test.ts checks every answer against the JavaScript reader. Like
 * that reader, this code never trusts a byte of the file: every offset is checked against
 * its page or the value area, every loop is bounded by counts checked here, and a damaged
 * page stops the batch with the key's index, so that the JavaScript reader probes that key
 * again and throws its precise E_CORRUPT error.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Indices into the layout array attach() takes; the values come from layout.ts. */
enum {
  L_PAGE_SIZE, L_COUNT_OFF, L_FLAGS_OFF, L_OVERFLOW_OFF, L_FINGERPRINTS_OFF, L_PAGE_CONTINUES,
  L_OFFSET_BITS, L_VALUE_REF_BYTES, L_MAX_RECORDS, L_SORTED, L_EXTENDED, L_COUNT
};

typedef struct {
  const uint8_t *base; /* the shard file's whole mapping */
  size_t length;
  uint32_t first_bucket, page_count, max_spill;
  uint64_t data_offset, value_offset, value_length;
} Shard;

typedef struct {
  uint32_t shard_count, bucket_count, seed_low, seed_high;
  int32_t layout[L_COUNT];
  Shard *shards;
  napi_ref *refs; /* keep every mapping's Buffer alive as long as this table */
} Table;

#define MAX_BATCH 4096

/* ---- pdhash64 v1 (src/format/hash.ts) --------------------------------------------------- */

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

static void pdhash64(const uint8_t *b, uint32_t len, uint32_t seed_low, uint32_t seed_high, uint32_t *high, uint32_t *low) {
  uint32_t h1 = seed_low, h2 = seed_high, i = 0;
  const uint32_t blocks = len & ~3u;
  for (; i < blocks; i += 4) {
    const uint32_t w = (uint32_t)b[i] | ((uint32_t)b[i + 1] << 8) | ((uint32_t)b[i + 2] << 16) | ((uint32_t)b[i + 3] << 24);
    uint32_t k1 = rotl32(w * 0xcc9e2d51u, 15);
    h1 = rotl32(h1 ^ (k1 * 0x1b873593u), 13) * 5 + 0xe6546b64u;
    uint32_t k2 = rotl32(w * 0x85ebca6bu, 17);
    h2 = rotl32(h2 ^ (k2 * 0xc2b2ae35u), 15) * 5 + 0x38495ab5u;
  }
  const uint32_t rest = len - i;
  if (rest > 0) {
    uint32_t w = b[i];
    if (rest > 1) w |= (uint32_t)b[i + 1] << 8;
    if (rest > 2) w |= (uint32_t)b[i + 2] << 16;
    h1 ^= rotl32(w * 0xcc9e2d51u, 15) * 0x1b873593u;
    h2 ^= rotl32(w * 0x85ebca6bu, 17) * 0xc2b2ae35u;
  }
  h1 ^= len;
  h2 ^= len;
  h1 += h2;
  h2 += h1;
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h1 += h2;
  h2 += h1;
  *high = h1;
  *low = h2;
}

/* ---- the probe (PageFileDict.probeHome in src/read/pagefile.ts) ---------------------------- */

enum { NOT_FOUND = 0, FOUND = 1, CORRUPT = -1 };

/* A varint of at most 5 bytes at p, never past end; -1 when it is not one. */
static int64_t read_varint(const uint8_t **p, const uint8_t *end) {
  uint64_t result = 0;
  for (int i = 0; i < 5; i++) {
    if (*p >= end) return -1;
    const uint8_t b = *(*p)++;
    result |= (uint64_t)(b & 0x7f) << (7 * i);
    if (b < 0x80) return (int64_t)result;
  }
  return -1;
}

static uint32_t first_at_least(const uint8_t *fps, uint32_t count, uint32_t fp) {
  if (count == 0) return 0;
  uint32_t i = (fp * count) >> 8;
  if (fps[i] >= fp) {
    while (i > 0 && fps[i - 1] >= fp) i--;
  } else {
    i++;
    while (i < count && fps[i] < fp) i++;
  }
  return i;
}

/* Look for key[0, key_len) from page `home` of shard s; on FOUND, [*vs, *ve) is the value's place in the mapping. */
static int probe(const Table *t, const Shard *s, uint32_t home, uint32_t low, const uint8_t *key, uint32_t key_len, uint64_t *vs, uint64_t *ve) {
  const int32_t *L = t->layout;
  const uint32_t page_size = (uint32_t)L[L_PAGE_SIZE];
  const uint32_t fp = low >> 24, ext = (low >> 12) & 15, overflow_bit = (low >> 16) & 63;
  const uint32_t offset_mask = (1u << L[L_OFFSET_BITS]) - 1;
  uint32_t last = home + s->max_spill;
  if (last > s->page_count - 1) last = s->page_count - 1;
  for (uint32_t page = home; page <= last; page++) {
    const uint8_t *p = s->base + s->data_offset + (uint64_t)page * page_size;
    const uint8_t *limit = p + page_size;
    const uint32_t count = (uint32_t)p[L[L_COUNT_OFF]] | ((uint32_t)p[L[L_COUNT_OFF] + 1] << 8);
    if (count > (uint32_t)L[L_MAX_RECORDS]) return CORRUPT;
    const uint8_t *fps = p + L[L_FINGERPRINTS_OFF];
    const uint8_t *offs = fps + count;
    for (uint32_t i = L[L_SORTED] ? first_at_least(fps, count, fp) : 0; i < count; i++) {
      if (fps[i] != fp) {
        if (L[L_SORTED]) break;
        continue;
      }
      uint32_t entry = (uint32_t)offs[2 * i] | ((uint32_t)offs[2 * i + 1] << 8);
      if (L[L_EXTENDED]) {
        if ((entry >> L[L_OFFSET_BITS]) != ext) continue;
        entry &= offset_mask;
      }
      const uint8_t *at = p + entry;
      if (at < offs + 2 * count || at >= limit) return CORRUPT;
      const int64_t klen = read_varint(&at, limit);
      if (klen != (int64_t)key_len) continue;
      const int64_t tag = read_varint(&at, limit);
      if (tag < 0) return CORRUPT;
      /* Bounds as distances to the page's end: `at + n` could point past the mapping. */
      if ((size_t)(limit - at) < key_len) return CORRUPT;
      if (memcmp(at, key, key_len) != 0) continue;
      at += key_len;
      const uint64_t len = (uint64_t)tag / 2;
      if (tag % 2 == 0) {
        if ((uint64_t)(limit - at) < len) return CORRUPT;
        *vs = (uint64_t)(at - s->base);
        *ve = *vs + len;
        return FOUND;
      }
      if ((size_t)(limit - at) < (size_t)L[L_VALUE_REF_BYTES]) return CORRUPT;
      uint64_t ref = 0;
      for (int j = 7; j >= 0; j--) ref = (ref << 8) | at[j];
      if (ref > s->value_length || len > s->value_length - ref) return CORRUPT;
      *vs = s->value_offset + ref;
      *ve = *vs + len;
      return FOUND;
    }
    if (page == home && (p[L[L_OVERFLOW_OFF] + (overflow_bit >> 3)] & (1u << (overflow_bit & 7))) == 0) return NOT_FOUND;
    if ((p[L[L_FLAGS_OFF]] & L[L_PAGE_CONTINUES]) == 0) return NOT_FOUND;
  }
  return NOT_FOUND;
}

/*
 * The offset in page p of the first record the probe would read for a key with this hash's
 * low half, or 0: only a hint for a prefetch, so it reads inside the page and checks nothing
 * else.
 */
static uint32_t candidate(const Table *t, const uint8_t *p, uint32_t low) {
  const int32_t *L = t->layout;
  const uint32_t fp = low >> 24, ext = (low >> 12) & 15;
  const uint32_t count = (uint32_t)p[L[L_COUNT_OFF]] | ((uint32_t)p[L[L_COUNT_OFF] + 1] << 8);
  if (count > (uint32_t)L[L_MAX_RECORDS] || !L[L_SORTED] || !L[L_EXTENDED]) return 0;
  const uint8_t *fps = p + L[L_FINGERPRINTS_OFF];
  const uint8_t *offs = fps + count;
  for (uint32_t i = first_at_least(fps, count, fp); i < count && fps[i] == fp; i++) {
    const uint32_t entry = (uint32_t)offs[2 * i] | ((uint32_t)offs[2 * i + 1] << 8);
    if ((entry >> L[L_OFFSET_BITS]) == ext) return (entry & ((1u << L[L_OFFSET_BITS]) - 1)) % (uint32_t)L[L_PAGE_SIZE];
  }
  return 0;
}

static uint32_t bucket_of(uint32_t high, uint32_t bucket_count) { return (uint32_t)(((uint64_t)high * bucket_count) >> 32); }

static uint32_t shard_of(const Table *t, uint32_t bucket) {
  uint32_t lo = 0, hi = t->shard_count - 1;
  while (lo < hi) {
    const uint32_t mid = (lo + hi + 1) >> 1;
    if (t->shards[mid].first_bucket <= bucket) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* ---- N-API glue ------------------------------------------------------------------------------ */

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, "E_NATIVE", message);
  return NULL;
}

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &type, length, data, &ab, &offset) != napi_ok) return 0;
  return type == want;
}

static void finalize_table(napi_env env, void *data, void *hint) {
  (void)hint;
  Table *t = data;
  for (uint32_t i = 0; i < t->shard_count; i++) {
    if (t->refs[i] != NULL) napi_delete_reference(env, t->refs[i]);
  }
  free(t->refs);
  free(t->shards);
  free(t);
}

/*
 * attach(buffers: Buffer[], geometry: Float64Array, bucketCount, seedLow, seedHigh, layout: Int32Array)
 * geometry holds 6 numbers a shard: first bucket, page count, max spill, data offset, value
 * offset, value length. Returns the table's handle, or throws when a shard's pages or value
 * area lie outside its mapping.
 */
static napi_value attach(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < 6) return fail(env, "attach: 6 arguments");
  uint32_t n;
  if (napi_get_array_length(env, a[0], &n) != napi_ok || n == 0) return fail(env, "attach: no shards");
  double *geo;
  size_t geo_len;
  int32_t *layout;
  size_t layout_len;
  if (!typed(env, a[1], napi_float64_array, (void **)&geo, &geo_len) || geo_len != 6 * (size_t)n) return fail(env, "attach: geometry");
  if (!typed(env, a[5], napi_int32_array, (void **)&layout, &layout_len) || layout_len != L_COUNT) return fail(env, "attach: layout");
  Table *t = calloc(1, sizeof *t);
  if (t == NULL) return fail(env, "attach: out of memory");
  t->shards = calloc(n, sizeof *t->shards);
  t->refs = calloc(n, sizeof *t->refs);
  t->shard_count = n;
  memcpy(t->layout, layout, sizeof t->layout);
  napi_value result = NULL;
  const char *error = NULL;
  if (t->shards == NULL || t->refs == NULL) error = "attach: out of memory";
  if (error == NULL && (napi_get_value_uint32(env, a[2], &t->bucket_count) != napi_ok || napi_get_value_uint32(env, a[3], &t->seed_low) != napi_ok ||
                        napi_get_value_uint32(env, a[4], &t->seed_high) != napi_ok || t->bucket_count == 0))
    error = "attach: bucket count and seed";
  if (error == NULL && (layout[L_PAGE_SIZE] <= 0 || layout[L_OFFSET_BITS] <= 0 || layout[L_OFFSET_BITS] > 16)) error = "attach: layout";
  for (uint32_t i = 0; error == NULL && i < n; i++) {
    napi_value buf;
    bool is;
    void *base;
    size_t length;
    if (napi_get_element(env, a[0], i, &buf) != napi_ok || napi_is_buffer(env, buf, &is) != napi_ok || !is ||
        napi_get_buffer_info(env, buf, &base, &length) != napi_ok) {
      error = "attach: a shard is not a Buffer";
      break;
    }
    const double *g = geo + 6 * i;
    Shard *s = &t->shards[i];
    s->base = base;
    s->length = length;
    s->first_bucket = (uint32_t)g[0];
    s->page_count = (uint32_t)g[1];
    s->max_spill = (uint32_t)g[2];
    s->data_offset = (uint64_t)g[3];
    s->value_offset = (uint64_t)g[4];
    s->value_length = (uint64_t)g[5];
    const uint64_t pages_end = s->data_offset + (uint64_t)s->page_count * (uint64_t)layout[L_PAGE_SIZE];
    if (length > INT32_MAX || s->page_count == 0 || pages_end > length || s->value_offset > length || s->value_length > length - s->value_offset ||
        (i > 0 && s->first_bucket <= t->shards[i - 1].first_bucket)) {
      error = "attach: a shard's pages or value area lie outside its mapping";
      break;
    }
    if (napi_create_reference(env, buf, 1, &t->refs[i]) != napi_ok) error = "attach: reference";
  }
  if (error == NULL && napi_create_external(env, t, finalize_table, NULL, &result) != napi_ok) error = "attach: external";
  if (error != NULL) {
    finalize_table(env, t, NULL);
    return fail(env, error);
  }
  return result;
}

/*
 * Look up keys[start[i], start[i] + len[i]) for i < n (len -1: no key, never found); the
 * caller has checked that every key lies inside `keys`. Fills found, and shard, vstart and
 * vend for found keys (offsets in that shard's whole mapping). Returns -1, or the index of
 * the first key whose probe met a damaged page (answers before it are filled in).
 */
static int32_t look_up(const Table *t, const uint8_t *keys, const int32_t *start, const int32_t *len, uint32_t n, uint8_t *found,
                       int32_t *shard, int32_t *vstart, int32_t *vend) {
  uint32_t home[MAX_BATCH], low[MAX_BATCH];
  const uint32_t page_size = (uint32_t)t->layout[L_PAGE_SIZE];
  /* Pass 1: hash every key and prefetch its home page's directory lines. */
  for (uint32_t i = 0; i < n; i++) {
    home[i] = UINT32_MAX;
    if (len[i] < 0) continue;
    uint32_t high;
    pdhash64(keys + start[i], (uint32_t)len[i], t->seed_low, t->seed_high, &high, &low[i]);
    const uint32_t bucket = bucket_of(high, t->bucket_count);
    const uint32_t si = t->shard_count > 1 ? shard_of(t, bucket) : 0;
    const Shard *s = &t->shards[si];
    shard[i] = (int32_t)si;
    /* A bucket past the shard's pages can only come from a header that lies: not found. */
    if (bucket - s->first_bucket >= s->page_count) continue;
    home[i] = bucket - s->first_bucket;
    const uint8_t *p = s->base + s->data_offset + (uint64_t)home[i] * page_size;
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    __builtin_prefetch(p + 192);
  }
  /*
   * Pass 2: in each home directory (arriving by now), find the first record whose fingerprint
   * and extension match, and prefetch its line: a hit's second load overlaps the others too.
   */
  for (uint32_t i = 0; i < n; i++) {
    if (home[i] == UINT32_MAX) continue;
    const Shard *s = &t->shards[shard[i]];
    const uint8_t *p = s->base + s->data_offset + (uint64_t)home[i] * page_size;
    const uint32_t at = candidate(t, p, low[i]);
    if (at != 0) __builtin_prefetch(p + at);
  }
  /* Pass 3: probe, in lines that are in cache by now. */
  for (uint32_t i = 0; i < n; i++) {
    found[i] = 0;
    if (home[i] == UINT32_MAX) continue;
    uint64_t vs, ve;
    const int r = probe(t, &t->shards[shard[i]], home[i], low[i], keys + start[i], (uint32_t)len[i], &vs, &ve);
    if (r == CORRUPT) return (int32_t)i;
    if (r == FOUND) {
      found[i] = 1;
      vstart[i] = (int32_t)vs; /* a mapping is below 2 GiB (attach checks) */
      vend[i] = (int32_t)ve;
    }
  }
  return -1;
}

/* The 9 arguments of lookupBatch or scanLines into a, the first as the table, the second as a Buffer. */
static int table_and_buffer(napi_env env, napi_callback_info info, napi_value *a, Table **t, void **data, size_t *length) {
  size_t argc = 9;
  bool is;
  return napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc >= 9 && napi_get_value_external(env, a[0], (void **)t) == napi_ok &&
         napi_is_buffer(env, a[1], &is) == napi_ok && is && napi_get_buffer_info(env, a[1], data, length) == napi_ok;
}

/*
 * lookupBatch(table, keys: Buffer, start: Int32Array, len: Int32Array, n,
 *             found: Uint8Array, shard: Int32Array, valueStart: Int32Array, valueEnd: Int32Array)
 * look_up over keys given by the caller. Returns what look_up returns.
 */
static napi_value lookup_batch(napi_env env, napi_callback_info info) {
  napi_value a[9];
  Table *t;
  void *keys;
  size_t keys_len, start_len, len_len, found_len, shard_len, vs_len, ve_len;
  int32_t *start, *len, *shard, *vstart, *vend;
  uint8_t *found;
  uint32_t n;
  if (!table_and_buffer(env, info, a, &t, &keys, &keys_len)) return fail(env, "lookupBatch: a table, then the keys' Buffer");
  if (!typed(env, a[2], napi_int32_array, (void **)&start, &start_len) || !typed(env, a[3], napi_int32_array, (void **)&len, &len_len) ||
      napi_get_value_uint32(env, a[4], &n) != napi_ok || !typed(env, a[5], napi_uint8_array, (void **)&found, &found_len) ||
      !typed(env, a[6], napi_int32_array, (void **)&shard, &shard_len) || !typed(env, a[7], napi_int32_array, (void **)&vstart, &vs_len) ||
      !typed(env, a[8], napi_int32_array, (void **)&vend, &ve_len))
    return fail(env, "lookupBatch: arrays");
  if (n > MAX_BATCH || n > start_len || n > len_len || n > found_len || n > shard_len || n > vs_len || n > ve_len) return fail(env, "lookupBatch: batch size");
  for (uint32_t i = 0; i < n; i++) {
    if (len[i] >= 0 && (start[i] < 0 || (size_t)start[i] + (size_t)len[i] > keys_len)) return fail(env, "lookupBatch: a key lies outside the key buffer");
  }
  napi_value result;
  napi_create_int32(env, look_up(t, keys, start, len, n, found, shard, vstart, vend), &result);
  return result;
}

/* Why scanLines stopped (state[1]). */
enum { STOP_FULL = 0, STOP_QUOTE = 1, STOP_END = 2 };

/*
 * scanLines(table, block: Buffer, pos, end, eof, config: Int32Array(4), out: Int32Array[],
 *           found: Uint8Array, state: Int32Array(4))
 * config = [delimiter, quoting (0 or 1), field, maxKeyBytes]; out = [lineStart, lineEnd,
 * keyStart, keyLen, shard, valueStart, valueEnd]; the shortest array (at most MAX_BATCH)
 * bounds the records taken.
 *
 * The fast path of run's CSV and TSV scanner (src/run/scan.ts), for records without a quote:
 * there a record is one line, split at the delimiter exactly as RecordSplitter does (the line
 * end and a CR before it are not part of the record). Takes the records of block[pos, end),
 * field `field` (0-based) of each as its key (none when the record has fewer fields or the
 * key is over maxKeyBytes), and looks them up as look_up does. Stops when the arrays are
 * full, before a record holding a quote (when quoting: the JavaScript splitter takes that
 * one), or at `end`, or before a last line without its line end unless eof.
 * state = [position after the records taken, STOP_*, damaged key index or -1, the first
 * quote at or after pos (the caller sets -1 for a new block; kept between calls)]. Returns
 * the number of records taken.
 */
static napi_value scan_lines(napi_env env, napi_callback_info info) {
  napi_value a[9];
  Table *t;
  void *block;
  size_t block_len, config_len, found_len, state_len;
  uint32_t pos, end, out_count;
  bool eof;
  uint8_t *found;
  int32_t *config, *state, *out[7];
  size_t cap = MAX_BATCH;
  if (!table_and_buffer(env, info, a, &t, &block, &block_len)) return fail(env, "scanLines: a table, then the block's Buffer");
  if (napi_get_value_uint32(env, a[2], &pos) != napi_ok || napi_get_value_uint32(env, a[3], &end) != napi_ok || napi_get_value_bool(env, a[4], &eof) != napi_ok ||
      !typed(env, a[5], napi_int32_array, (void **)&config, &config_len) || config_len < 4)
    return fail(env, "scanLines: arguments");
  const uint32_t delimiter = (uint32_t)config[0], field = (uint32_t)config[2], max_key = (uint32_t)config[3];
  const bool quoting = config[1] != 0;
  if (end > block_len || pos > end || end > INT32_MAX || delimiter > 255) return fail(env, "scanLines: range");
  if (napi_get_array_length(env, a[6], &out_count) != napi_ok || out_count != 7) return fail(env, "scanLines: out");
  for (uint32_t i = 0; i < 7; i++) {
    napi_value v;
    size_t length;
    if (napi_get_element(env, a[6], i, &v) != napi_ok || !typed(env, v, napi_int32_array, (void **)&out[i], &length)) return fail(env, "scanLines: out");
    if (length < cap) cap = length;
  }
  if (!typed(env, a[7], napi_uint8_array, (void **)&found, &found_len) || !typed(env, a[8], napi_int32_array, (void **)&state, &state_len) || state_len < 4)
    return fail(env, "scanLines: found and state");
  if (found_len < cap) cap = found_len;
  int32_t *line_start = out[0], *line_end = out[1], *key_start = out[2], *key_len = out[3];
  const uint8_t *b = block;
  uint32_t n = 0;
  int stop = STOP_END;
  /* The first quote at or after pos: found once a block, as the caller keeps it in state[3]. */
  size_t next_quote = end;
  if (quoting && pos < end) { /* an empty block's Buffer may have no memory at all */
    if (state[3] >= (int32_t)pos && (uint32_t)state[3] <= end) next_quote = (size_t)state[3];
    else {
      const uint8_t *q = memchr(b + pos, '"', end - pos);
      next_quote = q != NULL ? (size_t)(q - b) : end;
    }
  }
  while (pos < end) {
    if (n == cap) {
      stop = STOP_FULL;
      break;
    }
    const uint8_t *lf = memchr(b + pos, '\n', end - pos);
    size_t nl;
    if (lf != NULL) nl = (size_t)(lf - b);
    else if (eof) nl = end;
    else break;
    if (next_quote < nl) {
      stop = STOP_QUOTE;
      break;
    }
    const size_t record_end = nl > pos && b[nl - 1] == '\r' ? nl - 1 : nl;
    size_t field_start = pos;
    uint32_t f = 0;
    for (; f < field; f++) {
      const uint8_t *d = memchr(b + field_start, (int)delimiter, nl - field_start);
      if (d == NULL) break;
      field_start = (size_t)(d - b) + 1;
    }
    line_start[n] = (int32_t)pos;
    line_end[n] = (int32_t)record_end;
    key_start[n] = 0;
    key_len[n] = -1;
    if (f == field) {
      const uint8_t *d = memchr(b + field_start, (int)delimiter, nl - field_start);
      const size_t field_end = d != NULL ? (size_t)(d - b) : field_start > record_end ? field_start : record_end;
      if (field_end - field_start <= max_key) {
        key_start[n] = (int32_t)field_start;
        key_len[n] = (int32_t)(field_end - field_start);
      }
    }
    n++;
    pos = nl < end ? (uint32_t)nl + 1 : end;
  }
  state[0] = (int32_t)pos;
  state[1] = stop;
  state[2] = look_up(t, b, key_start, key_len, n, found, out[4], out[5], out[6]);
  state[3] = (int32_t)next_quote;
  napi_value result;
  napi_create_uint32(env, n, &result);
  return result;
}

/* hash(bytes: Buffer, seedLow, seedHigh, out: Uint32Array(2)): [high, low], for the tests. */
static napi_value hash(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  void *bytes;
  size_t length, out_len;
  uint32_t seed_low, seed_high, *out;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc < 4 || napi_get_buffer_info(env, a[0], &bytes, &length) != napi_ok ||
      napi_get_value_uint32(env, a[1], &seed_low) != napi_ok || napi_get_value_uint32(env, a[2], &seed_high) != napi_ok ||
      !typed(env, a[3], napi_uint32_array, (void **)&out, &out_len) || out_len < 2)
    return fail(env, "hash: arguments");
  pdhash64(bytes, (uint32_t)length, seed_low, seed_high, &out[0], &out[1]);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value batch;
  napi_create_uint32(env, MAX_BATCH, &batch);
  napi_property_descriptor props[] = {
    {"attach", NULL, attach, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lookupBatch", NULL, lookup_batch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"scanLines", NULL, scan_lines, NULL, NULL, NULL, napi_enumerable, NULL},
    {"hash", NULL, hash, NULL, NULL, NULL, napi_enumerable, NULL},
    {"MAX_BATCH", NULL, NULL, NULL, NULL, batch, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
