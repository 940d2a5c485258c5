{
  "targets": [
    {
      "target_name": "enkg",
      "sources": [
        "native/addon.cc",
        "native/core/checks.cc",
        "native/core/kalman.cc",
        "native/core/navier_stokes.cc",
        "native/cpu/cpu_device.cc",
        "native/cpu/fftw_plans.cc",
        "native/cpu/flow_trace.cc",
        "native/cpu/gain_cpu.cc",
        "native/cpu/localization_cpu.cc",
        "native/cpu/navier_stokes_cpu.cc",
        "native/cpu/navier_stokes_fused_cpu.cc",
        "native/cpu/padded_dft.cc",
        "native/cpu/spectral_filter.cc",
        "native/dispatch.cc",
        "native/napi/args.cc",
        "native/napi/backend_ops.cc",
        "native/napi/bench_ops.cc",
        "native/napi/ensemble_handle.cc",
        "native/napi/ensemble_ops.cc",
        "native/napi/gain_ops.cc",
        "native/napi/localization_ops.cc",
        "native/napi/imaging_ops.cc",
        "native/napi/spectral_ops.cc",
        "native/napi/random_ops.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "/usr/include/x86_64-linux-gnu/openblas-openmp",
        "/usr/include/aarch64-linux-gnu/openblas-openmp",
        "/usr/include/x86_64-linux-gnu/openblas-pthread",
        "/usr/include/aarch64-linux-gnu/openblas-pthread",
        "/usr/include/openblas"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fopenmp",
        "-fexceptions"
      ],
      "ldflags": [
        "-fopenmp"
      ],
      "libraries": [
        "-L/usr/lib/x86_64-linux-gnu/openblas-openmp",
        "-L/usr/lib/aarch64-linux-gnu/openblas-openmp",
        "-Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp:/usr/lib/aarch64-linux-gnu/openblas-openmp",
        "-lopenblas",
        "-lfftw3f",
        "-lfftw3"
      ]
    }
  ]
}
