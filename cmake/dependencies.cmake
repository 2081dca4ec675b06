# Every third-party library digestd uses, all from Debian 12 packages (scripts/install-deps.sh).
# DESIGN.md §3 says which folder may use which; tests/layering_check.sh enforces it.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Boost 1.81 CONFIG REQUIRED COMPONENTS json)
find_package(CURL REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(spdlog REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(date CONFIG REQUIRED)
pkg_check_modules(CMARK_GFM REQUIRED IMPORTED_TARGET libcmark-gfm)
# Debian ships libcmark-gfm-extensions without a .pc file.
find_library(CMARK_GFM_EXT_LIBRARY NAMES cmark-gfm-extensions REQUIRED)
add_library(cmark_gfm_extensions INTERFACE)
target_link_libraries(cmark_gfm_extensions INTERFACE ${CMARK_GFM_EXT_LIBRARY} PkgConfig::CMARK_GFM)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
# libgcrypt (libgcrypt20-dev): SHA-256 and HMAC-SHA256 (core/crypto.h): 0.8 MiB resident,
# where OpenSSL's libcrypto, linked for those two alone, was 3 MiB at every start.
pkg_check_modules(GCRYPT REQUIRED IMPORTED_TARGET libgcrypt)
pkg_check_modules(LIBXML2 REQUIRED IMPORTED_TARGET libxml-2.0)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
# libcurl, libpq and libsystemd are opened when a run first needs them (core/shared_library.h),
# not linked: digestd builds against their headers alone.
add_library(digestd_libcurl_headers INTERFACE)
target_include_directories(digestd_libcurl_headers SYSTEM INTERFACE ${CURL_INCLUDE_DIRS})
add_library(digestd_libsystemd_headers INTERFACE)
target_include_directories(digestd_libsystemd_headers SYSTEM INTERFACE ${SYSTEMD_INCLUDE_DIRS})
add_library(digestd_libpq_headers INTERFACE)
target_include_directories(digestd_libpq_headers SYSTEM INTERFACE ${LIBPQ_INCLUDE_DIRS})
# zstd (libzstd-dev): the compressed paper snapshots of a SQLite state (store/snapshot_codec.h).
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
# xxHash (libxxhash-dev): the hashes a state keeps of every paper (core/hash.h). Its header
# holds the whole implementation (XXH_INLINE_ALL), compiled into core: no library to load.
find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
add_library(digestd_xxhash INTERFACE)
target_include_directories(digestd_xxhash SYSTEM INTERFACE ${XXHASH_INCLUDE_DIR})
if(DIGESTD_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(DIGESTD_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
# kainjow mustache (libkainjow-mustache-dev) is header-only: message templates in notifiers/.
find_path(KAINJOW_MUSTACHE_INCLUDE_DIR kainjow/mustache.hpp REQUIRED)
