# CPack: `cpack -G DEB` in any build folder makes digestd_VERSION_ARCH.deb for /usr, with
# examples/system-service.toml as the conffile /etc/digestd/digestd.toml
# (scripts/install-deb.sh builds, packages, installs and checks it).
set(CPACK_PACKAGE_NAME "digestd")
set(CPACK_PACKAGE_VENDOR "digestd")
set(CPACK_PACKAGE_CONTACT "digestd maintainers <digestd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "watches daily research digests and notifies what matters")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_GENERATOR "DEB")
# Install with DESTDIR, so the prefix the units name is /usr, not the staging folder, and
# /etc/digestd/digestd.toml lands in the package.
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_INSTALL_PREFIX "/usr")
# The package carries a stripped binary (the build keeps its debug information).
set(CPACK_STRIP_FILES ON)
# The conffile goes into the staging tree only, so `cmake --install` never writes /etc.
set(DIGESTD_CONFFILE_SOURCE "${PROJECT_SOURCE_DIR}/examples/system-service.toml")
configure_file("${PROJECT_SOURCE_DIR}/cmake/package_stage.cmake.in"
               "${PROJECT_BINARY_DIR}/package_stage.cmake" @ONLY)
set(CPACK_PRE_BUILD_SCRIPTS "${PROJECT_BINARY_DIR}/package_stage.cmake")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "watches daily research digests and notifies what matters\n digestd fetches daily paper digests (markdown, Hugging Face, arXiv, feeds) on a\n schedule, matches them against watch rules and delivers the matches by email,\n webhook or chat, as a hardened systemd service.")
# Library dependencies from the binary's own links (dpkg-shlibdeps); what postinst uses.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libcurl, libpq and libsystemd are opened when first needed (core/shared_library.h), so the
# binary's links do not name them: they are said here, no older than the headers digestd was
# built with. (The unit is Type=notify: without libsystemd, systemd would hear no READY.)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "adduser, ca-certificates, libcurl4 (>= ${CURL_VERSION_STRING}), libpq5 (>= ${LIBPQ_VERSION}), libsystemd0 (>= ${SYSTEMD_VERSION})")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/deb/conffiles;${PROJECT_SOURCE_DIR}/packaging/deb/postinst;${PROJECT_SOURCE_DIR}/packaging/deb/prerm;${PROJECT_SOURCE_DIR}/packaging/deb/postrm")
include(CPack)
