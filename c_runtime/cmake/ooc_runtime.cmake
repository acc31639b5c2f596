# The ooc::runtime target, defined once for both ways of using the runtime: add_subdirectory
# (../CMakeLists.txt) and find_package(ooc CONFIG) (oocConfig.cmake). The library is built from
# source in the consuming project, with its toolchain and flags: one installed package serves the
# host and every Cortex-M build, and OOC_KERNELS_DSP takes effect where the firmware is built.
include_guard(GLOBAL)

option(OOC_KERNELS_DSP "Cortex-M DSP-extension kernels (OFF: the reference kernels)" OFF)
option(OOC_WARNINGS_AS_ERRORS "Treat the runtime's warnings as errors" OFF)

# The runtime's version, "MAJOR.MINOR", from OOC_VERSION_MAJOR/MINOR in include/ooc/ooc.h.
function(ooc_runtime_version root out_var)
  file(STRINGS "${root}/include/ooc/ooc.h" _lines REGEX "^#define OOC_VERSION_(MAJOR|MINOR) ")
  set(_major "")
  set(_minor "")
  foreach(_line IN LISTS _lines)
    if(_line MATCHES "^#define OOC_VERSION_MAJOR ([0-9]+)")
      set(_major "${CMAKE_MATCH_1}")
    elseif(_line MATCHES "^#define OOC_VERSION_MINOR ([0-9]+)")
      set(_minor "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(_major STREQUAL "" OR _minor STREQUAL "")
    message(FATAL_ERROR "ooc: no OOC_VERSION_MAJOR/MINOR in ${root}/include/ooc/ooc.h")
  endif()
  set(${out_var} "${_major}.${_minor}" PARENT_SCOPE)
endfunction()

# The static library ooc_runtime (alias ooc::runtime) from the runtime directory `root`: the
# sources sources.txt lists, include/ as its public include directory, C99.
function(ooc_add_runtime root)
  file(STRINGS "${root}/sources.txt" _sources REGEX "^[^#]")
  list(TRANSFORM _sources PREPEND "${root}/")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${root}/sources.txt")
  foreach(_src IN LISTS _sources)
    if(NOT EXISTS "${_src}")
      message(FATAL_ERROR "ooc: ${_src} is missing (third_party/: python -m ooc_sdk.codegen.thirdparty)")
    endif()
  endforeach()
  add_library(ooc_runtime STATIC ${_sources})
  add_library(ooc::runtime ALIAS ooc_runtime)
  target_include_directories(ooc_runtime PUBLIC "${root}/include")
  set_target_properties(ooc_runtime PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON
                                               C_EXTENSIONS OFF)
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(ooc_runtime PRIVATE -Wall -Wextra -pedantic)
    if(OOC_WARNINGS_AS_ERRORS)
      target_compile_options(ooc_runtime PRIVATE -Werror)
    endif()
  endif()
  if(OOC_KERNELS_DSP)
    target_compile_definitions(ooc_runtime PRIVATE OOC_KERNELS_DSP=1)
  endif()
endfunction()
