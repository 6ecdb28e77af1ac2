# Libraries of src/store and its backends (ARCHITECTURE.md §4), all from Debian packages
# installed by ci/setup.sh: librocksdb-dev, libsqlite3-dev, libpq-dev, libzstd-dev,
# liblz4-dev and OpenSSL's libcrypto (SHA-256 of content-addressed blobs).
# Sets STORE_LIBS for staunch_module(store ...).
find_package(PkgConfig REQUIRED)
pkg_check_modules(STORE_SQLITE REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(STORE_PQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(STORE_ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(STORE_LZ4 REQUIRED IMPORTED_TARGET liblz4)
pkg_check_modules(STORE_CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
# Debian's rocksdb.pc lists private dependencies that are not always installed; the shared
# library carries its own, so find it directly.
find_path(STORE_ROCKSDB_INCLUDE rocksdb/c.h REQUIRED)
find_library(STORE_ROCKSDB_LIB rocksdb REQUIRED)
find_package(Threads REQUIRED)

set(STORE_LIBS
    ${STORE_ROCKSDB_LIB}
    PkgConfig::STORE_SQLITE
    PkgConfig::STORE_PQ
    PkgConfig::STORE_ZSTD
    PkgConfig::STORE_LZ4
    PkgConfig::STORE_CRYPTO
    Threads::Threads)
set(STORE_DEPS "")

# The store benchmark (tests/store/bench_store.c; run by ci/bench): built once staunch_store
# exists, i.e. after the top-level file has declared the module.
function(store_add_bench)
  if(TARGET staunch_store AND EXISTS ${PROJECT_SOURCE_DIR}/tests/store/bench_store.c)
    add_executable(store_bench ${PROJECT_SOURCE_DIR}/tests/store/bench_store.c)
    target_link_libraries(store_bench PRIVATE staunch_store)
  endif()
endfunction()
cmake_language(DEFER CALL store_add_bench)
