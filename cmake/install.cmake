# `cmake --install`: the model (odf::odf) and the trace library (odf::trace) as static libraries, their public
# headers, odf-sim, and a CMake package, so that another project does
#   find_package(odf CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE odf::odf)
# (examples/consumer; the ctest install_consumer builds it against an installed tree).
include(CMakePackageConfigHelpers)

set(ODF_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/odf)

install(TARGETS odf odf_trace EXPORT odfTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS odf-sim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The sweep library is part of odf-sim only: its headers are not installed.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/odf DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        PATTERN "sweep.hpp" EXCLUDE)
install(EXPORT odfTargets NAMESPACE odf:: DESTINATION ${ODF_INSTALL_CMAKEDIR})

# What a consumer must find for the exported targets' interface: the static libraries' link dependencies (fmt,
# spdlog, zstd) and the public headers' (Boost's header-only flat_map, through odf/mm.hpp).
set(ODF_PACKAGE_DEPENDENCIES fmt spdlog zstd Boost)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/odfConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/odfConfig.cmake
                              INSTALL_DESTINATION ${ODF_INSTALL_CMAKEDIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/odfConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/odfConfig.cmake ${PROJECT_BINARY_DIR}/odfConfigVersion.cmake
        DESTINATION ${ODF_INSTALL_CMAKEDIR})
