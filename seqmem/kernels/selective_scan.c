/* Mamba's selective scan on one CPU core, forward and backward, for `seqmem.kernels.selective_scan`.

   h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t and y_t = C_t h_t, for each sequence b and channel e with
   N state numbers. A step's state `(N, E)` stays in the L1 cache and each (n, e) is read and written once
   a step, with exp, the drive and the readout fused in one vectorised loop over e; in PyTorch the same step
   is a dozen passes over `(B, N, E)` tensors. The forward keeps only the state at the start of every chunk
   of `chunk` steps; the backward rebuilds a chunk's states and decays from it (a buffer that stays in the
   L2 cache), then runs the adjoint recurrence g_t = C_t dy_t + exp(delta_{t+1} A) g_{t+1} backwards,
   forming every gradient in the same pass.

   Layouts, all contiguous: x, delta, y and their gradients `(B, L, E)`; B, C `(B, L, N)`; A transposed,
   `(N, E)`; states `(B, N, E)`; chunk starts `(B, J, N, E)`. Compiled once with REAL float and once with
   REAL double (the gradient checks), each exported with its type's suffix. */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

/* One build runs on any x86-64 machine at its widest vectors (ifunc picks the clone at load). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

static inline REAL exp_of(REAL z) { return sizeof(REAL) == sizeof(float) ? expf(z) : exp(z); }

/* One step from state h into next: with `decay`, it also keeps exp(delta A); without, it adds C h to y. */
static inline void step(const REAL *restrict delta, const REAL *restrict dx, const REAL *restrict AT,
                        const REAL *restrict Bt, const REAL *restrict Ct, const REAL *restrict h,
                        REAL *restrict next, REAL *restrict decay, REAL *restrict y, int N, int E) {
    for (int n = 0; n < N; n++) {
        const REAL bn = Bt[n];
        const REAL *restrict An = AT + (long)n * E;
        const REAL *restrict hn = h + (long)n * E;
        REAL *restrict out = next + (long)n * E;
        REAL *restrict an = decay ? decay + (long)n * E : NULL;
        if (an) {
            for (int e = 0; e < E; e++) {
                an[e] = exp_of(delta[e] * An[e]);
                out[e] = an[e] * hn[e] + bn * dx[e];
            }
        } else {
            const REAL cn = Ct[n];
            for (int e = 0; e < E; e++) {
                out[e] = exp_of(delta[e] * An[e]) * hn[e] + bn * dx[e];
                y[e] += cn * out[e];
            }
        }
    }
}

CLONES void EXPORT(scan_forward)(const REAL *x, const REAL *delta, const REAL *AT, const REAL *B, const REAL *C,
                                 const REAL *h0, int batch, int L, int E, int N, int chunk, REAL *y,
                                 REAL *starts, REAL *h_last) {
    const long NE = (long)N * E;
    const int J = (L + chunk - 1) / chunk;
    REAL *h = malloc(2 * NE * sizeof(REAL)), *dx = malloc(E * sizeof(REAL));
    for (int b = 0; b < batch; b++) {
        REAL *cur = h, *next = h + NE;
        memcpy(cur, h0 + b * NE, NE * sizeof(REAL));
        for (int t = 0; t < L; t++) {
            const long bt = (long)b * L + t;
            if (starts && t % chunk == 0) memcpy(starts + ((long)b * J + t / chunk) * NE, cur, NE * sizeof(REAL));
            const REAL *d = delta + bt * E, *xt = x + bt * E;
            REAL *yt = y + bt * E;
            for (int e = 0; e < E; e++) {
                dx[e] = d[e] * xt[e];
                yt[e] = 0;
            }
            step(d, dx, AT, B + bt * N, C + bt * N, cur, next, NULL, yt, N, E);
            REAL *swap = cur;
            cur = next;
            next = swap;
        }
        memcpy(h_last + b * NE, cur, NE * sizeof(REAL));
    }
    free(h);
    free(dx);
}

/* grad_h_last: the gradient of the last state (or zeros). Writes the gradients of x, delta, B, C and h0;
   adds that of A (transposed) into gAT, which the caller zeroes. */
CLONES void EXPORT(scan_backward)(const REAL *x, const REAL *delta, const REAL *AT, const REAL *B, const REAL *C,
                                  const REAL *starts, const REAL *grad_y, const REAL *grad_h_last, int batch, int L,
                                  int E, int N, int chunk, REAL *gx, REAL *gdelta, REAL *gAT, REAL *gB, REAL *gC,
                                  REAL *gh0) {
    const long NE = (long)N * E;
    const int J = (L + chunk - 1) / chunk;
    REAL *hs = malloc((chunk + 1) * NE * sizeof(REAL)), *decays = malloc(chunk * NE * sizeof(REAL));
    REAL *dxs = malloc((long)chunk * E * sizeof(REAL)), *g = malloc(NE * sizeof(REAL));
    REAL *gdx = malloc(E * sizeof(REAL)), *gd = malloc(E * sizeof(REAL));
    for (int b = 0; b < batch; b++) {
        memcpy(g, grad_h_last + b * NE, NE * sizeof(REAL));
        for (int j = J - 1; j >= 0; j--) {
            const int t0 = j * chunk, T = (L - t0 < chunk ? L - t0 : chunk);
            memcpy(hs, starts + ((long)b * J + j) * NE, NE * sizeof(REAL));
            for (int i = 0; i < T; i++) {  /* the chunk's states and decays again */
                const long bt = (long)b * L + t0 + i;
                const REAL *d = delta + bt * E, *xt = x + bt * E;
                REAL *dx = dxs + (long)i * E;
                for (int e = 0; e < E; e++) dx[e] = d[e] * xt[e];
                step(d, dx, AT, B + bt * N, NULL, hs + i * NE, hs + (i + 1) * NE, decays + i * NE, NULL, N, E);
            }
            for (int i = T - 1; i >= 0; i--) {
                const long bt = (long)b * L + t0 + i;
                const REAL *d = delta + bt * E, *xt = x + bt * E, *gy = grad_y + bt * E, *dx = dxs + (long)i * E;
                const REAL *Bt = B + bt * N, *Ct = C + bt * N, *h = hs + (i + 1) * NE, *hp = hs + i * NE;
                const REAL *a = decays + i * NE;
                for (int e = 0; e < E; e++) gdx[e] = gd[e] = 0;
                for (int n = 0; n < N; n++) {
                    const REAL bn = Bt[n], cn = Ct[n];
                    const REAL *An = AT + (long)n * E, *hn = h + (long)n * E, *hpn = hp + (long)n * E;
                    const REAL *restrict an = a + (long)n * E;
                    REAL *restrict gn = g + (long)n * E, *restrict gAn = gAT + (long)n * E;
                    REAL sum_c = 0, sum_b = 0;
                    for (int e = 0; e < E; e++) {
                        const REAL ge = gn[e] + cn * gy[e];  /* dLoss/dh_t */
                        sum_c += gy[e] * hn[e];
                        sum_b += ge * dx[e];
                        gdx[e] += ge * bn;
                        const REAL gz = ge * an[e] * hpn[e];  /* dLoss/d(delta A), through the decay */
                        gd[e] += gz * An[e];
                        gAn[e] += gz * d[e];
                        gn[e] = an[e] * ge;  /* its part of dLoss/dh_{t-1} */
                    }
                    gC[bt * N + n] = sum_c;
                    gB[bt * N + n] = sum_b;
                }
                for (int e = 0; e < E; e++) {
                    gx[bt * E + e] = d[e] * gdx[e];
                    gdelta[bt * E + e] = gd[e] + xt[e] * gdx[e];
                }
            }
        }
        memcpy(gh0 + b * NE, g, NE * sizeof(REAL));
    }
    free(hs);
    free(decays);
    free(dxs);
    free(g);
    free(gdx);
    free(gd);
}
