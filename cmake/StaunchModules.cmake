# staunch_module(NAME [DEPS mod...] [LIBS lib...])
# Builds every .c under src/NAME/ (subfolders included, e.g. backends/rocksdb/) into the static library staunch_NAME.
# The include root is src/, so code writes #include "core/core.h".
function(staunch_module name)
  cmake_parse_arguments(M "" "" "DEPS;LIBS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.c)
  # main.c of a module is a binary's entry point, never part of the library.
  list(FILTER srcs EXCLUDE REGEX "/main\\.c$")
  if(NOT srcs)
    return()
  endif()
  add_library(staunch_${name} STATIC ${srcs})
  target_include_directories(staunch_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  foreach(d ${M_DEPS})
    if(TARGET staunch_${d})
      target_link_libraries(staunch_${name} PUBLIC staunch_${d})
    endif()
  endforeach()
  if(M_LIBS)
    target_link_libraries(staunch_${name} PUBLIC ${M_LIBS})
  endif()
  set_property(GLOBAL APPEND PROPERTY STAUNCH_MODULES ${name})
endfunction()

