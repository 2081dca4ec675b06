# digestd_warnings: the warning set every target of ours links (STYLE.md "Build").
add_library(digestd_warnings INTERFACE)
target_compile_options(digestd_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  # STYLE.md builds plain data with designated initializers that rely on member defaults.
  -Wno-missing-field-initializers)
if(DIGESTD_WERROR)
  target_compile_options(digestd_warnings INTERFACE -Werror)
endif()
# Each function and object in a section of its own, so that the daemon's link keeps only what
# it calls: about 230 KB less code, and a run maps fewer of the binary's pages (the binary's
# share of a 10,000-paper run's peak resident size is 0.3 MB smaller; issue 12).
if(NOT DIGESTD_SANITIZE AND NOT DIGESTD_FUZZ)
  add_compile_options(-ffunction-sections -fdata-sections)
endif()
if(DIGESTD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(DIGESTD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DIGESTD_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  # Every library gets coverage instrumentation and the sanitizers; only the fuzz binaries
  # link libFuzzer itself (tests/fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
