# The authentication timing benchmark (tests/directory/bench_auth.c; run by ci/bench/auth):
# built once staunch_directory exists, i.e. after the top-level file has declared the module.
function(auth_add_bench)
  if(TARGET staunch_directory AND EXISTS ${PROJECT_SOURCE_DIR}/tests/directory/bench_auth.c)
    add_executable(auth_bench ${PROJECT_SOURCE_DIR}/tests/directory/bench_auth.c)
    target_link_libraries(auth_bench PRIVATE staunch_directory m)
  endif()
endfunction()
cmake_language(DEFER CALL auth_add_bench)
