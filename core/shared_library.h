// SharedLibrary: a library opened when a run first needs it (dlopen), not at every start.
// digestd opens libcurl and libpq this way (net/libcurl.h, store/libpq.h): together they
// bring some thirty libraries (TLS, Kerberos, LDAP, ...) that cost every process about 10 ms
// of CPU and 5 MB to map, relocate and initialise, though a run with local sources and
// notifiers, and every command that only reads the state, never uses them. libsystemd too
// (daemon/service_manager.h), which only a service systemd started talks to.
// Thread-compatible; the library stays open for the life of the process (its functions may
// be called until exit).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace digestd {

// Called first in main, while the process has one thread: tells GnuTLS not to initialise
// itself when a library digestd opens brings it in. libcurl brings it through librtmp and
// libpq through libldap, for protocols digestd never speaks (its transfers take TLS from
// OpenSSL), and GnuTLS's own set-up when loaded (PKCS #11 modules, its random generator, its
// tables) costs a run over HTTP about 1.5 MB. librtmp and libldap initialise it themselves
// before they use it. A GNUTLS_NO_IMPLICIT_INIT the environment has already is kept.
void DeferGnutlsInitialisation();

// Whether digestd set environment variable `name` itself (DeferGnutlsInitialisation), so
// that what a command is given from digestd's environment is what digestd was started with.
bool SetByDigestd(std::string_view name);

class SharedLibrary {
 public:
  // Opens `soname` ("libcurl.so.4"); the error names it and says what the loader said.
  static Result<SharedLibrary> Open(const std::string& soname);

  // Sets `function` to the library's function `name`, or to null and remembers the name for
  // Bound() when the library has none.
  template <typename F>
  void Bind(F*& function, const char* name) {
    function = reinterpret_cast<F*>(Find(name));
  }

  // Ok when every Bind found its function; else an error naming the library and the ones
  // it lacks (an older version than digestd was built for).
  Status Bound() const;

 private:
  SharedLibrary(void* handle, std::string soname) : handle_(handle), soname_(std::move(soname)) {}
  void* Find(const char* name);

  void* handle_;
  std::string soname_;
  std::string missing_;  // names Bind did not find, ", "-separated
};

}  // namespace digestd
