// bptt-wasm kernels. Every pointer is a byte address into the memory, every size
// an i32 element count, flags are i32 0/1. Kernels never allocate: TypeScript
// creates the (shared) memory, imports it as env.memory, owns everything above
// heap_base() and grows it. Instances may share one memory (worker threads); each
// one beyond the first needs its own GEMM scratch (scratch_bytes, set_scratch).

export { heap_base } from "./memory";
export { gemm_nn, gemm_tn, gemm_nt, scratch_bytes, set_scratch, packed_b_floats, pack_b, gemm_packed_b,
  dot_packed_floats, pack_dot, gemm_nt_dot, gemm_nn_dot, onehot_ids, gemm_nt_onehot, gemm_tn_onehot } from "./gemm";
export { gemm_variant_count, gemm_variant_info, gemm_variant, set_gemm_variant,
  gemm_shape_class, gemm_class_count, set_gemm_variant_class } from "./gemm";
export { add_bias_rows, add_bias2_rows, col_sum_acc, row_norms_clip } from "./matrix";
export { rnn_forward_step, rnn_backward_step } from "./rnn";
export { lstm_forward_step, lstm_backward_step } from "./lstm";
export { gru_forward_step, gru_backward_step } from "./gru";
export { mse_loss, ce_loss, ce_loss_ext } from "./loss";
export { embedding_forward, embedding_backward } from "./embedding";
export { fill, sum_squares, all_finite, scale, clamp_abs, add_to } from "./elementwise";
export { sgd_step, adam_step, rmsprop_step, adagrad_step } from "./optim";
export { limit_madd, limit_mul_add, limit_mul_add_load, limit_flops_per_iter } from "./limit";
