#include "navier_stokes_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <string>

#include "../core/errors.h"
#include "../core/philox.h"
#include "cuda_check.h"
#include "cufft_shim.h"

namespace enkg {
namespace {

const cufft::Api& cufftApi() {
  std::string reason;
  const cufft::Api* api = cufft::load(&reason);
  if (api == nullptr) throw runtimeError(reason);
  return *api;
}

void checkFft(cufft::Result r, const char* what) {
  if (r != 0) throw runtimeError(std::string("cuFFT error ") + std::to_string(r) + " in " + what);
}

// cufftPlanMany allocates its work area with plain cudaMalloc, which cannot
// use memory parked in the stream-ordered pool (the device keeps freed
// blocks there). When planning fails, hand the pool's idle memory back to
// the driver and try once more.
cufft::Result planMany(const cufft::Api& api, cufft::Handle* plan, int R, int type, int64_t batch) {
  int n[2] = {R, R};
  cufft::Result r = api.planMany(plan, 2, n, nullptr, 1, 0, nullptr, 1, 0, type, static_cast<int>(batch));
  if (r == 0) return r;
  int device = 0;
  cudaMemPool_t pool;
  if (cudaDeviceSynchronize() == cudaSuccess && cudaGetDevice(&device) == cudaSuccess &&
      cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess && cudaMemPoolTrimTo(pool, 0) == cudaSuccess) {
    r = api.planMany(plan, 2, n, nullptr, 1, 0, nullptr, 1, 0, type, static_cast<int>(batch));
  }
  cudaGetLastError();
  return r;
}

template <typename T>
struct Complex {
  T x, y;
};

// Batched R x R real <-> half-complex plans (default layouts), destroyed on
// exit; `withForward` false plans only the inverse transform.
template <typename T>
class Plans {
 public:
  Plans(int R, int64_t batch, cudaStream_t stream, bool withForward = true) : api_(cufftApi()) {
    // cufftPlanMany counts elements in int; larger solves need cufftMakePlanMany64.
    const int64_t elements = batch * static_cast<int64_t>(R) * R;
    if (elements > INT_MAX) {
      throw rangeError("at most " + std::to_string(INT_MAX / (static_cast<int64_t>(R) * R)) + " fields of " +
                           std::to_string(R) + "^2 per CUDA solve (2^31 grid values); split the batch",
                       "batch", std::to_string(batch));
    }
    const bool single = sizeof(T) == sizeof(float);
    if (withForward) {
      checkFft(planMany(api_, &forward_, R, single ? cufft::kR2C : cufft::kD2Z, batch), "cufftPlanMany (forward)");
      hasForward_ = true;
    }
    const cufft::Result r = planMany(api_, &inverse_, R, single ? cufft::kC2R : cufft::kZ2D, batch);
    if (r != 0) {
      destroy();
      checkFft(r, "cufftPlanMany (inverse)");
    }
    hasInverse_ = true;
    // Work queued on another stream would race with this solve's stream.
    cufft::Result bound = hasForward_ ? api_.setStream(forward_, stream) : 0;
    if (bound == 0) bound = api_.setStream(inverse_, stream);
    if (bound != 0) {
      destroy();
      checkFft(bound, "cufftSetStream");
    }
  }
  Plans(const Plans&) = delete;
  Plans& operator=(const Plans&) = delete;
  ~Plans() { destroy(); }
  void forward(T* in, Complex<T>* out) const;
  void inverse(Complex<T>* in, T* out) const;  // destroys `in`

 private:
  void destroy() {
    if (hasForward_) api_.destroy(forward_);
    if (hasInverse_) api_.destroy(inverse_);
    hasForward_ = hasInverse_ = false;
  }

  const cufft::Api& api_;
  cufft::Handle forward_ = 0, inverse_ = 0;
  bool hasForward_ = false, hasInverse_ = false;
};

template <>
void Plans<float>::forward(float* in, Complex<float>* out) const { checkFft(api_.execR2C(forward_, in, out), "R2C"); }
template <>
void Plans<float>::inverse(Complex<float>* in, float* out) const { checkFft(api_.execC2R(inverse_, in, out), "C2R"); }
template <>
void Plans<double>::forward(double* in, Complex<double>* out) const { checkFft(api_.execD2Z(forward_, in, out), "D2Z"); }
template <>
void Plans<double>::inverse(Complex<double>* in, double* out) const { checkFft(api_.execZ2D(inverse_, in, out), "Z2D"); }

// ---- kernels: x over the H = R (R/2 + 1) modes (or R^2 points), y over
// fields, both grid-stride (gridDim.y is capped at 65535, batches are not)

template <typename T>
struct GridView {
  const T *kx, *ky, *invLap, *dealias, *viscous;
  const Complex<T>* forcing;  // null without forcing
  int64_t H;                  // modes per field
  int64_t batch;              // fields
};

#define NS_FOR_FIELDS(batch) for (int64_t f = blockIdx.y; f < (batch); f += gridDim.y)
#define NS_FOR_POINTS(n)                                                                          \
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < (n);          \
       p += static_cast<int64_t>(gridDim.x) * blockDim.x)
#define NS_FOR_MODES(g) NS_FOR_FIELDS((g).batch) NS_FOR_POINTS((g).H)

template <typename T>
__global__ void prepareNonlinear(GridView<T> g, const Complex<T>* wh, Complex<T>* a, Complex<T>* b, Complex<T>* c) {
  NS_FOR_MODES(g) {
    const int64_t e = f * g.H + p;
    const T re = wh[e].x * g.dealias[p], im = wh[e].y * g.dealias[p];
    const T psiRe = re * g.invLap[p], psiIm = im * g.invLap[p];
    a[e] = {re, im};
    b[e] = {-g.ky[p] * psiIm, g.ky[p] * psiRe};  // psi_y
    c[e] = {g.kx[p] * psiIm, -g.kx[p] * psiRe};  // -psi_x
  }
}

template <typename T>
__global__ void prepareVelocity(GridView<T> g, const Complex<T>* wh, Complex<T>* b, Complex<T>* c) {
  NS_FOR_MODES(g) {
    const int64_t e = f * g.H + p;
    const T psiRe = wh[e].x * g.invLap[p], psiIm = wh[e].y * g.invLap[p];
    b[e] = {-g.ky[p] * psiIm, g.ky[p] * psiRe};
    c[e] = {g.kx[p] * psiIm, -g.kx[p] * psiRe};
  }
}

template <typename T>
__global__ void products(T* q, T* v, const T* w, int64_t n, T scale2) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T s = w[i] * scale2;
    q[i] *= s;
    v[i] *= s;
  }
}

// out = -i (kx A + ky B) + f
template <typename T>
__global__ void finishNonlinear(GridView<T> g, const Complex<T>* a, const Complex<T>* b, Complex<T>* out) {
  NS_FOR_MODES(g) {
    const int64_t e = f * g.H + p;
    const T sRe = g.kx[p] * a[e].x + g.ky[p] * b[e].x;
    const T sIm = g.kx[p] * a[e].y + g.ky[p] * b[e].y;
    Complex<T> n = {sIm, -sRe};
    if (g.forcing != nullptr) {
      n.x += g.forcing[p].x;
      n.y += g.forcing[p].y;
    }
    out[e] = n;
  }
}

// Heun predictor (corrector = false): wt = (w + dt (n1 - nu w / 2)) / (1 + dt nu / 2);
// corrector: w = (w + dt ((n1 + n2) / 2 - nu w / 2)) / (1 + dt nu / 2).
// A field whose step is 0 (finished or failed) is left exactly as it is.
template <typename T, bool kCorrector>
__global__ void heun(GridView<T> g, Complex<T>* wh, const Complex<T>* n1, const Complex<T>* n2, Complex<T>* wt,
                     const double* current) {
  NS_FOR_MODES(g) {
    const double step = current[f];
    if (step == 0.0) {
      if (!kCorrector) wt[f * g.H + p] = wh[f * g.H + p];
      continue;
    }
    const int64_t e = f * g.H + p;
    const T dt = static_cast<T>(step), half = T(0.5), nu = g.viscous[p];
    const T denom = T(1) + half * dt * nu;
    const T driveRe = kCorrector ? half * (n1[e].x + n2[e].x) : n1[e].x;
    const T driveIm = kCorrector ? half * (n1[e].y + n2[e].y) : n1[e].y;
    const Complex<T> next = {(wh[e].x + dt * (driveRe - half * nu * wh[e].x)) / denom,
                             (wh[e].y + dt * (driveIm - half * nu * wh[e].y)) / denom};
    if (kCorrector) {
      wh[e] = next;
    } else {
      wt[e] = next;
    }
  }
}

// Per field: max |u|^2 over the grid (NaN if any value is not finite), in
// the field's precision like the CPU solver (so both take the same steps).
template <typename T>
__global__ void maxSpeedSquared(const T* q, const T* v, int64_t points, double* speed2) {
  __shared__ T best[256];
  __shared__ int bad[256];
  const int64_t f = blockIdx.x;
  T m = 0;
  int b = 0;
  for (int64_t i = threadIdx.x; i < points; i += blockDim.x) {
    const T s = squaredNorm(q[f * points + i], v[f * points + i]);
    if (!isfinite(s)) b = 1;
    m = s > m ? s : m;
  }
  best[threadIdx.x] = m;
  bad[threadIdx.x] = b;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      best[threadIdx.x] = best[threadIdx.x] > best[threadIdx.x + stride] ? best[threadIdx.x] : best[threadIdx.x + stride];
      bad[threadIdx.x] |= bad[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) speed2[f] = bad[0] ? nan("") : static_cast<double>(best[0]);
}

struct Clock {
  double* time;      // simulated time of each field
  double* dt;        // its next step size
  double* current;   // the step being taken now (0: none)
  double* failedAt;  // -1, or the time at which the field became non-finite
  long long* steps;  // time steps the field has taken
  long long* busyAt; // the last iteration after whose step some field still had time to go
};

// After a step (or at the start): advance the clock by the step just taken,
// then set the next step from the new speed (adaptive) or the fixed dt.
__global__ void updateClock(Clock c, const double* speed2, int64_t batch, int R, double reynolds,
                            double forcingAmplitude, bool adaptive, double fixedDt, double scale) {
  const int64_t f = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (f >= batch) return;
  c.time[f] += c.current[f];
  c.current[f] = 0.0;
  if (c.failedAt[f] >= 0) return;
  const double s2 = speed2[f];
  if (!isfinite(s2)) {
    c.failedAt[f] = c.time[f];
    c.dt[f] = nan("");
    return;
  }
  c.dt[f] = adaptive ? adaptiveTimeStep(sqrt(s2) * scale, R, reynolds, forcingAmplitude) : fixedDt;
}

// dtMode 'batch': every running field takes the smallest step of the batch.
__global__ void shareSmallestStep(Clock c, int64_t batch, double T) {
  __shared__ double best[256];
  double m = INFINITY;
  for (int64_t f = threadIdx.x; f < batch; f += blockDim.x) {
    if (c.failedAt[f] < 0 && c.time[f] < T) m = fmin(m, c.dt[f]);
  }
  best[threadIdx.x] = m;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) best[threadIdx.x] = fmin(best[threadIdx.x], best[threadIdx.x + stride]);
    __syncthreads();
  }
  for (int64_t f = threadIdx.x; f < batch; f += blockDim.x) {
    if (c.failedAt[f] < 0) c.dt[f] = best[0];
  }
}

// The step each field takes now, clipped to land on T (as the reference).
// A field that will still be short of T after it marks the iteration busy
// (time + current is the sum updateClock forms, so the two agree exactly).
__global__ void planStep(Clock c, int64_t batch, double T, long long iteration) {
  const int64_t f = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (f >= batch) return;
  const bool running = c.failedAt[f] < 0 && c.time[f] < T;
  const double dt = c.dt[f];
  c.current[f] = running ? (c.time[f] + dt > T ? T - c.time[f] : dt) : 0.0;
  if (!running) return;
  ++c.steps[f];
  if (c.time[f] + c.current[f] < T) *c.busyAt = iteration;
}

template <typename T>
__global__ void fromFloat(const float* in, T* out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) out[i] = static_cast<T>(in[i]);
}

// out = w / R^2 as float; NaN for failed fields.
template <typename T>
__global__ void toFloat(const T* w, float* out, int64_t points, int64_t batch, T scale, const double* failedAt) {
  NS_FOR_FIELDS(batch) NS_FOR_POINTS(points) {
    out[f * points + p] = failedAt != nullptr && failedAt[f] >= 0 ? nanf("") : static_cast<float>(w[f * points + p] * scale);
  }
}

// x over the n values of a field (at most 64 blocks), y over fields (capped).
dim3 fieldsGrid(int64_t n, int64_t batch) {
  const int64_t x = std::min<int64_t>((n + 255) / 256, 64);
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(std::min<int64_t>(batch, 65535)));
}

unsigned linearGrid(int64_t n) { return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 65535))); }

template <typename T>
NavierStokesReport solve(Device& device, const float* w0Host, float* outHost, int64_t batch,
                         const NavierStokesOptions& o) {
  cudaStream_t stream = static_cast<cudaStream_t>(device.stream());
  const SpectralGrid host = makeSpectralGrid(o.resolution, o.forcing);
  const int R = host.R;
  const int64_t H = static_cast<int64_t>(R) * host.Rc, points = static_cast<int64_t>(R) * R;

  // Grid operators, uploaded once.
  auto upload = [&](const std::vector<double>& values) {
    const std::vector<T> typed = castValues<T>(values);
    auto buffer = std::make_shared<DeviceArray<T>>(device, typed.size());
    ENKG_CUDA(cudaMemcpyAsync(buffer->get(), typed.data(), typed.size() * sizeof(T), cudaMemcpyHostToDevice, stream));
    ENKG_CUDA(cudaStreamSynchronize(stream));
    return buffer;
  };
  auto kx = upload(host.kx), ky = upload(host.ky), invLap = upload(host.invLap), dealias = upload(host.dealias),
       nu = upload(viscousSpectrum(host, o.reynolds));
  // Forcing spectrum (exact, core/navier_stokes.cc), interleaved (re, im).
  std::shared_ptr<DeviceArray<T>> forcing;
  if (o.forcing) forcing = upload(forcingSpectrum(host));
  const GridView<T> g{kx->get(), ky->get(), invLap->get(), dealias->get(), nu->get(),
                      forcing ? reinterpret_cast<const Complex<T>*>(forcing->get()) : nullptr, H, batch};

  const Plans<T> plans(R, batch, stream);
  const size_t spectra = static_cast<size_t>(H * batch), reals = static_cast<size_t>(points * batch);
  DeviceArray<Complex<T>> wh(device, spectra), wt(device, spectra), n1(device, spectra), n2(device, spectra),
      a(device, spectra), b(device, spectra), c(device, spectra);
  DeviceArray<T> w(device, reals), q(device, reals), v(device, reals);
  DeviceArray<float> staging(device, reals);
  DeviceArray<double> clockMemory(device, 5 * static_cast<size_t>(batch));
  DeviceArray<long long> counters(device, static_cast<size_t>(batch) + 1);  // steps per field, then busyAt
  Clock clock{clockMemory.get(), clockMemory.get() + batch, clockMemory.get() + 2 * batch,
              clockMemory.get() + 3 * batch, counters.get(), counters.get() + batch};
  double* speed2 = clockMemory.get() + 4 * batch;
  ENKG_CUDA(cudaMemsetAsync(clockMemory.get(), 0, 3 * batch * sizeof(double), stream));
  ENKG_CUDA(cudaMemsetAsync(clock.steps, 0, batch * sizeof(long long), stream));
  {
    std::vector<double> minusOne(static_cast<size_t>(batch), -1.0);
    ENKG_CUDA(cudaMemcpyAsync(clock.failedAt, minusOne.data(), batch * sizeof(double), cudaMemcpyHostToDevice, stream));
    ENKG_CUDA(cudaStreamSynchronize(stream));
  }

  ENKG_CUDA(cudaMemcpyAsync(staging.get(), w0Host, reals * sizeof(float), cudaMemcpyHostToDevice, stream));
  fromFloat<T><<<linearGrid(reals), 256, 0, stream>>>(staging.get(), w.get(), reals);
  plans.forward(w.get(), wh.get());

  const dim3 grid = fieldsGrid(H, batch);
  const T scale = T(1) / static_cast<T>(points);
  const double speedScale = 1.0 / static_cast<double>(points);
  auto nonlinear = [&](const Complex<T>* in, Complex<T>* out) {
    prepareNonlinear<T><<<grid, 256, 0, stream>>>(g, in, a.get(), b.get(), c.get());
    plans.inverse(a.get(), w.get());
    plans.inverse(b.get(), q.get());
    plans.inverse(c.get(), v.get());
    products<T><<<linearGrid(reals), 256, 0, stream>>>(q.get(), v.get(), w.get(), reals, scale * scale);
    plans.forward(q.get(), a.get());
    plans.forward(v.get(), b.get());
    finishNonlinear<T><<<grid, 256, 0, stream>>>(g, a.get(), b.get(), out);
  };
  auto nextSteps = [&]() {
    prepareVelocity<T><<<grid, 256, 0, stream>>>(g, wh.get(), b.get(), c.get());
    plans.inverse(b.get(), q.get());
    plans.inverse(c.get(), v.get());
    maxSpeedSquared<T><<<static_cast<unsigned>(batch), 256, 0, stream>>>(q.get(), v.get(), points, speed2);
    updateClock<<<linearGrid(batch), 256, 0, stream>>>(clock, speed2, batch, R, o.reynolds, host.forcingAmplitude,
                                                        o.adaptive, o.dt, speedScale);
    if (!o.perSampleDt) shareSmallestStep<<<1, 256, 0, stream>>>(clock, batch, o.time);
  };

  nextSteps();
  // The host reads busyAt every kCheck steps and stops once no field has
  // time to go after the latest step, so at most kCheck - 1 steps run after
  // the last field finished (exact no-ops for every field, not counted in
  // its steps).
  const int kCheck = 8;
  ENKG_CUDA(cudaMemsetAsync(clock.busyAt, 0xFF, sizeof(long long), stream));  // -1
  bool cancelled = false;
  for (int64_t iteration = 0; o.time > 0; ++iteration) {
    // The host is at most a queue of launches ahead of the device.
    if (cancelRequested(o)) {
      cancelled = true;
      break;
    }
    planStep<<<linearGrid(batch), 256, 0, stream>>>(clock, batch, o.time, static_cast<long long>(iteration));
    nonlinear(wh.get(), n1.get());
    heun<T, false><<<grid, 256, 0, stream>>>(g, wh.get(), n1.get(), nullptr, wt.get(), clock.current);
    nonlinear(wt.get(), n2.get());
    heun<T, true><<<grid, 256, 0, stream>>>(g, wh.get(), n1.get(), n2.get(), nullptr, clock.current);
    nextSteps();
    ENKG_CUDA(cudaGetLastError());
    // Out of steps: every field has taken at most maxSteps; those still short
    // of T fail below, as on the CPU.
    if (o.maxSteps > 0 && iteration + 1 >= o.maxSteps) break;
    if (iteration % kCheck == kCheck - 1) {
      long long busy = -1;
      ENKG_CUDA(cudaMemcpyAsync(&busy, clock.busyAt, sizeof(long long), cudaMemcpyDeviceToHost, stream));
      ENKG_CUDA(cudaStreamSynchronize(stream));
      if (busy != iteration) break;
    }
  }
  std::vector<long long> steps(static_cast<size_t>(batch));
  ENKG_CUDA(cudaMemcpyAsync(steps.data(), clock.steps, batch * sizeof(long long), cudaMemcpyDeviceToHost, stream));
  std::vector<double> reached(static_cast<size_t>(batch));
  ENKG_CUDA(cudaMemcpyAsync(reached.data(), clock.time, batch * sizeof(double), cudaMemcpyDeviceToHost, stream));

  std::vector<double> failedAt(static_cast<size_t>(batch));
  ENKG_CUDA(cudaMemcpyAsync(failedAt.data(), clock.failedAt, batch * sizeof(double), cudaMemcpyDeviceToHost, stream));
  ENKG_CUDA(cudaMemcpyAsync(a.get(), wh.get(), spectra * sizeof(Complex<T>), cudaMemcpyDeviceToDevice, stream));
  plans.inverse(a.get(), w.get());
  toFloat<T><<<fieldsGrid(points, batch), 256, 0, stream>>>(w.get(), staging.get(), points, batch, scale, clock.failedAt);
  ENKG_CUDA(cudaMemcpyAsync(outHost, staging.get(), reals * sizeof(float), cudaMemcpyDeviceToHost, stream));
  ENKG_CUDA(cudaStreamSynchronize(stream));
  NavierStokesReport report;
  report.cancelled = cancelled;
  for (long long taken : steps) report.steps = std::max<int64_t>(report.steps, taken);
  std::vector<SampleFailure>& failures = report.failures;
  for (int64_t f = 0; f < batch; ++f) {
    if (failedAt[f] >= 0) {
      failures.push_back({f, failedAt[f]});
    } else if (reached[f] < o.time) {
      failures.push_back({f, reached[f], true});
      std::fill(outHost + f * points, outHost + (f + 1) * points, std::numeric_limits<float>::quiet_NaN());
    }
  }
  return report;
}

// GRF spectrum of field f (stream firstStream + f): mode p gets the normal
// pair (2p, 2p + 1) of its stream, exactly as the CPU sampler draws them.
__global__ void grfSpectrum(Complex<double>* spec, const double* amp, int64_t H, int64_t count, uint64_t seed,
                            uint64_t firstStream) {
  NS_FOR_FIELDS(count) NS_FOR_POINTS(H) {
    const Philox4x32 bits = philoxBlock(seed, firstStream + f, static_cast<uint64_t>(2 * p) >> 2);
    float z0, z1;
    if (((2 * p) & 3) == 0) {
      philoxBoxMuller(bits.v[0], bits.v[1], &z0, &z1);
    } else {
      philoxBoxMuller(bits.v[2], bits.v[3], &z0, &z1);
    }
    spec[f * H + p] = {amp[p] * z0, amp[p] * z1};
  }
}

// Column k2 = 0 made Hermitian: row R - i is the conjugate of row i.
__global__ void grfHermitian(Complex<double>* spec, int R, int Rc, int64_t count) {
  const int i = R / 2 + 1 + blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R) return;
  const int64_t H = static_cast<int64_t>(R) * Rc;
  NS_FOR_FIELDS(count) {
    const Complex<double> mirror = spec[f * H + static_cast<int64_t>(R - i) * Rc];
    spec[f * H + static_cast<int64_t>(i) * Rc] = {mirror.x, -mirror.y};
  }
}

}  // namespace

NavierStokesReport solveNavierStokesCuda(Device& device, const float* w0, float* out, int64_t batch,
                                         const NavierStokesOptions& opts) {
  if (opts.kernel != SolverKernel::Library) {
    NavierStokesReport report;
    std::string why;
    if (solveNavierStokesFusedCuda(device, w0, out, batch, opts, &report, &why)) return report;
    if (opts.kernel == SolverKernel::Fused) refuseFusedKernel(why);
  }
  return opts.doublePrecision ? solve<double>(device, w0, out, batch, opts) : solve<float>(device, w0, out, batch, opts);
}

void gaussianRandomFieldCuda(Device& device, float* out, int64_t count, const GrfOptions& o) {
  cudaStream_t stream = static_cast<cudaStream_t>(device.stream());
  const int R = o.resolution, Rc = R / 2 + 1;
  const int64_t H = static_cast<int64_t>(R) * Rc, points = static_cast<int64_t>(R) * R;
  std::vector<double> amp = grfModeAmplitudes(R, o.alpha, o.tau);
  for (double& a : amp) a *= 0.5 * static_cast<double>(points);
  DeviceArray<double> ampDevice(device, amp.size());
  ENKG_CUDA(cudaMemcpyAsync(ampDevice.get(), amp.data(), amp.size() * sizeof(double), cudaMemcpyHostToDevice, stream));
  DeviceArray<Complex<double>> spec(device, static_cast<size_t>(H * count));
  DeviceArray<double> field(device, static_cast<size_t>(points * count));
  DeviceArray<float> staging(device, static_cast<size_t>(points * count));
  grfSpectrum<<<fieldsGrid(H, count), 256, 0, stream>>>(spec.get(), ampDevice.get(), H, count, o.seed, o.firstStream);
  grfHermitian<<<dim3(static_cast<unsigned>((R + 127) / 128), static_cast<unsigned>(std::min<int64_t>(count, 65535))), 128,
                 0, stream>>>(spec.get(), R, Rc, count);
  const Plans<double> plans(R, count, stream, /*withForward=*/false);
  plans.inverse(spec.get(), field.get());
  toFloat<double><<<fieldsGrid(points, count), 256, 0, stream>>>(field.get(), staging.get(), points, count,
                                                                 1.0 / static_cast<double>(points), nullptr);
  ENKG_CUDA(cudaGetLastError());
  ENKG_CUDA(cudaMemcpyAsync(out, staging.get(), points * count * sizeof(float), cudaMemcpyDeviceToHost, stream));
  ENKG_CUDA(cudaStreamSynchronize(stream));
}

}  // namespace enkg
