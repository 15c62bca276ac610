// The unit tests' main: Catch2 v2 generates it from CATCH_CONFIG_MAIN; v3
// (MMRUN_CATCH_V3, set by CMakeLists.txt) runs a Catch::Session.
#ifdef MMRUN_CATCH_V3
#include <catch2/catch_session.hpp>

int main(int argc, char** argv) { return Catch::Session().run(argc, argv); }
#else
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
