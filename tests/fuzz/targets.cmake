# The fuzz targets (tests/fuzz/NAME_fuzz.cc), the libraries each links, and where its seeds
# are (folders of tests/data). scripts/fuzz.sh reads the same table from targets.txt.
set(DIGESTD_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
file(STRINGS ${DIGESTD_FUZZ_DIR}/targets.txt digestd_fuzz_lines REGEX "^[a-z]")
set(digestd_fuzz_libs_markdown digestd_fetchers)
set(digestd_fuzz_libs_hf_daily digestd_fetchers)
set(digestd_fuzz_libs_feed digestd_fetchers)
set(digestd_fuzz_libs_config digestd_config)
set(digestd_fuzz_libs_query digestd_core)
set(digestd_fuzz_libs_url_template digestd_core)
set(digestd_fuzz_libs_mime digestd_notifiers digestd_fetchers)
set(digestd_fuzz_libs_chat digestd_notifiers digestd_fetchers Boost::json)
set(digestd_fuzz_libs_snapshot digestd_store)
set(digestd_fuzz_libs_file_url digestd_net)

# digestd_fuzz_executable(NAME TARGET EXTRA_SOURCES...): NAME's harness as executable TARGET.
function(digestd_fuzz_executable name target)
  add_executable(${target} ${DIGESTD_FUZZ_DIR}/${name}_fuzz.cc ${ARGN})
  target_link_libraries(${target} PRIVATE ${digestd_fuzz_libs_${name}} digestd_warnings)
endfunction()
