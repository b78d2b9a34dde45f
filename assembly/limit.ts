import { madd4, mul_add4 } from "./simd";

// The core's Wasm SIMD multiply-add limit, for the benchmarks' 100%: independent
// multiply-add chains with nothing but registers in the loop. Twelve chains cover
// FMA latency (4-5 cycles) times two FMA ports; more would spill (V8 allocates 15
// xmm registers). Each iteration is 12 * 4 lanes * 2 = 96 flops.

// @ts-ignore: decorator
@inline
function chains(n: i32, x: f32, fused: bool): f32 {
  const m = f32x4.splat(x);
  const d = f32x4.splat(<f32>1e-3);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(1), a2 = f32x4.splat(2), a3 = f32x4.splat(3);
  let a4 = f32x4.splat(4), a5 = f32x4.splat(5), a6 = f32x4.splat(6), a7 = f32x4.splat(7);
  let a8 = f32x4.splat(8), a9 = f32x4.splat(9), a10 = f32x4.splat(10), a11 = f32x4.splat(11);
  for (let i = 0; i < n; i++) {
    // a = a*m + d: |m| < 1 keeps every chain bounded, so no denormals or infinities
    a0 = madd4(a0, m, d, fused); a1 = madd4(a1, m, d, fused);
    a2 = madd4(a2, m, d, fused); a3 = madd4(a3, m, d, fused);
    a4 = madd4(a4, m, d, fused); a5 = madd4(a5, m, d, fused);
    a6 = madd4(a6, m, d, fused); a7 = madd4(a7, m, d, fused);
    a8 = madd4(a8, m, d, fused); a9 = madd4(a9, m, d, fused);
    a10 = madd4(a10, m, d, fused); a11 = madd4(a11, m, d, fused);
  }
  // every chain feeds the result, so none can be dropped
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7))),
    f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)),
  );
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 3);
}

/** Flops per iteration of limit_madd / limit_mul_add. */
export function limit_flops_per_iter(): i32 {
  return 96;
}

/** n iterations of 12 fused chains (relaxed build; the plain build runs mul+add here). */
export function limit_madd(n: i32, x: f32): f32 {
  return chains(n, x, true);
}

/** n iterations of 12 mul+add chains (both builds). */
export function limit_mul_add(n: i32, x: f32): f32 {
  return chains(n, x, false);
}


/**
 * n iterations of 12 chains acc += x * m, x loaded (from p, 64 bytes, L1): the shape of a
 * GEMM's mul+add, where only the add is on the chain (the plain build's real limit).
 */
export function limit_mul_add_load(n: i32, p: usize, x: f32): f32 {
  const m = f32x4.splat(x);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  let a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  for (let i = 0; i < n; i++) {
    const x0 = v128.load(p), x1 = v128.load(p, 16), x2 = v128.load(p, 32), x3 = v128.load(p, 48);
    a0 = mul_add4(x0, m, a0); a1 = mul_add4(x1, m, a1); a2 = mul_add4(x2, m, a2);
    a3 = mul_add4(x3, m, a3); a4 = mul_add4(x0, m, a4); a5 = mul_add4(x1, m, a5);
    a6 = mul_add4(x2, m, a6); a7 = mul_add4(x3, m, a7); a8 = mul_add4(x0, m, a8);
    a9 = mul_add4(x1, m, a9); a10 = mul_add4(x2, m, a10); a11 = mul_add4(x3, m, a11);
  }
  const s = f32x4.add(
    f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7))),
    f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)),
  );
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 3);
}
