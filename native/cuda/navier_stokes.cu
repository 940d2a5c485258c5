#include "navier_stokes_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "../core/errors.h"
#include "../core/philox.h"
#include "cufft_shim.h"

namespace enkg {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw runtimeError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}
#define NS_CUDA(call) check((call), #call)

const cufft::Api& cufftApi() {
  std::string reason;
  const cufft::Api* api = cufft::load(&reason);
  if (api == nullptr) throw runtimeError(reason);
  return *api;
}

void checkFft(cufft::Result r, const char* what) {
  if (r != 0) throw runtimeError(std::string("cuFFT error ") + std::to_string(r) + " in " + what);
}

template <typename T>
struct Complex {
  T x, y;
};

// Device memory for n elements of E, released on scope exit.
template <typename E>
class Buffer {
 public:
  Buffer(Device& device, size_t n) : buffer_(device, (n * sizeof(E) + sizeof(float) - 1) / sizeof(float)) {}
  E* get() const { return reinterpret_cast<E*>(buffer_.get()); }

 private:
  DeviceBuffer buffer_;
};

// Batched R x R real <-> half-complex plans (default layouts), destroyed on exit.
template <typename T>
class Plans {
 public:
  Plans(int R, int64_t batch, cudaStream_t stream) : api_(cufftApi()) {
    int n[2] = {R, R};
    const bool single = sizeof(T) == sizeof(float);
    checkFft(api_.planMany(&forward_, 2, n, nullptr, 1, 0, nullptr, 1, 0, single ? cufft::kR2C : cufft::kD2Z,
                           static_cast<int>(batch)), "cufftPlanMany (forward)");
    const cufft::Result r = api_.planMany(&inverse_, 2, n, nullptr, 1, 0, nullptr, 1, 0,
                                          single ? cufft::kC2R : cufft::kZ2D, static_cast<int>(batch));
    if (r != 0) {
      api_.destroy(forward_);
      checkFft(r, "cufftPlanMany (inverse)");
    }
    api_.setStream(forward_, stream);
    api_.setStream(inverse_, stream);
  }
  Plans(const Plans&) = delete;
  Plans& operator=(const Plans&) = delete;
  ~Plans() {
    api_.destroy(forward_);
    api_.destroy(inverse_);
  }
  void forward(T* in, Complex<T>* out) const;
  void inverse(Complex<T>* in, T* out) const;  // destroys `in`

 private:
  const cufft::Api& api_;
  cufft::Handle forward_ = 0, inverse_ = 0;
};

template <>
void Plans<float>::forward(float* in, Complex<float>* out) const { checkFft(api_.execR2C(forward_, in, out), "R2C"); }
template <>
void Plans<float>::inverse(Complex<float>* in, float* out) const { checkFft(api_.execC2R(inverse_, in, out), "C2R"); }
template <>
void Plans<double>::forward(double* in, Complex<double>* out) const { checkFft(api_.execD2Z(forward_, in, out), "D2Z"); }
template <>
void Plans<double>::inverse(Complex<double>* in, double* out) const { checkFft(api_.execZ2D(inverse_, in, out), "Z2D"); }

// ---- kernels: x over the H = R (R/2 + 1) modes (or R^2 points), y over fields

template <typename T>
struct GridView {
  const T *kx, *ky, *invLap, *dealias, *viscous;
  const Complex<T>* forcing;  // null without forcing
  int64_t H;                  // modes per field
};

#define NS_FOR_MODES(H)                                                                         \
  const int64_t f = blockIdx.y;                                                                 \
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < (H);        \
       p += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__global__ void prepareNonlinear(GridView<T> g, const Complex<T>* wh, Complex<T>* a, Complex<T>* b, Complex<T>* c) {
  NS_FOR_MODES(g.H) {
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
  NS_FOR_MODES(g.H) {
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
  NS_FOR_MODES(g.H) {
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
  NS_FOR_MODES(g.H) {
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

// Per field: max |u|^2 over the grid (NaN if any value is not finite).
template <typename T>
__global__ void maxSpeedSquared(const T* q, const T* v, int64_t points, double* speed2) {
  __shared__ double best[256];
  __shared__ int bad[256];
  const int64_t f = blockIdx.x;
  double m = 0.0;
  int b = 0;
  for (int64_t i = threadIdx.x; i < points; i += blockDim.x) {
    const double s = static_cast<double>(q[f * points + i]) * q[f * points + i] +
                     static_cast<double>(v[f * points + i]) * v[f * points + i];
    if (!isfinite(s)) b = 1;
    m = s > m ? s : m;
  }
  best[threadIdx.x] = m;
  bad[threadIdx.x] = b;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      best[threadIdx.x] = fmax(best[threadIdx.x], best[threadIdx.x + stride]);
      bad[threadIdx.x] |= bad[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) speed2[f] = bad[0] ? nan("") : best[0];
}

struct Clock {
  double* time;      // simulated time of each field
  double* dt;        // its next step size
  double* current;   // the step being taken now (0: none)
  double* failedAt;  // -1, or the time at which the field became non-finite
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
  if (running && c.time[f] + c.current[f] < T) *c.busyAt = iteration;
}

template <typename T>
__global__ void fromFloat(const float* in, T* out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) out[i] = static_cast<T>(in[i]);
}

// out = w / R^2 as float; NaN for failed fields.
template <typename T>
__global__ void toFloat(const T* w, float* out, int64_t points, T scale, const double* failedAt) {
  const int64_t f = blockIdx.y;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < points;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[f * points + i] = failedAt != nullptr && failedAt[f] >= 0 ? nanf("") : static_cast<float>(w[f * points + i] * scale);
  }
}

dim3 modesGrid(int64_t H, int64_t batch) {
  const int64_t x = std::min<int64_t>((H + 255) / 256, 64);
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(batch));
}

unsigned linearGrid(int64_t n) { return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 65535))); }

template <typename T>
NavierStokesReport solve(Device& device, const float* w0Host, float* outHost, int64_t batch,
                         const NavierStokesOptions& o) {
  if (batch > 65535) throw rangeError("at most 65535 fields per CUDA solve", "batch", std::to_string(batch));
  cudaStream_t stream = static_cast<cudaStream_t>(device.stream());
  const SpectralGrid host = makeSpectralGrid(o.resolution, o.forcing);
  const int R = host.R;
  const int64_t H = static_cast<int64_t>(R) * host.Rc, points = static_cast<int64_t>(R) * R;

  // Grid operators, uploaded once.
  auto upload = [&](const std::vector<double>& values) {
    std::vector<T> typed(values.begin(), values.end());
    auto buffer = std::make_shared<Buffer<T>>(device, typed.size());
    NS_CUDA(cudaMemcpyAsync(buffer->get(), typed.data(), typed.size() * sizeof(T), cudaMemcpyHostToDevice, stream));
    NS_CUDA(cudaStreamSynchronize(stream));
    return buffer;
  };
  std::vector<double> viscous(host.lap.size());
  for (size_t p = 0; p < viscous.size(); ++p) viscous[p] = host.lap[p] / o.reynolds;
  auto kx = upload(host.kx), ky = upload(host.ky), invLap = upload(host.invLap), dealias = upload(host.dealias),
       nu = upload(viscous);
  // Forcing spectrum: f depends on y only, so rfft2(f)(k1, k2) = R delta(k1) sum_j f_j e^{-2 pi i k2 j / R}.
  std::shared_ptr<Buffer<Complex<T>>> forcing;
  if (o.forcing) {
    std::vector<Complex<T>> fh(static_cast<size_t>(H), Complex<T>{0, 0});
    for (int k2 = 0; k2 < host.Rc; ++k2) {
      double re = 0, im = 0;
      for (int j = 0; j < R; ++j) {
        re += host.forcing[j] * std::cos(2 * M_PI * k2 * j / R);
        im -= host.forcing[j] * std::sin(2 * M_PI * k2 * j / R);
      }
      fh[k2] = {static_cast<T>(R * re), static_cast<T>(R * im)};
    }
    forcing = std::make_shared<Buffer<Complex<T>>>(device, fh.size());
    NS_CUDA(cudaMemcpyAsync(forcing->get(), fh.data(), fh.size() * sizeof(Complex<T>), cudaMemcpyHostToDevice, stream));
  }
  const GridView<T> g{kx->get(), ky->get(), invLap->get(), dealias->get(), nu->get(),
                      forcing ? forcing->get() : nullptr, H};

  const Plans<T> plans(R, batch, stream);
  const size_t spectra = static_cast<size_t>(H * batch), reals = static_cast<size_t>(points * batch);
  Buffer<Complex<T>> wh(device, spectra), wt(device, spectra), n1(device, spectra), n2(device, spectra),
      a(device, spectra), b(device, spectra), c(device, spectra);
  Buffer<T> w(device, reals), q(device, reals), v(device, reals);
  Buffer<float> staging(device, reals);
  Buffer<double> clockMemory(device, 5 * static_cast<size_t>(batch));
  Buffer<long long> busyAt(device, 1);
  Clock clock{clockMemory.get(), clockMemory.get() + batch, clockMemory.get() + 2 * batch,
              clockMemory.get() + 3 * batch, busyAt.get()};
  double* speed2 = clockMemory.get() + 4 * batch;
  NS_CUDA(cudaMemsetAsync(clockMemory.get(), 0, 3 * batch * sizeof(double), stream));
  {
    std::vector<double> minusOne(static_cast<size_t>(batch), -1.0);
    NS_CUDA(cudaMemcpyAsync(clock.failedAt, minusOne.data(), batch * sizeof(double), cudaMemcpyHostToDevice, stream));
    NS_CUDA(cudaStreamSynchronize(stream));
  }

  NS_CUDA(cudaMemcpyAsync(staging.get(), w0Host, reals * sizeof(float), cudaMemcpyHostToDevice, stream));
  fromFloat<T><<<linearGrid(reals), 256, 0, stream>>>(staging.get(), w.get(), reals);
  plans.forward(w.get(), wh.get());

  const dim3 grid = modesGrid(H, batch);
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
  // the last field finished (exact no-ops for every field).
  const int kCheck = 8;
  NS_CUDA(cudaMemsetAsync(busyAt.get(), 0xFF, sizeof(long long), stream));  // -1
  int64_t executed = 0;
  for (int64_t iteration = 0;; ++iteration) {
    executed = iteration + 1;
    planStep<<<linearGrid(batch), 256, 0, stream>>>(clock, batch, o.time, static_cast<long long>(iteration));
    nonlinear(wh.get(), n1.get());
    heun<T, false><<<grid, 256, 0, stream>>>(g, wh.get(), n1.get(), nullptr, wt.get(), clock.current);
    nonlinear(wt.get(), n2.get());
    heun<T, true><<<grid, 256, 0, stream>>>(g, wh.get(), n1.get(), n2.get(), nullptr, clock.current);
    nextSteps();
    NS_CUDA(cudaGetLastError());
    if (iteration % kCheck == kCheck - 1) {
      long long busy = -1;
      NS_CUDA(cudaMemcpyAsync(&busy, busyAt.get(), sizeof(long long), cudaMemcpyDeviceToHost, stream));
      NS_CUDA(cudaStreamSynchronize(stream));
      if (busy != iteration) break;
      // Out of steps (checked every kCheck steps): fields still running fail below.
      if (o.maxSteps > 0 && iteration + 1 >= o.maxSteps) break;
    }
  }
  std::vector<double> reached(static_cast<size_t>(batch));
  NS_CUDA(cudaMemcpyAsync(reached.data(), clock.time, batch * sizeof(double), cudaMemcpyDeviceToHost, stream));

  std::vector<double> failedAt(static_cast<size_t>(batch));
  NS_CUDA(cudaMemcpyAsync(failedAt.data(), clock.failedAt, batch * sizeof(double), cudaMemcpyDeviceToHost, stream));
  NS_CUDA(cudaMemcpyAsync(a.get(), wh.get(), spectra * sizeof(Complex<T>), cudaMemcpyDeviceToDevice, stream));
  plans.inverse(a.get(), w.get());
  toFloat<T><<<dim3(linearGrid(points), static_cast<unsigned>(batch)), 256, 0, stream>>>(w.get(), staging.get(), points,
                                                                                       scale, clock.failedAt);
  NS_CUDA(cudaMemcpyAsync(outHost, staging.get(), reals * sizeof(float), cudaMemcpyDeviceToHost, stream));
  NS_CUDA(cudaStreamSynchronize(stream));
  NavierStokesReport report;
  report.steps = executed;
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
__global__ void grfSpectrum(Complex<double>* spec, const double* amp, int64_t H, uint64_t seed, uint64_t firstStream) {
  NS_FOR_MODES(H) {
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
__global__ void grfHermitian(Complex<double>* spec, int R, int Rc) {
  const int64_t f = blockIdx.y;
  const int i = R / 2 + 1 + blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R) return;
  const Complex<double> mirror = spec[f * R * Rc + static_cast<int64_t>(R - i) * Rc];
  spec[f * R * Rc + static_cast<int64_t>(i) * Rc] = {mirror.x, -mirror.y};
}

}  // namespace

NavierStokesReport solveNavierStokesCuda(Device& device, const float* w0, float* out, int64_t batch,
                                         const NavierStokesOptions& opts) {
  return opts.doublePrecision ? solve<double>(device, w0, out, batch, opts) : solve<float>(device, w0, out, batch, opts);
}

void gaussianRandomFieldCuda(Device& device, float* out, int64_t count, const GrfOptions& o) {
  if (count > 65535) throw rangeError("at most 65535 fields per CUDA call", "count", std::to_string(count));
  cudaStream_t stream = static_cast<cudaStream_t>(device.stream());
  const int R = o.resolution, Rc = R / 2 + 1;
  const int64_t H = static_cast<int64_t>(R) * Rc, points = static_cast<int64_t>(R) * R;
  std::vector<double> amp = grfModeAmplitudes(R, o.alpha, o.tau);
  for (double& a : amp) a *= 0.5 * static_cast<double>(points);
  Buffer<double> ampDevice(device, amp.size());
  NS_CUDA(cudaMemcpyAsync(ampDevice.get(), amp.data(), amp.size() * sizeof(double), cudaMemcpyHostToDevice, stream));
  Buffer<Complex<double>> spec(device, static_cast<size_t>(H * count));
  Buffer<double> field(device, static_cast<size_t>(points * count));
  Buffer<float> staging(device, static_cast<size_t>(points * count));
  grfSpectrum<<<modesGrid(H, count), 256, 0, stream>>>(spec.get(), ampDevice.get(), H, o.seed, o.firstStream);
  grfHermitian<<<dim3(static_cast<unsigned>((R + 127) / 128), static_cast<unsigned>(count)), 128, 0, stream>>>(spec.get(), R, Rc);
  const Plans<double> plans(R, count, stream);
  plans.inverse(spec.get(), field.get());
  toFloat<double><<<dim3(linearGrid(points), static_cast<unsigned>(count)), 256, 0, stream>>>(
      field.get(), staging.get(), points, 1.0 / static_cast<double>(points), nullptr);
  NS_CUDA(cudaGetLastError());
  NS_CUDA(cudaMemcpyAsync(out, staging.get(), points * count * sizeof(float), cudaMemcpyDeviceToHost, stream));
  NS_CUDA(cudaStreamSynchronize(stream));
}

}  // namespace enkg
