# The version check of find_package(ooc [VERSION] CONFIG), for oocConfig.cmake beside it. The
# version is the runtime's (OOC_VERSION_MAJOR/MINOR in include/ooc/ooc.h), read here so the
# runtime directory is a package as it stands, installed or not. Compatible: the same major
# version and no older than the one asked for; while the major version is 0, the same minor
# version. A source package: any architecture.
file(STRINGS "${CMAKE_CURRENT_LIST_DIR}/../include/ooc/ooc.h" _ooc_lines
     REGEX "^#define OOC_VERSION_(MAJOR|MINOR) ")
set(_ooc_major "")
set(_ooc_minor "")
foreach(_ooc_line IN LISTS _ooc_lines)
  if(_ooc_line MATCHES "^#define OOC_VERSION_MAJOR ([0-9]+)")
    set(_ooc_major "${CMAKE_MATCH_1}")
  elseif(_ooc_line MATCHES "^#define OOC_VERSION_MINOR ([0-9]+)")
    set(_ooc_minor "${CMAKE_MATCH_1}")
  endif()
endforeach()
set(PACKAGE_VERSION "${_ooc_major}.${_ooc_minor}")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
set(PACKAGE_VERSION_EXACT FALSE)
if(_ooc_major STREQUAL "" OR _ooc_minor STREQUAL "")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
elseif(NOT DEFINED PACKAGE_FIND_VERSION OR PACKAGE_FIND_VERSION STREQUAL "")
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(PACKAGE_FIND_VERSION_RANGE)
  # a range (CMake >= 3.19): within [MIN, MAX] or [MIN, MAX)
  if(PACKAGE_VERSION VERSION_GREATER_EQUAL PACKAGE_FIND_VERSION_MIN
     AND ((PACKAGE_FIND_VERSION_RANGE_MAX STREQUAL "INCLUDE"
           AND PACKAGE_VERSION VERSION_LESS_EQUAL PACKAGE_FIND_VERSION_MAX)
          OR (PACKAGE_FIND_VERSION_RANGE_MAX STREQUAL "EXCLUDE"
              AND PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION_MAX)))
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
elseif(PACKAGE_FIND_VERSION_MAJOR STREQUAL _ooc_major
       AND PACKAGE_VERSION VERSION_GREATER_EQUAL PACKAGE_FIND_VERSION
       AND (NOT _ooc_major STREQUAL "0" OR PACKAGE_FIND_VERSION_MINOR STREQUAL _ooc_minor))
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
unset(_ooc_lines)
unset(_ooc_line)
unset(_ooc_major)
unset(_ooc_minor)
