// Status codes, versions and the thread-local last error of the C API.
#include "capi/internal.h"

#include "nst/cancel.h"
#include "nst/io/safetensors.h"

#include <new>

namespace {
thread_local std::string t_last_error;
}  // namespace

namespace nst::capi {

nst_status fail(nst_status status, const std::string& message) {
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error.clear();
  }
  return status;
}

void clear_last_error() { t_last_error.clear(); }

nst_status status_of_current_exception(std::string& message) {
  try {
    throw;
  } catch (const CancelledError& e) {
    message = e.what();
    return NST_CANCELLED;
  } catch (const MemoryLimitError& e) {
    message = e.what();
    return NST_MEMORY_LIMIT;
  } catch (const IoError& e) {
    message = e.what();
    return NST_IO_ERROR;
  } catch (const BadImageError& e) {
    message = e.what();
    return NST_BAD_IMAGE;
  } catch (const ImageError& e) {
    message = e.what();
    return NST_BAD_IMAGE;
  } catch (const WeightsError& e) {
    message = e.what();
    return NST_BAD_WEIGHTS;
  } catch (const std::bad_alloc&) {
    message = "out of memory";
    return NST_OUT_OF_MEMORY;
  } catch (const std::invalid_argument& e) {
    message = e.what();
    return NST_INVALID_ARGUMENT;
  } catch (const std::exception& e) {
    message = std::string("internal error: ") + e.what();
    return NST_INTERNAL;
  } catch (...) {
    message = "internal error: unknown exception";
    return NST_INTERNAL;
  }
}

}  // namespace nst::capi

extern "C" {

const char* nst_status_name(nst_status status) {
  switch (status) {
    case NST_OK: return "NST_OK";
    case NST_CANCELLED: return "NST_CANCELLED";
    case NST_INVALID_ARGUMENT: return "NST_INVALID_ARGUMENT";
    case NST_IO_ERROR: return "NST_IO_ERROR";
    case NST_BAD_WEIGHTS: return "NST_BAD_WEIGHTS";
    case NST_BAD_IMAGE: return "NST_BAD_IMAGE";
    case NST_OUT_OF_MEMORY: return "NST_OUT_OF_MEMORY";
    case NST_MEMORY_LIMIT: return "NST_MEMORY_LIMIT";
    case NST_NOT_FINITE: return "NST_NOT_FINITE";
    case NST_ABI_MISMATCH: return "NST_ABI_MISMATCH";
    case NST_NO_OUTPUT: return "NST_NO_OUTPUT";
    case NST_INTERNAL: return "NST_INTERNAL";
  }
  return "NST_UNKNOWN_STATUS";
}

const char* nst_version(void) { return NST_VERSION_STRING; }
int nst_version_number(void) { return NST_VERSION_NUMBER; }
int nst_abi_version(void) { return NST_ABI_VERSION; }
const char* nst_last_error(void) { return t_last_error.c_str(); }

}  // extern "C"
