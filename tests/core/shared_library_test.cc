#include "core/shared_library.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace digestd {
namespace {

TEST(SharedLibrary, FindsTheFunctionsOfALibrary) {
  auto libc = SharedLibrary::Open("libc.so.6");
  ASSERT_TRUE(libc) << libc.error().message;
  decltype(&std::strlen) length = nullptr;
  libc->Bind(length, "strlen");
  ASSERT_TRUE(libc->Bound());
  ASSERT_NE(length, nullptr);
  EXPECT_EQ(length("digestd"), 7u);
}

TEST(SharedLibrary, AMissingLibraryIsNamed) {
  auto missing = SharedLibrary::Open("libdigestd-not-installed.so.1");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("libdigestd-not-installed.so.1 could not be loaded: "),
            std::string::npos)
      << missing.error().message;
}

TEST(SharedLibrary, EveryMissingFunctionIsNamed) {
  auto libc = SharedLibrary::Open("libc.so.6");
  ASSERT_TRUE(libc) << libc.error().message;
  decltype(&std::strlen) length = nullptr;
  void (*first)() = nullptr;
  void (*second)() = nullptr;
  libc->Bind(first, "digestd_no_such_function");
  libc->Bind(length, "strlen");
  libc->Bind(second, "digestd_nor_this_one");
  EXPECT_EQ(first, nullptr);
  EXPECT_NE(length, nullptr);
  const Status bound = libc->Bound();
  ASSERT_FALSE(bound);
  EXPECT_EQ(bound.error().message,
            "libc.so.6 lacks digestd_no_such_function, digestd_nor_this_one (an older version "
            "than digestd was built for?)");
}

// Each test runs in a process of its own (gtest_discover_tests), so the environment one
// changes is not the next one's.
TEST(DeferGnutlsInitialisation, TellsGnutlsWhereTheEnvironmentSaysNothing) {
  ASSERT_EQ(::unsetenv("GNUTLS_NO_IMPLICIT_INIT"), 0);
  DeferGnutlsInitialisation();
  const char* value = std::getenv("GNUTLS_NO_IMPLICIT_INIT");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(std::string(value), "1");
  EXPECT_TRUE(SetByDigestd("GNUTLS_NO_IMPLICIT_INIT"));
  EXPECT_FALSE(SetByDigestd("PATH"));
}

TEST(DeferGnutlsInitialisation, KeepsWhatTheEnvironmentSays) {
  ASSERT_EQ(::setenv("GNUTLS_NO_IMPLICIT_INIT", "0", 1), 0);
  DeferGnutlsInitialisation();
  const char* value = std::getenv("GNUTLS_NO_IMPLICIT_INIT");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(std::string(value), "0");
  EXPECT_FALSE(SetByDigestd("GNUTLS_NO_IMPLICIT_INIT"));
}

}  // namespace
}  // namespace digestd
