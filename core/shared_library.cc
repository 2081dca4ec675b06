#include "core/shared_library.h"

#include <dlfcn.h>

#include <cstdlib>

namespace digestd {
namespace {

constexpr char kGnutlsNoImplicitInit[] = "GNUTLS_NO_IMPLICIT_INIT";
bool gnutls_deferred = false;  // written once, before any thread starts

}  // namespace

void DeferGnutlsInitialisation() {
  gnutls_deferred = std::getenv(kGnutlsNoImplicitInit) == nullptr &&
                    ::setenv(kGnutlsNoImplicitInit, "1", 0) == 0;
}

bool SetByDigestd(std::string_view name) {
  return gnutls_deferred && name == kGnutlsNoImplicitInit;
}

Result<SharedLibrary> SharedLibrary::Open(const std::string& soname) {
  // Never closed: handles and callbacks of the library live until the process ends. Its
  // calls among its own functions and its dependencies' are bound on first use, as a linked
  // library's are.
  void* handle = ::dlopen(soname.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Unexpected(soname + " could not be loaded: " + (why ? why : "unknown error"));
  }
  return SharedLibrary(handle, soname);
}

void* SharedLibrary::Find(const char* name) {
  void* symbol = ::dlsym(handle_, name);
  if (symbol == nullptr) {
    if (!missing_.empty()) missing_ += ", ";
    missing_ += name;
  }
  return symbol;
}

Status SharedLibrary::Bound() const {
  if (missing_.empty()) return Ok();
  return Unexpected(soname_ + " lacks " + missing_ +
                    " (an older version than digestd was built for?)");
}

}  // namespace digestd
