// Where the module's static data (math tables, GEMM packing scratch) ends.

/** First byte free for the caller, rounded up to 64 bytes. Everything below belongs to the module. */
export function heap_base(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}
