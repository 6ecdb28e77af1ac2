# The mail-store benchmark (tests/mailstore/bench_mailstore.c; run by ci/bench/mailstore):
# built once staunch_mailstore exists, i.e. after the top-level file has declared the module.
function(mailstore_add_bench)
  if(TARGET staunch_mailstore AND EXISTS ${PROJECT_SOURCE_DIR}/tests/mailstore/bench_mailstore.c)
    add_executable(mailstore_bench ${PROJECT_SOURCE_DIR}/tests/mailstore/bench_mailstore.c)
    target_link_libraries(mailstore_bench PRIVATE staunch_mailstore)
  endif()
endfunction()
cmake_language(DEFER CALL mailstore_add_bench)
