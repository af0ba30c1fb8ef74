# Tests of the C API and of the shared library (included from CMakeLists.txt inside NST_BUILD_TESTS).

# The C API from C99 with -pedantic: test_capi.c includes nst.h and drives every call.
add_executable(test_capi tests/capi/test_capi.c)
set_target_properties(test_capi PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(test_capi PRIVATE -pedantic-errors -Wall -Wextra -Werror)
target_link_libraries(test_capi PRIVATE nst_shared Threads::Threads)
target_compile_definitions(test_capi PRIVATE NST_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared"
                                             NST_PROJECT_VERSION="${PROJECT_VERSION}")
add_test(NAME test_capi COMMAND test_capi)
set_tests_properties(test_capi PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_NUM_THREADS=2")

# The shared library exports nst_* and nothing else, and carries its SONAME.
add_test(NAME test_exports COMMAND ${CMAKE_COMMAND} -DLIB=$<TARGET_FILE:nst_shared>
         -DSONAME=libnst.so.${NST_ABI_VERSION} -P ${PROJECT_SOURCE_DIR}/tests/capi/check_exports.cmake)

# README.md shows examples/stylize.c verbatim (the complete example CI builds and runs).
add_test(NAME test_readme_example COMMAND ${CMAKE_COMMAND} -DREADME=${PROJECT_SOURCE_DIR}/README.md
         -DEXAMPLE=${PROJECT_SOURCE_DIR}/examples/stylize.c -P ${PROJECT_SOURCE_DIR}/tests/capi/check_readme_example.cmake)

# The Python module over the shared library, with Debian's python3 and python3-numpy (not a
# virtual environment's python that may lack numpy). Exits 77 (skipped) without numpy. Not in
# sanitizer builds: an uninstrumented python cannot load an ASan-instrumented library.
find_program(NST_SYSTEM_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(NST_SYSTEM_PYTHON3 python3)
if(NST_SYSTEM_PYTHON3 AND NOT CMAKE_CXX_FLAGS MATCHES "sanitize")
  add_test(NAME test_python COMMAND ${NST_SYSTEM_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/python/test_nst.py)
  set_tests_properties(test_python PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT
    "OMP_NUM_THREADS=2;NST_LIBRARY=$<TARGET_FILE:nst_shared>;NST_WEIGHTS=${PROJECT_SOURCE_DIR}/../shared/weights/vgg19-conv.safetensors")
endif()
