# The installed library: `cmake --install build [--prefix DIR]` gives
#   lib/libnst.so.X.Y.Z (SONAME libnst.so.<NST_ABI_VERSION>; exports only nst_*), lib/libnst.so,
#   lib/libnst.a, include/nst/nst.h, lib/cmake/nst/nstConfig.cmake + nstConfigVersion.cmake
#   (find_package(nst) -> nst::nst, the shared library; nst::nst_static, the static one),
#   lib/pkgconfig/nst.pc (and nst-static.pc), bin/nst.
# Fixed lib/ (not lib/x86_64-linux-gnu) so the .pc and config files can find everything relative
# to themselves: the installed tree is relocatable.
include(CMakePackageConfigHelpers)

# The shared library: the whole engine (nst_core, C API included) linked in, only nst_* exported.
add_library(nst_shared SHARED cmake/empty.c)
target_link_libraries(nst_shared PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,nst_core>")
set_target_properties(nst_shared PROPERTIES OUTPUT_NAME nst VERSION ${PROJECT_VERSION} SOVERSION ${NST_ABI_VERSION}
                                            C_VISIBILITY_PRESET hidden LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/nst.map)
target_link_options(nst_shared PRIVATE "-Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/nst.map")
target_include_directories(nst_shared INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)

install(TARGETS nst_shared LIBRARY DESTINATION lib)
install(TARGETS nst_core ARCHIVE DESTINATION lib)
install(TARGETS nst RUNTIME DESTINATION bin)
install(FILES include/nst/nst.h DESTINATION include/nst)

# What a program linking libnst.a needs besides it: the system libraries nst_core links (append
# here when nst_core links another one).
set(NST_STATIC_DEPS ${STB_LIBRARIES} png jpeg ${WEBP_LIBRARIES} gomp pthread stdc++ m)
list(TRANSFORM NST_STATIC_DEPS PREPEND "-l" OUTPUT_VARIABLE NST_STATIC_LIBS)
list(JOIN NST_STATIC_LIBS " " NST_STATIC_LIBS)
set(NST_CMAKE_DIR lib/cmake/nst)
set(NST_INCLUDE_DIR_REL include)
set(NST_LIBRARY_DIR_REL lib)
configure_package_config_file(cmake/nstConfig.cmake.in ${PROJECT_BINARY_DIR}/nstConfig.cmake
                              INSTALL_DESTINATION ${NST_CMAKE_DIR} PATH_VARS NST_INCLUDE_DIR_REL NST_LIBRARY_DIR_REL)
# Same major version and not older (0.x: same minor too, since 0.x minors may break).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nstConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nstConfig.cmake ${PROJECT_BINARY_DIR}/nstConfigVersion.cmake
        DESTINATION ${NST_CMAKE_DIR})
# Relocatable: paths relative to the .pc file (so lib/pkgconfig sits two levels below the prefix).
configure_file(cmake/nst.pc.in ${PROJECT_BINARY_DIR}/nst.pc @ONLY)
configure_file(cmake/nst-static.pc.in ${PROJECT_BINARY_DIR}/nst-static.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/nst.pc ${PROJECT_BINARY_DIR}/nst-static.pc DESTINATION lib/pkgconfig)
