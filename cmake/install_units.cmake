# Run by `cmake --install` (install(CODE) in CMakeLists.txt): writes the systemd units with
# ExecStart naming the binary under the prefix this install uses, then installs them.
# In: DIGESTD_SOURCE_DIR, DIGESTD_BINARY_DIR, DIGESTD_BINDIR_REL, DIGESTD_SYSTEM_UNIT_DIR,
# DIGESTD_USER_UNIT_DIR (empty: chosen from the prefix), and CMake's CMAKE_INSTALL_PREFIX.
if(IS_ABSOLUTE "${DIGESTD_BINDIR_REL}")
  set(DIGESTD_BINDIR "${DIGESTD_BINDIR_REL}")
else()
  set(DIGESTD_BINDIR "${CMAKE_INSTALL_PREFIX}/${DIGESTD_BINDIR_REL}")
endif()
set(user_unit_dir "${DIGESTD_USER_UNIT_DIR}")
if(user_unit_dir STREQUAL "")
  # systemd --user reads ~/.local/share/systemd/user, /usr/lib/systemd/user and
  # /usr/local/lib/systemd/user, but not ~/.local/lib/systemd/user.
  if(CMAKE_INSTALL_PREFIX MATCHES "/\\.local/?$")
    set(user_unit_dir "share/systemd/user")
  else()
    set(user_unit_dir "lib/systemd/user")
  endif()
endif()
set(out "${DIGESTD_BINARY_DIR}/systemd-units")
configure_file("${DIGESTD_SOURCE_DIR}/systemd/digestd.service.in" "${out}/system/digestd.service"
               @ONLY)
configure_file("${DIGESTD_SOURCE_DIR}/systemd/digestd-user.service.in"
               "${out}/user/digestd.service" @ONLY)
file(INSTALL "${out}/system/digestd.service"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/${DIGESTD_SYSTEM_UNIT_DIR}")
file(INSTALL "${out}/user/digestd.service" DESTINATION "${CMAKE_INSTALL_PREFIX}/${user_unit_dir}")
