/* The LRU's recurrence h_t = lambda h_{t-1} + u_t on one CPU core, for `seqmem.models.lru`.

   lambda is complex, one per mode, the same at every step. Each (mode, sequence) is a chain of complex
   multiply-adds along time; the B chains of a mode advance together, so the CPU overlaps them instead of
   waiting on each one's latency. A step costs 8 flops per mode and sequence, against the chunked matmul
   form's T (the chunk's steps) times that. Layouts, contiguous: u and h `(2, N, B, L)` (real parts, then
   imaginary), h0 `(2, N, B)`, lambda `(2, N)`. With `reverse` the recurrence runs from the last step back,
   h_t = lambda h_{t+1} + u_t (the gradient's, with conj(lambda)). Compiled with REAL float and with REAL
   double, each exported with its type's suffix. */

#include <stdlib.h>

#include "native.h"

void EXPORT(linear_recurrence)(const REAL *lambda, const REAL *u, const REAL *h0, int N, int B, int L,
                               int reverse, REAL *h) {
    const long parts = (long)N * B * L;  /* offset of the imaginary parts */
    REAL *re = malloc(2 * B * sizeof(REAL)), *im = re + B;
    for (int n = 0; n < N; n++) {
        const REAL lr = lambda[n], li = lambda[N + n];
        const long row = (long)n * B * L;
        for (int b = 0; b < B; b++) {
            re[b] = h0 ? h0[(long)n * B + b] : 0;
            im[b] = h0 ? h0[(long)N * B + (long)n * B + b] : 0;
        }
        for (int s = 0; s < L; s++) {
            const int t = reverse ? L - 1 - s : s;
            for (int b = 0; b < B; b++) {
                const long i = row + (long)b * L + t;
                const REAL r = lr * re[b] - li * im[b] + u[i];
                im[b] = lr * im[b] + li * re[b] + u[parts + i];
                re[b] = r;
                h[i] = r;
                h[parts + i] = im[b];
            }
        }
    }
    free(re);
}
