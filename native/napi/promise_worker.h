// An AsyncWorker that settles a Promise. Execute() runs on the libuv pool and
// touches no N-API; enkg::Error thrown there becomes a rejected Promise with
// the matching JavaScript error type.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

#include "../core/errors.h"
#include "args.h"

namespace enkg {
namespace napi {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Queue() {
    Napi::Promise promise = deferred_.Promise();
    Napi::AsyncWorker::Queue();
    return promise;
  }

 protected:
  // The numerical work; may throw.
  virtual void Run() = 0;
  // The resolved value, built on the main thread.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

 private:
  void Execute() override {
    try {
      Run();
    } catch (const Error& e) {
      kind_ = e.kind();
      SetError(e.what());
    } catch (const std::exception& e) {
      kind_ = ErrorKind::Runtime;
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& error) override {
    deferred_.Reject(toJsError(Env(), kind_, error.Message()).Value());
  }

  Napi::Promise::Deferred deferred_;
  ErrorKind kind_ = ErrorKind::Runtime;
};

}  // namespace napi
}  // namespace enkg

namespace enkg {
namespace napi {

// A PromiseWorker from two closures. Whatever the closures capture (typed
// array references, handles) lives until the worker is destroyed on the main
// thread.
class TaskWorker final : public PromiseWorker {
 public:
  TaskWorker(Napi::Env env, const char* name, std::function<void()> run,
             std::function<Napi::Value(Napi::Env)> result = nullptr)
      : PromiseWorker(env, name), run_(std::move(run)), result_(std::move(result)) {}

 protected:
  void Run() override { run_(); }
  Napi::Value Result(Napi::Env env) override { return result_ ? result_(env) : env.Undefined(); }

 private:
  std::function<void()> run_;
  std::function<Napi::Value(Napi::Env)> result_;
};

// Queues a TaskWorker and returns its promise.
inline Napi::Promise runTask(Napi::Env env, const char* name, std::function<void()> run,
                             std::function<Napi::Value(Napi::Env)> result = nullptr) {
  auto* worker = new TaskWorker(env, name, std::move(run), std::move(result));
  return worker->Queue();
}

}  // namespace napi
}  // namespace enkg
