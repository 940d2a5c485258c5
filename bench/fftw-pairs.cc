// Why the CPU solver pairs its real transforms (native/cpu/navier_stokes_cpu.cc,
// Stepper::velocity and nonlinear): microseconds per call, on one thread, of
// FFTW's R x R real-to-complex, complex-to-real and in-place complex
// transforms in float, as measured plans (FFTW_MEASURE, as the solver's).
// One complex transform carries two real fields, so it pays where it takes
// less than two real ones.
//
//   g++ -O2 bench/fftw-pairs.cc -lfftw3f -o /tmp/fftw-pairs && /tmp/fftw-pairs
#include <fftw3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <vector>

namespace {

template <typename F>
double microseconds(F call) {
  using Clock = std::chrono::steady_clock;
  for (int k = 0; k < 1000; ++k) call();
  const int reps = 20000;
  const auto start = Clock::now();
  for (int k = 0; k < reps; ++k) call();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / reps;
}

void measure(int R) {
  const size_t real = static_cast<size_t>(R) * R, half = static_cast<size_t>(R) * (R / 2 + 1);
  float* field = fftwf_alloc_real(real);
  fftwf_complex* spectrum = fftwf_alloc_complex(half);
  fftwf_complex* pair = fftwf_alloc_complex(real);
  const fftwf_plan forward = fftwf_plan_dft_r2c_2d(R, R, field, spectrum, FFTW_MEASURE);
  const fftwf_plan inverse = fftwf_plan_dft_c2r_2d(R, R, spectrum, field, FFTW_MEASURE);
  const fftwf_plan both = fftwf_plan_dft_2d(R, R, pair, pair, FFTW_BACKWARD, FFTW_MEASURE);
  // Every call starts from the same input (planning overwrote the arrays,
  // c2r destroys its input, and the in-place transform its own): copied in
  // before each call, the copy timed alone and taken off.
  std::vector<float> fieldIn(real), spectrumIn(2 * half), pairIn(2 * real);
  for (size_t x = 0; x < real; ++x) {
    fieldIn[x] = std::sin(0.37f * x);
    pairIn[2 * x] = std::cos(0.11f * x);
    pairIn[2 * x + 1] = std::sin(0.23f * x);
  }
  std::copy(fieldIn.begin(), fieldIn.end(), field);
  fftwf_execute(forward);
  std::copy(reinterpret_cast<float*>(spectrum), reinterpret_cast<float*>(spectrum) + 2 * half, spectrumIn.begin());
  auto timed = [&](std::vector<float>& from, float* to, auto transform) {
    const double withCopy = microseconds([&] {
      std::copy(from.begin(), from.end(), to);
      transform();
    });
    return withCopy - microseconds([&] { std::copy(from.begin(), from.end(), to); });
  };
  const double r2c = timed(fieldIn, field, [&] { fftwf_execute(forward); });
  const double c2r = timed(spectrumIn, reinterpret_cast<float*>(spectrum), [&] { fftwf_execute(inverse); });
  const double c2c = timed(pairIn, reinterpret_cast<float*>(pair), [&] { fftwf_execute(both); });
  std::printf("| %d | %.2f | %.2f | %.2f | %.2fx |\n", R, r2c, c2r, c2c, (r2c + c2r) / c2c);
  fftwf_destroy_plan(forward);
  fftwf_destroy_plan(inverse);
  fftwf_destroy_plan(both);
  fftwf_free(field);
  fftwf_free(spectrum);
  fftwf_free(pair);
}

}  // namespace

int main() {
  std::printf("| R | r2c, us | c2r, us | c2c (two fields), us | (r2c + c2r) / c2c |\n|---|---|---|---|---|\n");
  for (int R : {64, 128}) measure(R);
  return 0;
}
