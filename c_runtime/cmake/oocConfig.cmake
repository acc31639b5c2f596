# find_package(ooc CONFIG): the ooc C runtime as the target ooc::runtime.
#
#   find_package(ooc 0.1 CONFIG REQUIRED)       # after project(... C)
#   target_link_libraries(firmware PRIVATE ooc::runtime)
#
# Found in an installed runtime (cmake --install of c_runtime: <prefix>/share/ooc/cmake, on
# CMAKE_PREFIX_PATH), in the wheel's runtime directory (-Dooc_DIR="$(ooc --runtime-dir)/cmake")
# or in the ooc_runtime/ copy `ooc codegen` writes. It is a source package: ooc::runtime is
# compiled in the consuming project with its toolchain, so the same package serves the host and
# every Cortex-M target. Options (cache variables, as for add_subdirectory):
#   OOC_KERNELS_DSP          the Cortex-M DSP-extension kernels (OFF: the reference kernels)
#   OOC_WARNINGS_AS_ERRORS   -Werror on the runtime's sources
# Variables set:
#   ooc_VERSION          the runtime's version (include/ooc/ooc.h)
#   ooc_RUNTIME_DIR      the runtime's directory (include/, src/, sources.txt, ports/, cmake/)
#   ooc_PORTS_DIR        the reference ports: host/, qemu_mps2/ (the QEMU mps2-an386 board:
#                        startup, semihosting, linker script), common/
#   ooc_TOOLCHAIN_CORTEX_M4  a toolchain file for arm-none-eabi-gcc on a Cortex-M4F
get_filename_component(ooc_RUNTIME_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(ooc_PORTS_DIR "${ooc_RUNTIME_DIR}/ports")
set(ooc_TOOLCHAIN_CORTEX_M4 "${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi-cortex-m4.cmake")

get_property(_ooc_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
list(FIND _ooc_languages C _ooc_c)
if(_ooc_c EQUAL -1)
  set(${CMAKE_FIND_PACKAGE_NAME}_FOUND FALSE)
  set(${CMAKE_FIND_PACKAGE_NAME}_NOT_FOUND_MESSAGE
      "ooc::runtime is C: enable C (project(... LANGUAGES C)) before find_package(ooc)")
  return()
endif()

include("${CMAKE_CURRENT_LIST_DIR}/ooc_runtime.cmake")
if(NOT TARGET ooc::runtime)
  ooc_add_runtime("${ooc_RUNTIME_DIR}")
endif()
