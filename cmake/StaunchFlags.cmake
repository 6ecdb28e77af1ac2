# Compiler flags: warnings as errors everywhere, hardening, sanitizers, fuzzing.
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral)
add_compile_definitions(_GNU_SOURCE)

# Code built with -fsanitize=fuzzer-no-link calls coverage hooks that only a sanitizer runtime
# (or libFuzzer) defines: without one, the tests and binaries of a fuzz build fail to link.
if(STAUNCH_FUZZ AND NOT STAUNCH_SANITIZE)
  message(STATUS "STAUNCH_FUZZ needs the sanitizer runtimes: enabling STAUNCH_SANITIZE")
  set(STAUNCH_SANITIZE ON)
endif()

if(STAUNCH_HARDEN AND NOT STAUNCH_SANITIZE)
  # ARCHITECTURE.md §3, Privileges: FORTIFY 3, stack protector, stack-clash, CET, PIE, full RELRO.
  if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3)
  endif()
  add_compile_options(-fstack-protector-strong -fstack-clash-protection -fcf-protection=full -fPIE)
  add_link_options(-pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
endif()

if(STAUNCH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()

if(STAUNCH_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "STAUNCH_FUZZ needs clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
