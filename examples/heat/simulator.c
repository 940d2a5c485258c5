/*
 * A small forward simulator for enkg's ForwardModel.fromCommand protocol:
 * heat diffusion on a periodic grid, observed by a coarse grid of sensors.
 *
 *   heat-sim INPUT.npy OUTPUT.npy [STEPS] [STRIDE]
 *
 * INPUT holds float32 [n, 1, H, W]: n initial temperature fields. Each is
 * advanced STEPS (default 20) explicit steps of u <- u + r * laplacian(u),
 * r = 0.2 (stable for r <= 0.25), then read at every STRIDE-th (default 2)
 * pixel in each direction. OUTPUT gets float32 [n, (H/STRIDE) * (W/STRIDE)].
 * Exit code 0 on success; 1 with a message on standard error otherwise.
 *
 * Build: cc -O2 -std=c99 -o heat-sim simulator.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *path) {
  fprintf(stderr, "heat-sim: %s: %s\n", what, path);
  return 1;
}

/* Reads a little-endian float32 C-order .npy file; returns its data and shape (up to 4 dims). */
static float *read_npy(const char *path, long shape[4], int *ndim) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char pre[12];
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) { fclose(f); return NULL; }
  size_t header_len = pre[8] | (pre[9] << 8);
  if (pre[6] >= 2) {
    if (fread(pre + 10, 1, 2, f) != 2) { fclose(f); return NULL; }
    header_len = pre[8] | (pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
  }
  char *header = calloc(header_len + 1, 1);
  if (!header || fread(header, 1, header_len, f) != header_len) { free(header); fclose(f); return NULL; }
  const char *shape_at = strstr(header, "'shape': (");
  if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False") || !shape_at) {
    free(header); fclose(f); return NULL;
  }
  *ndim = 0;
  long count = 1;
  char *p = (char *)shape_at + strlen("'shape': (");
  while (*p && *p != ')' && *ndim < 4) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) break;
    shape[(*ndim)++] = v;
    count *= v;
    p = end;
    while (*p == ',' || *p == ' ') p++;
  }
  free(header);
  float *data = malloc((size_t)count * sizeof(float));
  if (!data || fread(data, sizeof(float), (size_t)count, f) != (size_t)count) { free(data); fclose(f); return NULL; }
  fclose(f);
  return data;
}

/* Writes float32 [rows, cols] as a version 1.0 .npy file; 0 on success. */
static int write_npy(const char *path, const float *data, long rows, long cols) {
  char dict[128];
  int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %ld), }", rows, cols);
  int total = ((10 + len + 1 + 63) / 64) * 64; /* preamble padded to a multiple of 64 */
  int header_len = total - 10;
  FILE *f = fopen(path, "wb");
  if (!f) return 1;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(header_len & 0xff), (unsigned char)(header_len >> 8)};
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
  for (int i = len; ok && i < header_len - 1; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF;
  ok = ok && fwrite(data, sizeof(float), (size_t)(rows * cols), f) == (size_t)(rows * cols);
  return (fclose(f) == 0 && ok) ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: heat-sim INPUT.npy OUTPUT.npy [STEPS] [STRIDE]\n");
    return 2;
  }
  int steps = argc > 3 ? atoi(argv[3]) : 20, stride = argc > 4 ? atoi(argv[4]) : 2;
  long shape[4];
  int ndim;
  float *x = read_npy(argv[1], shape, &ndim);
  if (!x) return fail("cannot read a float32 .npy file", argv[1]);
  if (ndim != 4 || shape[1] != 1 || stride < 1 || shape[2] % stride || shape[3] % stride) {
    return fail("expected shape [n, 1, H, W] with H and W multiples of STRIDE", argv[1]);
  }
  long n = shape[0], H = shape[2], W = shape[3], m = (H / stride) * (W / stride);
  const float r = 0.2f;
  double *u = malloc(sizeof(double) * H * W), *next = malloc(sizeof(double) * H * W);
  float *y = malloc(sizeof(float) * n * m);
  if (!u || !next || !y) return fail("out of memory", argv[1]);
  for (long b = 0; b < n; b++) {
    for (long k = 0; k < H * W; k++) u[k] = x[b * H * W + k];
    for (int s = 0; s < steps; s++) {
      for (long i = 0; i < H; i++) {
        for (long j = 0; j < W; j++) {
          double lap = u[((i + 1) % H) * W + j] + u[((i + H - 1) % H) * W + j]
                     + u[i * W + (j + 1) % W] + u[i * W + (j + W - 1) % W] - 4 * u[i * W + j];
          next[i * W + j] = u[i * W + j] + r * lap;
        }
      }
      double *t = u; u = next; next = t;
    }
    long k = 0;
    for (long i = 0; i < H; i += stride)
      for (long j = 0; j < W; j += stride) y[b * m + k++] = (float)u[i * W + j];
  }
  if (write_npy(argv[2], y, n, m)) return fail("cannot write", argv[2]);
  return 0;
}
