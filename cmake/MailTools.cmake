# Test-only tools of src/mail (issue 5 items 8 and 10), never linked into a server binary:
#   mail_gmime_diff  tests/mail/gmime_diff.c  structural differences with GMime 3 (ci/mail-diff.sh)
#   mail_bench       tests/mail/bench_mail.c  parse throughput of src/mail and GMime (ci/bench/mail)
# Both need GMime 3.0 (pkg-config gmime-3.0, libgmime-3.0-dev in ci/setup.sh); without it they are
# skipped. Included from the top-level CMakeLists.txt right after the mail module.
if(NOT TARGET staunch_mail)
  return()
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(MAILTOOLS_GMIME QUIET IMPORTED_TARGET gmime-3.0)
if(NOT MAILTOOLS_GMIME_FOUND)
  message(STATUS "gmime-3.0 not found: mail_gmime_diff and mail_bench are not built")
  return()
endif()

foreach(tool gmime_diff bench)
  if(tool STREQUAL "bench")
    set(src ${PROJECT_SOURCE_DIR}/tests/mail/bench_mail.c)
  else()
    set(src ${PROJECT_SOURCE_DIR}/tests/mail/gmime_diff.c)
  endif()
  if(NOT EXISTS ${src})
    continue()
  endif()
  add_executable(mail_${tool} ${src})
  target_link_libraries(mail_${tool} PRIVATE staunch_mail PkgConfig::MAILTOOLS_GMIME)
  target_compile_definitions(mail_${tool} PRIVATE
    STAUNCH_SOURCE_DIR="${PROJECT_SOURCE_DIR}" STAUNCH_BINARY_DIR="${PROJECT_BINARY_DIR}")
endforeach()

# Every difference with GMime must be explained: the test fails when the tool crashes or finds
# a difference that conformance/mail/gmime-expected-diffs.txt does not list.
if(TARGET mail_gmime_diff)
  add_test(NAME mail_gmime_diff COMMAND mail_gmime_diff
    --allow ${PROJECT_SOURCE_DIR}/conformance/mail/gmime-expected-diffs.txt)
  set_tests_properties(mail_gmime_diff PROPERTIES LABELS "conformance" TIMEOUT 600)
endif()
