# digestd_library(FOLDER DEPS...): the static library digestd_FOLDER from FOLDER/*.cc
# (main.cc excepted), linking DEPS publicly. DESIGN.md §3 says which DEPS a folder may have.
function(digestd_library folder)
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.cc)
  list(FILTER sources EXCLUDE REGEX "/main\\.cc$")
  if(sources)
    add_library(digestd_${folder} STATIC ${sources})
    target_link_libraries(digestd_${folder} PUBLIC ${ARGN} PRIVATE digestd_warnings)
  else()  # nothing built in this folder yet: only pass the dependencies on
    add_library(digestd_${folder} INTERFACE)
    target_link_libraries(digestd_${folder} INTERFACE ${ARGN})
  endif()
endfunction()
