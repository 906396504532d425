# SPDX-License-Identifier: Apache-2.0
# Compiler flags for our own code (generated and third-party code does not use these).

set(GDP_WARNINGS
  -Wall -Wextra -Wshadow -Wformat=2 -Wwrite-strings -Wstrict-prototypes
  -Wmissing-prototypes -Wmissing-declarations -Wold-style-definition -Wpointer-arith
  -Wcast-align -Wundef -Wvla -Wimplicit-fallthrough -Wnull-dereference -Wconversion
  -Wsign-conversion -Wredundant-decls -Wmissing-noreturn -fno-common)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  list(APPEND GDP_WARNINGS -Wlogical-op -Wduplicated-cond -Wduplicated-branches)
endif()
if(GDP_WERROR)
  list(APPEND GDP_WARNINGS -Werror)
endif()

if(GDP_SANITIZE)
  add_compile_options(-fsanitize=${GDP_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${GDP_SANITIZE})
endif()

if(GDP_FUZZ)
  # coverage instrumentation for everything the fuzz targets link
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(GDP_HARDENING AND NOT GDP_SANITIZE)
  if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    add_compile_definitions(_FORTIFY_SOURCE=2)
  endif()
  add_compile_options(-fstack-protector-strong)
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  include(CheckPIESupported)
  check_pie_supported()
  add_link_options(-Wl,-z,relro,-z,now -Wl,--as-needed)
endif()

function(gdp_project_flags target)
  target_compile_options(${target} PRIVATE ${GDP_WARNINGS})
endfunction()
