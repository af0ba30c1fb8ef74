// nst_model: VGG19 weights loaded once, read-only, shared by jobs.
#include "capi/internal.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace {

nst_status load(int abi_version, nst_model** out, const char* who, const std::function<nst::Vgg<float>()>& make) {
  using nst::capi::fail;
  try {
    if (!out) return fail(NST_INVALID_ARGUMENT, std::string(who) + ": out is null");
    *out = nullptr;
    if (abi_version != NST_ABI_VERSION)
      return fail(NST_ABI_MISMATCH, std::string(who) + ": the program was built for nst ABI " +
                                        std::to_string(abi_version) + ", this library (nst " NST_VERSION_STRING
                                        ") has ABI " + std::to_string(NST_ABI_VERSION) +
                                        "; rebuild the program against this library's headers");
    auto model = std::make_unique<nst_model>();
    model->net = make();
    *out = model.release();
    nst::capi::clear_last_error();
    return NST_OK;
  } catch (...) {
    std::string message;
    const nst_status st = nst::capi::status_of_current_exception(message);
    return fail(st, message);
  }
}

}  // namespace

extern "C" {

nst_status nst_model_load_file(const char* path, int abi_version, nst_model** out) {
  return load(abi_version, out, "nst_model_load_file", [&] {
    if (!path) throw std::invalid_argument("nst_model_load_file: path is null");
    struct stat st {};
    if (::stat(path, &st) != 0 || (S_ISREG(st.st_mode) && ::access(path, R_OK) != 0))
      throw nst::capi::IoError(std::string(path) + ": cannot read the weights file: " + std::strerror(errno));
    return nst::load_vgg(path);
  });
}

nst_status nst_model_load_memory(const void* data, size_t size, int abi_version, nst_model** out) {
  return load(abi_version, out, "nst_model_load_memory", [&] {
    if (!data) throw std::invalid_argument("nst_model_load_memory: data is null");
    return nst::load_vgg(static_cast<const unsigned char*>(data), size, "weights buffer");
  });
}

void nst_model_free(nst_model* model) { delete model; }

}  // extern "C"
