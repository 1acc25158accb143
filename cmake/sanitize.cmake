# cmake/sanitize.cmake — the sanitizer build (-DQSGDSIM_SANITIZE=ON): ASan + UBSan (with
# float-cast-overflow, every finding fatal) + LSan on every C/C++ target, and the runtime
# options, LSan suppressions and SMPI settings every CTest test runs with. Included by the
# top-level CMakeLists.txt after the dependencies are found, before any target is defined.
# What SimGrid needs under ASan, and why: docs/testing.md ("Sanitizers").
if(NOT QSGDSIM_SANITIZE)
  return()
endif()

# smpicc compiles the SMPI trainer with /usr/bin/cc (hard-coded in the script), so the
# libraries must use the same compiler's sanitizer runtime: GCC.
if(NOT CMAKE_C_COMPILER_ID STREQUAL "GNU")
  message(FATAL_ERROR "QSGDSIM_SANITIZE=ON needs GCC (CMAKE_C_COMPILER is "
                      "${CMAKE_C_COMPILER_ID}): smpicc builds the SMPI trainer with /usr/bin/cc, "
                      "and one process cannot hold two sanitizer runtimes")
endif()

# The CUDA runtime under ASan needs protect_shadow_gap=0 and nvcc its own link flags; not
# supported: AUTO leaves the CUDA backend out (the emulated CUDA tests still run), ON fails.
if(QSGDSIM_CUDA STREQUAL "ON")
  message(FATAL_ERROR "QSGDSIM_SANITIZE=ON does not build the CUDA backend: "
                      "configure with -DQSGDSIM_CUDA=OFF (or AUTO)")
endif()
set(QSGDSIM_CUDA OFF)
message(STATUS "QSGDSIM_SANITIZE=ON: the CUDA backend is left out (QSGDSIM_CUDA=OFF)")

# GCC's -fsanitize=undefined leaves out float-cast-overflow (a float -> integer conversion
# out of range, e.g. epochs = 1e300 -> size_t); name it. -fno-sanitize-recover=all: a UBSan
# finding aborts the program, so the test that triggers it fails.
set(QSGDSIM_SANITIZE_FLAGS
    -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
    -fno-omit-frame-pointer -g)
add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${QSGDSIM_SANITIZE_FLAGS}>")
add_link_options("$<$<LINK_LANGUAGE:C,CXX>:${QSGDSIM_SANITIZE_FLAGS}>")

# The ASan runtime, preloaded into smpimain (SimGrid's uninstrumented launcher, which
# dlopens the trainer): ASan must be the first library of a process.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                OUTPUT_VARIABLE QSGDSIM_ASAN_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE)
get_filename_component(QSGDSIM_ASAN_RUNTIME "${QSGDSIM_ASAN_RUNTIME}" REALPATH)
if(NOT EXISTS "${QSGDSIM_ASAN_RUNTIME}" OR NOT QSGDSIM_ASAN_RUNTIME MATCHES "libasan")
  message(FATAL_ERROR "QSGDSIM_SANITIZE=ON: ${CMAKE_C_COMPILER} has no libasan.so "
                      "(Debian: apt-get install libasan8)")
endif()

# Runtime options of every test (see the test-time script below). Later entries of an
# *_OPTIONS variable win, so a user's own ASAN_OPTIONS etc. are appended and override these.
set(QSGDSIM_LSAN_SUPP ${CMAKE_SOURCE_DIR}/cmake/lsan.supp)
set(QSGDSIM_ASAN_OPTIONS
    "detect_leaks=1:halt_on_error=1:abort_on_error=0:print_summary=1:fast_unwind_on_malloc=0")
set(QSGDSIM_UBSAN_OPTIONS "print_stacktrace=1:halt_on_error=1:report_error_type=1")
set(QSGDSIM_LSAN_OPTIONS "suppressions=${QSGDSIM_LSAN_SUPP}:print_suppressions=0")

# `qsgdsim sim` runs `smpirun` from PATH; under CTest PATH starts with sanitize/bin, whose
# smpirun (cmake/smpirun-sanitize.in) adds what SimGrid needs under ASan to the real one's
# command line: LD_PRELOAD of libasan into smpimain, -no-privatize, thread contexts.
set(QSGDSIM_SANITIZE_BIN ${CMAKE_BINARY_DIR}/sanitize/bin)
if(SMPIRUN_EXECUTABLE)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/smpirun-sanitize.in ${CMAKE_BINARY_DIR}/sanitize/smpirun
                 @ONLY)
  file(COPY ${CMAKE_BINARY_DIR}/sanitize/smpirun DESTINATION ${QSGDSIM_SANITIZE_BIN}
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                        WORLD_READ WORLD_EXECUTE)
endif()

# CMake < 3.28 cannot set a property of a test defined in another directory, so the
# environment is set once for the whole ctest process: CTest includes this script before it
# runs the tests, and every test inherits it (a test's own ENVIRONMENT property, e.g. the
# fuzz tests' ASAN_OPTIONS, still wins for that test).
configure_file(${CMAKE_SOURCE_DIR}/cmake/sanitize_test_env.cmake.in
               ${CMAKE_BINARY_DIR}/sanitize/test_env.cmake @ONLY)
set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY TEST_INCLUDE_FILES
             ${CMAKE_BINARY_DIR}/sanitize/test_env.cmake)
