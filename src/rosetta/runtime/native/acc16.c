/* u8 x s8 GEMM with 16-bit accumulation (vpmaddubsw + vpaddsw, spilled to int32 every `kspill` steps of K),
 * the sparse outlier product in int32, an acc32 kernel (vpmaddubsw + vpmaddwd + vpaddd) to compare with, and an
 * int8 convolution (im2col, acc16 GEMM, requantization as ONNX Runtime's QLinearConv) built on them.
 * Plain C with per-function target attributes (no -m flags needed), loaded with ctypes: no Python.h.
 *
 * C[M, N] = A[M, K] (uint8, rows zero-padded to a multiple of 4) x W[K, N] (int8), int32 out.
 *
 * Packed weights (made in Python, rosetta/quant/acc16.py), one layout for both kernels: panels of 16 columns;
 * panel j, quad q: 16 x (w[4q..4q+3, n]) = 64 bytes, two ymm (AVX2) or one zmm (AVX-512BW) registers.
 * A 32-bit broadcast of a[4q..4q+3] times a panel row through vpmaddubsw gives, per column, two int16 lanes:
 * a0*w0 + a1*w1 and a2*w2 + a3*w3. acc32 folds them with vpmaddwd(., 1) into int32 at every step; acc16 adds
 * them with vpaddsw into the two int16 lanes for `kspill` steps of K and only then folds them into int32
 * (the same vpmaddwd + vpaddd, every kspill/4 quads instead of every quad): each int16 lane sums kspill/2 products.
 *
 * Exactness. vpmaddubsw saturates a pair a0*w0 + a1*w1 to int16 and vpaddsw saturates each add. For every row
 * and spill block the kernel bounds each lane's |partial sum| by the sum of a[k] * max_n |w[k, n]| over the k
 * that lane sees (a cheap u8 dot product); a row whose bounds fit int16 in every block cannot saturate (no
 * prefix can exceed its bound). The blocks that might are recomputed for that row, once through the same 16-bit
 * tile and once exactly (the acc32 tile when |w| <= 64, else vpmaddwd on widened inputs), and the difference is
 * added: stats[0] counts such rows, stats[1] the outputs with a block that did saturate, stats[2] the pairs
 * vpmaddubsw itself saturated. The result is always the exact int32 product, and saturation is never silent.
 * The outliers (weights outside the dense part's range) are added in int32, vectorized over rows.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TGT_AVX2 __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline))

#if !defined(ROSETTA_NO_AVX512) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 6))
#define HAVE_AVX512 1
#define TGT_AVX512 __attribute__((target("avx2,avx512f,avx512bw")))
#else
#define HAVE_AVX512 0
#endif

#ifndef MR
#define MR 4    /* rows per micro-tile (at most 6) */
#endif
#ifndef MB
#define MB 64   /* rows per block (C rows stay in cache for the checks and the outliers) */
#endif

enum { ISA_NONE = 0, ISA_AVX2 = 2, ISA_AVX512 = 3 };

/* The best instruction set this library was built for and this CPU runs (0: neither: use another path). */
int acc16_isa(void) {
    __builtin_cpu_init();
#if HAVE_AVX512
    if (__builtin_cpu_supports("avx512bw")) return ISA_AVX512;
#endif
    if (__builtin_cpu_supports("avx2")) return ISA_AVX2;
    return ISA_NONE;
}

static int pick_isa(int isa) {
    int best = acc16_isa();
    if (isa == 0) return best;
    return isa <= best ? isa : -1;
}

/* ------------------------------------------------------------------ AVX2 micro-kernels */
INLINE TGT_AVX2 __m256i bcast16(const uint8_t *p) { int16_t v; memcpy(&v, p, 2); return _mm256_set1_epi16(v); }
INLINE TGT_AVX2 __m256i bcast32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return _mm256_set1_epi32(v); }

/* rows x 16 columns of one panel, 16-bit accumulation spilled every kspill (multiple of 4) steps of K */
INLINE TGT_AVX2 void tile16_avx2(int rows, const uint8_t *A, long lda, const int8_t *P, int nquads, int kspill,
                                 int32_t *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int qs = kspill / 4;
    __m256i s[MR][2];
    for (int r = 0; r < rows; r++) s[r][0] = s[r][1] = _mm256_setzero_si256();
    for (int q0 = 0; q0 < nquads; q0 += qs) {
        int q1 = q0 + qs < nquads ? q0 + qs : nquads;
        __m256i h[MR][2];
        for (int r = 0; r < rows; r++) h[r][0] = h[r][1] = _mm256_setzero_si256();
        for (int q = q0; q < q1; q++) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(P + (long)q * 64));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(P + (long)q * 64 + 32));
            for (int r = 0; r < rows; r++) {
                const __m256i a = bcast32(A + r * lda + 4 * q);
                h[r][0] = _mm256_adds_epi16(h[r][0], _mm256_maddubs_epi16(a, w0));
                h[r][1] = _mm256_adds_epi16(h[r][1], _mm256_maddubs_epi16(a, w1));
            }
        }
        for (int r = 0; r < rows; r++) { /* spill: the two int16 lanes of each column -> one int32 */
            s[r][0] = _mm256_add_epi32(s[r][0], _mm256_madd_epi16(h[r][0], ones));
            s[r][1] = _mm256_add_epi32(s[r][1], _mm256_madd_epi16(h[r][1], ones));
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_si256((__m256i *)(out + r * 16), s[r][0]);
        _mm256_storeu_si256((__m256i *)(out + r * 16 + 8), s[r][1]);
    }
}

/* rows x 16 columns of one acc32 panel into out[rows][16] */
INLINE TGT_AVX2 void tile32_avx2(int rows, const uint8_t *A, long lda, const int8_t *P, int nquads, int32_t *out) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[MR][2];
    for (int r = 0; r < rows; r++) s[r][0] = s[r][1] = _mm256_setzero_si256();
    for (int q = 0; q < nquads; q++) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(P + (long)q * 64));
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(P + (long)q * 64 + 32));
        for (int r = 0; r < rows; r++) {
            const __m256i a = bcast32(A + r * lda + 4 * q);
            s[r][0] = _mm256_add_epi32(s[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(a, w0), ones));
            s[r][1] = _mm256_add_epi32(s[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(a, w1), ones));
        }
    }
    for (int r = 0; r < rows; r++) {
        _mm256_storeu_si256((__m256i *)(out + r * 16), s[r][0]);
        _mm256_storeu_si256((__m256i *)(out + r * 16 + 8), s[r][1]);
    }
}

/* A micro-kernel called with a constant row count (1..MR): its accumulators then live in registers. */
#if MR >= 6
#define ROWS_6_5(KERNEL, ...) case 6: KERNEL(6, __VA_ARGS__); break; case 5: KERNEL(5, __VA_ARGS__); break;
#else
#define ROWS_6_5(KERNEL, ...)
#endif
#define BY_ROWS(KERNEL, rows, ...)                                                                         \
    switch (rows) {                                                                                        \
    ROWS_6_5(KERNEL, __VA_ARGS__)                                                                          \
    case 4: KERNEL(4, __VA_ARGS__); break;                                                                 \
    case 3: KERNEL(3, __VA_ARGS__); break;                                                                 \
    case 2: KERNEL(2, __VA_ARGS__); break;                                                                 \
    default: KERNEL(1, __VA_ARGS__); break;                                                                \
    }

static TGT_AVX2 void tile16_avx2_any(int rows, const uint8_t *A, long lda, const int8_t *P, int nquads, int kspill,
                                     int32_t *out) {
    BY_ROWS(tile16_avx2, rows, A, lda, P, nquads, kspill, out)
}

static TGT_AVX2 void tile32_avx2_any(int rows, const uint8_t *A, long lda, const int8_t *P, int nquads, int32_t *out) {
    BY_ROWS(tile32_avx2, rows, A, lda, P, nquads, out)
}

/* ------------------------------------------------------------------ AVX-512BW micro-kernels */
#if HAVE_AVX512
INLINE TGT_AVX512 void tile16_avx512(int rows, const uint8_t *A, long lda, const int8_t *P, int nquads, int kspill,
                                     int32_t *out) {
    const __m512i ones = _mm512_set1_epi16(1);
    const int qs = kspill / 4;
    __m512i s[MR];
    for (int r = 0; r < rows; r++) s[r] = _mm512_setzero_si512();
    for (int q0 = 0; q0 < nquads; q0 += qs) {
        int q1 = q0 + qs < nquads ? q0 + qs : nquads;
        __m512i h[MR];
        for (int r = 0; r < rows; r++) h[r] = _mm512_setzero_si512();
        for (int q = q0; q < q1; q++) {
            const __m512i w = _mm512_loadu_si512((const void *)(P + (long)q * 64));
            for (int r = 0; r < rows; r++) {
                int32_t v;
                memcpy(&v, A + r * lda + 4 * q, 4);
                h[r] = _mm512_adds_epi16(h[r], _mm512_maddubs_epi16(_mm512_set1_epi32(v), w));
            }
        }
        for (int r = 0; r < rows; r++) s[r] = _mm512_add_epi32(s[r], _mm512_madd_epi16(h[r], ones));
    }
    for (int r = 0; r < rows; r++) _mm512_storeu_si512((void *)(out + r * 16), s[r]);
}

INLINE TGT_AVX512 void tile32_avx512(int rows, const uint8_t *A, long lda, const int8_t *P, int nquads, int32_t *out) {
    const __m512i ones = _mm512_set1_epi16(1);
    __m512i s[MR];
    for (int r = 0; r < rows; r++) s[r] = _mm512_setzero_si512();
    for (int q = 0; q < nquads; q++) {
        const __m512i w = _mm512_loadu_si512((const void *)(P + (long)q * 64));
        for (int r = 0; r < rows; r++) {
            int32_t v;
            memcpy(&v, A + r * lda + 4 * q, 4);
            s[r] = _mm512_add_epi32(s[r], _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_set1_epi32(v), w), ones));
        }
    }
    for (int r = 0; r < rows; r++) _mm512_storeu_si512((void *)(out + r * 16), s[r]);
}

static TGT_AVX512 void tile16_avx512_any(int rows, const uint8_t *A, long lda, const int8_t *P, int nquads,
                                         int kspill, int32_t *out) {
    BY_ROWS(tile16_avx512, rows, A, lda, P, nquads, kspill, out)
}

static TGT_AVX512 void tile32_avx512_any(int rows, const uint8_t *A, long lda, const int8_t *P, int nquads,
                                         int32_t *out) {
    BY_ROWS(tile32_avx512, rows, A, lda, P, nquads, out)
}
#endif

/* ------------------------------------------------------------------ checks, exact rows, outliers */
/* Marks (flags[b] = 1) the spill blocks of row `a` that may saturate and returns how many: within a block of
 * kspill k, the lane of k % 4 in {0, 1} and the lane of k % 4 in {2, 3} are each bounded by the sum of
 * a[k] * maxabs[k] over its k. */
static TGT_AVX2 int flag_blocks(const uint8_t *a, const uint8_t *maxabs, int K, int kspill, uint8_t *flags) {
    int nflag = 0;
    for (int k0 = 0, b = 0; k0 < K; k0 += kspill, b++) {
        int k1 = k0 + kspill < K ? k0 + kspill : K, k = k0;
        __m256i acc = _mm256_setzero_si256();
        for (; k + 16 <= k1; k += 16) { /* int32 lane i: k0 + 2i, 2i + 1: even lanes one half, odd the other */
            __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + k)));
            __m256i m = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(maxabs + k)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, m));
        }
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
        int32_t half[2] = {_mm_cvtsi128_si32(t), _mm_extract_epi32(t, 1)};
        for (; k < k1; k++) half[(k >> 1) & 1] += (int32_t)a[k] * maxabs[k];
        flags[b] = half[0] > 32767 || half[1] > 32767;
        nflag += flags[b];
    }
    return nflag;
}

/* Exact int32 product of one row with one panel over nq quads (widened inputs, vpmaddwd) into out[16]; counts
 * the pairs vpmaddubsw would saturate. */
static TGT_AVX2 void exact_panel(const uint8_t *a, const int8_t *Pj, int nq, int32_t *out, int64_t *pairs_saturated) {
    const __m256i hi = _mm256_set1_epi32(32767), lo = _mm256_set1_epi32(-32768);
    int64_t sat = 0;
    __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int q = 0; q < nq; q++) {
        const uint8_t *x4 = a + 4 * q;
        const __m256i x = _mm256_set1_epi64x((int64_t)x4[0] | ((int64_t)x4[1] << 16) | ((int64_t)x4[2] << 32) |
                                             ((int64_t)x4[3] << 48));
        for (int i = 0; i < 4; i++) { /* columns 4i..4i+3: int32 lanes (c, k01), (c, k23), ... */
            __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(Pj + (long)q * 64 + 16 * i)));
            __m256i v = _mm256_madd_epi16(x, w);
            __m256i bad = _mm256_or_si256(_mm256_cmpgt_epi32(v, hi), _mm256_cmpgt_epi32(lo, v));
            sat += __builtin_popcount(_mm256_movemask_ps(_mm256_castsi256_ps(bad)));
            s[i] = _mm256_add_epi32(s[i], v);
        }
    }
    int32_t buf[32];
    for (int i = 0; i < 4; i++) _mm256_storeu_si256((__m256i *)(buf + 8 * i), s[i]);
    for (int c = 0; c < 16; c++) out[c] = buf[2 * c] + buf[2 * c + 1];
    *pairs_saturated += sat;
}

/* Row m of C corrected where its flagged spill blocks saturated: per block and panel, the exact product minus
 * what the 16-bit lanes gave (the same tile over just that block: bit-identical to the main pass). Returns how
 * many of the row's outputs changed. */
static TGT_AVX2 int correct_row(const uint8_t *a, const int8_t *P, int nquads, int N, int kspill, const uint8_t *flags,
                                int seven_bit, int32_t *c, uint8_t *changed, int64_t *pairs_saturated) {
    const int npanels = (N + 15) / 16, K = 4 * nquads;
    memset(changed, 0, N);
    for (int k0 = 0, b = 0; k0 < K; k0 += kspill, b++) {
        if (!flags[b]) continue;
        const int nq = ((k0 + kspill < K ? k0 + kspill : K) - k0) / 4;
        for (int j = 0; j < npanels; j++) {
            const int8_t *Pj = P + (long)j * nquads * 64 + (long)(k0 / 4) * 64;
            int32_t h[16], e[16];
            tile16_avx2_any(1, a + k0, 0, Pj, nq, 4 * nq, h);
            if (seven_bit)
                tile32_avx2_any(1, a + k0, 0, Pj, nq, e); /* exact: 7-bit pairs cannot saturate */
            else
                exact_panel(a + k0, Pj, nq, e, pairs_saturated);
            const int n = N - 16 * j < 16 ? N - 16 * j : 16;
            for (int i = 0; i < n; i++) {
                c[16 * j + i] += e[i] - h[i];
                changed[16 * j + i] |= e[i] != h[i];
            }
        }
    }
    int count = 0;
    for (int i = 0; i < N; i++) count += changed[i];
    return count;
}

/* The outliers' product for rows m0..m1 (at most MB): C[m, col] += a[m, k] * val, CSR over the nk rows k of W
 * that hold any. Vectorized over the rows: column k of the A block is gathered once, zero-extended to int32 lanes
 * (as int16 pairs (a, 0)), and each outlier adds vpmaddwd(a, (val, 0)) = a * val, exact, into a column-major
 * scratch T[n][MB]; the columns touched are then added into C. */
static TGT_AVX2 void sparse_block(const uint8_t *A, long lda, int m0, int m1, int nk, const int32_t *ks,
                                  const int32_t *ptr, const int32_t *col, const int16_t *val, int32_t *C, long ldc,
                                  int32_t *T, int32_t *touched, uint8_t *seen) {
    const int rows = m1 - m0, nv = (rows + 7) / 8;
    int nt = 0;
    for (int i = 0; i < nk; i++) {
        uint8_t g[MB + 16] = {0};
        const uint8_t *ak = A + (long)m0 * lda + ks[i];
        int any = 0;
        for (int r = 0; r < rows; r++) any |= (g[r] = ak[(long)r * lda]);
        if (!any) continue; /* a column of zeros (ReLU) adds nothing */
        __m256i x[MB / 8];
        for (int v = 0; v < nv; v++) x[v] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + 8 * v)));
        for (int e = ptr[i]; e < ptr[i + 1]; e++) {
            const int n = col[e];
            const __m256i w = _mm256_set1_epi32((uint16_t)val[e]); /* int16 pairs (val, 0) */
            int32_t *t = T + (long)n * MB;
            if (!seen[n]) {
                seen[n] = 1;
                touched[nt++] = n;
                for (int v = 0; v < nv; v++) _mm256_storeu_si256((__m256i *)(t + 8 * v), _mm256_setzero_si256());
            }
            for (int v = 0; v < nv; v++) {
                __m256i acc = _mm256_loadu_si256((const __m256i *)(t + 8 * v));
                _mm256_storeu_si256((__m256i *)(t + 8 * v), _mm256_add_epi32(acc, _mm256_madd_epi16(x[v], w)));
            }
        }
    }
    for (int j = 0; j < nt; j++) {
        const int n = touched[j];
        const int32_t *t = T + (long)n * MB;
        for (int r = 0; r < rows; r++) C[(long)(m0 + r) * ldc + n] += t[r];
        seen[n] = 0;
    }
}

/* ------------------------------------------------------------------ drivers */
typedef void (*tile16_fn)(int, const uint8_t *, long, const int8_t *, int, int, int32_t *);
typedef void (*tile32_fn)(int, const uint8_t *, long, const int8_t *, int, int32_t *);

/* Scratch of one acc16 call: the outliers' column-major block, the columns they touched, the spill blocks flagged. */
typedef struct {
    int32_t *T, *touched;
    uint8_t *seen, flags[4096 / 4 + 1], changed[4096];
} scratch_t;

/* acc16 product of `rows` (at most MB) rows of A into C, checks and outliers included. */
static TGT_AVX2 void acc16_block(const uint8_t *A, long lda, int rows, int K, const int8_t *P, int N,
                                 const uint8_t *maxabs, int kspill, int seven_bit, tile16_fn tile, int nk,
                                 const int32_t *ks, const int32_t *ptr, const int32_t *col, const int16_t *val,
                                 int32_t *C, long ldc, scratch_t *sc, int64_t *stats) {
    const int nquads = K / 4, npanels = (N + 15) / 16;
    int32_t buf[MR * 16];
    for (int j = 0; j < npanels; j++) {
        const int8_t *Pj = P + (long)j * nquads * 64;
        int n = N - 16 * j < 16 ? N - 16 * j : 16;
        for (int m = 0; m < rows; m += MR) {
            int r1 = rows - m < MR ? rows - m : MR;
            tile(r1, A + m * lda, lda, Pj, nquads, kspill, buf);
            for (int r = 0; r < r1; r++) memcpy(C + (m + r) * ldc + 16 * j, buf + r * 16, n * sizeof(int32_t));
        }
    }
    if (maxabs) {
        for (int m = 0; m < rows; m++) {
            if (!flag_blocks(A + m * lda, maxabs, K, kspill, sc->flags)) continue;
            stats[0]++;
            stats[1] += correct_row(A + m * lda, P, nquads, N, kspill, sc->flags, seven_bit, C + m * ldc, sc->changed,
                                    &stats[2]);
        }
    }
    if (nk) sparse_block(A, lda, 0, rows, nk, ks, ptr, col, val, C, ldc, sc->T, sc->touched, sc->seen);
}

static int scratch_init(scratch_t *sc, int nk, int N) {
    sc->T = nk ? calloc(1, sizeof(int32_t) * MB * N + sizeof(int32_t) * N + N) : 0;
    if (nk && !sc->T) return -1;
    sc->touched = nk ? sc->T + MB * N : 0;
    sc->seen = nk ? (uint8_t *)(sc->T + MB * N + N) : 0;
    return 0;
}

static int is_seven_bit(const uint8_t *maxabs, int K) {
    int ok = 1; /* dense |w| <= 64: vpmaddubsw pairs cannot saturate, acc32's tile is exact */
    for (int k = 0; maxabs && k < K; k++) ok &= maxabs[k] <= 64;
    return ok;
}

static tile16_fn pick_tile16(int isa) {
#if HAVE_AVX512
    if (isa == ISA_AVX512) return tile16_avx512_any;
#endif
    (void)isa;
    return tile16_avx2_any;
}

/* acc16 GEMM + outliers. K: padded depth (multiple of 4; A rows zero beyond the true K). kspill: steps of K
 * between spills (multiple of 4). maxabs: per k, max |w| of the dense part (NULL: no saturation check, outputs
 * may then be saturated: only for measuring its cost). Outliers: nk rows of W (0: none). stats (3 int64, added
 * to): rows checked, outputs that saturated, pairs that saturated. isa: 0 best, 2 AVX2, 3 AVX-512BW.
 * Returns the ISA used, -1 if refused. */
int acc16_gemm(const uint8_t *A, long lda, int M, int K, const int8_t *P, int N, const uint8_t *maxabs, int kspill,
               int nk, const int32_t *ks, const int32_t *ptr, const int32_t *col, const int16_t *val, int32_t *C,
               long ldc, int isa, int64_t *stats) {
    isa = pick_isa(isa);
    if (isa < ISA_AVX2 || K % 4 || kspill < 4 || kspill % 4 || N > 4096 || K > 4096) return -1;
    scratch_t sc;
    if (scratch_init(&sc, nk, N)) return -1;
    const int seven_bit = is_seven_bit(maxabs, K);
    for (int m0 = 0; m0 < M; m0 += MB)
        acc16_block(A + (long)m0 * lda, lda, M - m0 < MB ? M - m0 : MB, K, P, N, maxabs, kspill, seven_bit,
                    pick_tile16(isa), nk, ks, ptr, col, val, C + (long)m0 * ldc, ldc, &sc, stats);
    free(sc.T);
    return isa;
}

/* y[n] = saturate(rint(float(c[n] + bias[n]) * mult[n]) + zy), 8 at a time (cvtps rounds half to even, as rint) */
static TGT_AVX2 void requantize_row(const int32_t *c, const int32_t *bias, const float *mult, int zy, int N, uint8_t *y) {
    const __m256i z = _mm256_set1_epi32(zy);
    int n = 0;
    for (; n + 8 <= N; n += 8) {
        __m256 v = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(c + n)),
                                                       _mm256_loadu_si256((const __m256i *)(bias + n))));
        __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v, _mm256_loadu_ps(mult + n))), z);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)); /* int16, saturated */
        _mm_storel_epi64((__m128i *)(y + n), _mm_packus_epi16(w, w));                           /* uint8, saturated */
    }
    for (; n < N; n++) {
        float v = nearbyintf((float)(c[n] + bias[n]) * mult[n]) + (float)zy;
        y[n] = v < 0.f ? 0 : v > 255.f ? 255 : (uint8_t)v;
    }
}

/* acc32 product of `rows` (at most MB) rows of A into C (dense weights 7-bit), outliers included. */
static TGT_AVX2 void acc32_block(const uint8_t *A, long lda, int rows, int K, const int8_t *P, int N, tile32_fn tile,
                                 int nk, const int32_t *ks, const int32_t *ptr, const int32_t *col, const int16_t *val,
                                 int32_t *C, long ldc, scratch_t *sc) {
    const int nquads = K / 4, npanels = (N + 15) / 16;
    int32_t buf[MR * 16];
    for (int j = 0; j < npanels; j++) {
        const int8_t *Pj = P + (long)j * nquads * 64;
        int n = N - 16 * j < 16 ? N - 16 * j : 16;
        for (int m = 0; m < rows; m += MR) {
            int r1 = rows - m < MR ? rows - m : MR;
            tile(r1, A + m * lda, lda, Pj, nquads, buf);
            for (int r = 0; r < r1; r++) memcpy(C + (m + r) * ldc + 16 * j, buf + r * 16, n * sizeof(int32_t));
        }
    }
    if (nk) sparse_block(A, lda, 0, rows, nk, ks, ptr, col, val, C, ldc, sc->T, sc->touched, sc->seen);
}

static tile32_fn pick_tile32(int isa) {
#if HAVE_AVX512
    if (isa == ISA_AVX512) return tile32_avx512_any;
#endif
    (void)isa;
    return tile32_avx2_any;
}

/* int8 convolution, NHWC uint8 in and out, with the acc16 GEMM (kspill 0: the acc32 GEMM, for 7-bit dense
 * weights only): per block of MB output positions, im2col into a
 * cache-resident buffer (K in (ky, kx, c) order, padded with the input zero point zx; the packed weights must be
 * in that order), the GEMM with its checks and outliers, then requantization as ONNX Runtime's QLinearConv does
 * it: y = saturate(rint(float(acc + bias[n]) * mult[n]) + zy), where bias already holds -zx * sum_k w[k, n].
 * Returns the ISA used, -1 if refused. */
int acc16_conv(const uint8_t *X, int B, int H, int W, int Cin, int kh, int kw, int sh, int sw, int ph, int pw,
               int zx, const int8_t *P, int N, const uint8_t *maxabs, int kspill, int nk, const int32_t *ks,
               const int32_t *ptr, const int32_t *col, const int16_t *val, const int32_t *bias, const float *mult,
               int zy, uint8_t *Y, int isa, int64_t *stats) {
    isa = pick_isa(isa);
    const int Kt = kh * kw * Cin, K = (Kt + 3) / 4 * 4;
    const int Ho = (H + 2 * ph - kh) / sh + 1, Wo = (W + 2 * pw - kw) / sw + 1;
    const long M = (long)B * Ho * Wo;
    if (isa < ISA_AVX2 || (kspill && (kspill < 4 || kspill % 4)) || N > 4096 || K > 4096 || Ho < 1 || Wo < 1)
        return -1;
    if (!kspill && !is_seven_bit(maxabs, K)) return -1; /* acc32: vpmaddubsw pairs could saturate */
    scratch_t sc;
    if (scratch_init(&sc, nk, N)) return -1;
    uint8_t *A = malloc((size_t)MB * K);
    int32_t *C = malloc(sizeof(int32_t) * MB * N);
    if (!A || !C) { free(A); free(C); free(sc.T); return -1; }
    const int seven_bit = is_seven_bit(maxabs, K);
    for (long m0 = 0; m0 < M; m0 += MB) {
        const int rows = M - m0 < MB ? (int)(M - m0) : MB;
        for (int r = 0; r < rows; r++) { /* im2col */
            const long p = m0 + r;
            const int b = (int)(p / ((long)Ho * Wo)), oy = (int)(p / Wo % Ho), ox = (int)(p % Wo);
            const int ix0 = ox * sw - pw, inside = ix0 >= 0 && ix0 + kw <= W;
            uint8_t *dst = A + (long)r * K;
            for (int ky = 0; ky < kh; ky++) {
                const int iy = oy * sh - ph + ky;
                if (iy < 0 || iy >= H) {
                    memset(dst, zx, (size_t)kw * Cin);
                    dst += kw * Cin;
                } else if (inside) { /* the kw pixels are contiguous in NHWC */
                    memcpy(dst, X + (((long)b * H + iy) * W + ix0) * Cin, (size_t)kw * Cin);
                    dst += kw * Cin;
                } else {
                    for (int kx = 0; kx < kw; kx++, dst += Cin) {
                        const int ix = ix0 + kx;
                        if (ix < 0 || ix >= W) memset(dst, zx, Cin);
                        else memcpy(dst, X + (((long)b * H + iy) * W + ix) * Cin, Cin);
                    }
                }
            }
            memset(dst, 0, K - Kt);
        }
        if (kspill)
            acc16_block(A, K, rows, K, P, N, maxabs, kspill, seven_bit, pick_tile16(isa), nk, ks, ptr, col, val, C,
                        N, &sc, stats);
        else
            acc32_block(A, K, rows, K, P, N, pick_tile32(isa), nk, ks, ptr, col, val, C, N, &sc);
        for (int r = 0; r < rows; r++) requantize_row(C + (long)r * N, bias, mult, zy, N, Y + (m0 + r) * N);
    }
    free(A);
    free(C);
    free(sc.T);
    return isa;
}

/* acc32 GEMM (dense weights must be 7-bit, |w| <= 64, so vpmaddubsw pairs cannot saturate) + outliers. */
int acc32_gemm(const uint8_t *A, long lda, int M, int K, const int8_t *P, int N, int nk, const int32_t *ks,
               const int32_t *ptr, const int32_t *col, const int16_t *val, int32_t *C, long ldc, int isa) {
    isa = pick_isa(isa);
    if (isa < ISA_AVX2 || K % 4) return -1;
    tile32_fn tile = tile32_avx2_any;
#if HAVE_AVX512
    if (isa == ISA_AVX512) tile = tile32_avx512_any;
#endif
    const int nquads = K / 4, npanels = (N + 15) / 16;
    int32_t buf[MR * 16];
    int32_t *T = nk ? calloc(1, sizeof(int32_t) * MB * N + sizeof(int32_t) * N + N) : 0; /* scratch, touched, seen */
    if (nk && !T) return -1;
    for (int m0 = 0; m0 < M; m0 += MB) {
        int m1 = m0 + MB < M ? m0 + MB : M;
        for (int j = 0; j < npanels; j++) {
            const int8_t *Pj = P + (long)j * nquads * 64;
            int n = N - 16 * j < 16 ? N - 16 * j : 16;
            for (int m = m0; m < m1; m += MR) {
                int rows = m1 - m < MR ? m1 - m : MR;
                tile(rows, A + m * lda, lda, Pj, nquads, buf);
                for (int r = 0; r < rows; r++) memcpy(C + (m + r) * ldc + 16 * j, buf + r * 16, n * sizeof(int32_t));
            }
        }
        if (nk) sparse_block(A, lda, m0, m1, nk, ks, ptr, col, val, C, ldc, T, T + MB * N, (uint8_t *)(T + MB * N + N));
    }
    free(T);
    return isa;
}
