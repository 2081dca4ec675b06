# digestd_warnings: the warning set every target of ours links (STYLE.md "Build").
add_library(digestd_warnings INTERFACE)
target_compile_options(digestd_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  # STYLE.md builds plain data with designated initializers that rely on member defaults.
  -Wno-missing-field-initializers)
if(DIGESTD_WERROR)
  target_compile_options(digestd_warnings INTERFACE -Werror)
endif()
if(DIGESTD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
