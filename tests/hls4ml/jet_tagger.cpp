// The jet tagger (16-64-32-32-5, ReLU, softmax) through hls4ml's own
// nnet_utils templates, as hls4ml 1.3.0's Vivado backend writes the
// project for io_parallel, Strategy Latency, ReuseFactor 1: the layer
// configs below are its core_templates.py config templates filled in.
// tests/hls4ml_jet.rs compiles it with g++ (-I ap_types -I nnet_utils of
// the wheel's templates/vivado) and compares hetbench's emulation
// with its output bit for bit. Nothing of hls4ml is stubbed: g++ ignores
// the HLS pragmas (-Wno-unknown-pragmas), and hls_stream.h comes from the
// wheel's ap_types.
//
// The types come from the compiler's command line (hetbench's
// hls4ml::NetConfig names them): MODEL_T (input_t, weight_t, bias_t and
// every layer's result_t: hls4ml's Model Precision default), ACCUM_T (the
// dense layers' accum_t), EXP_TABLE_T, INV_TABLE_T, INV_INP_T, SM_ACCUM_T,
// INP_NORM_T, EXP_TABLE_SIZE, INV_TABLE_SIZE (the softmax's).
//
// Input on stdin: the number of events; the 4389 packed weights and
// biases as decimal text (as hls4ml's writer prints them); then the 16
// features of each event, event by event, as C hex floats (read as float,
// as hls4ml's test bench reads its inputs). Output, one record a line, raw
// values as signed decimal integers:
//   X i raw                exp_table[i]
//   V i raw                invert_table[i]
//   Z e z0 z1 z2 z3 z4     the logits (the last dense layer's result)
//   P e p0 p1 p2 p3 p4     the softmax's result

#include "ap_fixed.h"
#include "nnet_activation.h"
#include "nnet_dense.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

typedef MODEL_T model_default_t;
typedef model_default_t input_t;
typedef model_default_t weight_t;
typedef model_default_t bias_t;
typedef model_default_t result_t;
typedef ACCUM_T accum_t;

template <unsigned N_IN, unsigned N_OUT>
struct dense_cfg : nnet::dense_config {
    static const unsigned n_in = N_IN;
    static const unsigned n_out = N_OUT;
    static const unsigned io_type = nnet::io_parallel;
    static const unsigned strategy = nnet::latency;
    static const unsigned reuse_factor = 1;
    static const unsigned n_zeros = 0;
    static const unsigned n_nonzeros = N_IN * N_OUT;
    static const unsigned multiplier_limit = DIV_ROUNDUP(n_in * n_out, reuse_factor) - n_zeros / reuse_factor;
    static const bool store_weights_in_bram = false;
    typedef ::accum_t accum_t;
    typedef ::bias_t bias_t;
    typedef ::weight_t weight_t;
    typedef ap_uint<1> index_t;
    template <class data_T, class res_T, class CONFIG_T>
    using kernel = nnet::DenseLatency<data_T, res_T, CONFIG_T>;
    template <class x_T, class y_T>
    using product = nnet::product::mult<x_T, y_T>;
};

template <unsigned N_IN>
struct relu_cfg : nnet::activ_config {
    static const unsigned n_in = N_IN;
    static const unsigned table_size = 1024;
    static const unsigned io_type = nnet::io_parallel;
    static const unsigned reuse_factor = 1;
    typedef ap_fixed<18, 8> table_t;
};

struct softmax_config : nnet::activ_config {
    static const unsigned n_in = 5;
    static const unsigned n_slice = 5;
    static const unsigned n_outer = 1;
    static const unsigned n_inner = 1;
    static const unsigned parallelization_factor = -1;
    static const unsigned exp_table_size = EXP_TABLE_SIZE;
    static const unsigned inv_table_size = INV_TABLE_SIZE;
    static const unsigned io_type = nnet::io_parallel;
    static const unsigned reuse_factor = 1;
    static const unsigned axis = -1;
    static const nnet::softmax_implementation implementation = nnet::softmax_implementation::stable;
    static constexpr float exp_scale = 1.0;
    typedef EXP_TABLE_T exp_table_t;
    typedef INV_TABLE_T inv_table_t;
    typedef SM_ACCUM_T accum_t;
    typedef INV_INP_T inv_inp_t;
    typedef INP_NORM_T inp_norm_t;
};

template <class T>
long long raw_of(const T &x) {
    ap_int<T::width> r;
    r.V = x.V;
    return (long long)r.to_int64();
}

// Reads `count` decimal numbers (as double) into `out`, converting each
// as a C++ initialiser of type T does.
template <class T>
static void read_weights(T *out, unsigned count) {
    for (unsigned i = 0; i < count; i++) {
        char buf[128];
        if (std::scanf("%127s", buf) != 1) {
            std::fprintf(stderr, "jet_tagger: short weights\n");
            std::exit(2);
        }
        out[i] = std::strtod(buf, nullptr);
    }
}

int main() {
    unsigned n = 0;
    if (std::scanf("%u", &n) != 1) {
        std::fprintf(stderr, "jet_tagger: no event count\n");
        return 2;
    }
    static weight_t w2[16 * 64], w4[64 * 32], w6[32 * 32], w8[32 * 5];
    static bias_t b2[64], b4[32], b6[32], b8[5];
    read_weights(w2, 16 * 64);
    read_weights(b2, 64);
    read_weights(w4, 64 * 32);
    read_weights(b4, 32);
    read_weights(w6, 32 * 32);
    read_weights(b6, 32);
    read_weights(w8, 32 * 5);
    read_weights(b8, 5);

    // The tables softmax_stable builds on its first call, built the same way.
    static softmax_config::exp_table_t exp_table[EXP_TABLE_SIZE];
    static softmax_config::inv_table_t inv_table[INV_TABLE_SIZE];
    nnet::init_exp_table<softmax_config::inp_norm_t, softmax_config>(exp_table, true);
    nnet::init_invert_table<softmax_config::inv_inp_t, softmax_config>(inv_table);
    for (unsigned i = 0; i < EXP_TABLE_SIZE; i++) std::printf("X %u %lld\n", i, raw_of(exp_table[i]));
    for (unsigned i = 0; i < INV_TABLE_SIZE; i++) std::printf("V %u %lld\n", i, raw_of(inv_table[i]));

    for (unsigned e = 0; e < n; e++) {
        float in[16];
        for (unsigned f = 0; f < 16; f++) {
            char buf[64];
            if (std::scanf("%63s", buf) != 1) {
                std::fprintf(stderr, "jet_tagger: short inputs at event %u\n", e);
                return 2;
            }
            in[f] = std::strtof(buf, nullptr);
        }
        input_t x[16];
        for (unsigned f = 0; f < 16; f++) x[f] = in[f];
        result_t l2[64], a3[64], l4[32], a5[32], l6[32], a7[32], z[5], p[5];
        nnet::dense<input_t, result_t, dense_cfg<16, 64>>(x, l2, w2, b2);
        nnet::relu<result_t, result_t, relu_cfg<64>>(l2, a3);
        nnet::dense<result_t, result_t, dense_cfg<64, 32>>(a3, l4, w4, b4);
        nnet::relu<result_t, result_t, relu_cfg<32>>(l4, a5);
        nnet::dense<result_t, result_t, dense_cfg<32, 32>>(a5, l6, w6, b6);
        nnet::relu<result_t, result_t, relu_cfg<32>>(l6, a7);
        nnet::dense<result_t, result_t, dense_cfg<32, 5>>(a7, z, w8, b8);
        nnet::softmax<result_t, result_t, softmax_config>(z, p);
        std::printf("Z %u", e);
        for (unsigned c = 0; c < 5; c++) std::printf(" %lld", raw_of(z[c]));
        std::printf("\nP %u", e);
        for (unsigned c = 0; c < 5; c++) std::printf(" %lld", raw_of(p[c]));
        std::printf("\n");
    }
    return 0;
}
