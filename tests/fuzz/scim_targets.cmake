# The scim source's fuzz targets, for tests/fuzz/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/scim_targets.cmake)   (after fuzz_core is defined)
# and run.sh's target list gains: scim_fuzz_filter scim_fuzz_patch.
# filter.cpp, schema.cpp and resource.cpp depend on the SDK's value/json only
# (no Poco), so they build with the fuzz project's libc++.
set(SCIM_SRC ${ROOT}/connectors/scim/src)
add_library(fuzz_scim STATIC ${SCIM_SRC}/filter.cpp ${SCIM_SRC}/schema.cpp ${SCIM_SRC}/resource.cpp)
target_include_directories(fuzz_scim PUBLIC ${SCIM_SRC})
target_link_libraries(fuzz_scim PUBLIC fuzz_core)
foreach(target scim_fuzz_filter scim_fuzz_patch)
  add_executable(${target} ${CMAKE_CURRENT_LIST_DIR}/${target}.cpp)
  target_link_libraries(${target} PRIVATE fuzz_scim)
  target_link_options(${target} PRIVATE -fsanitize=fuzzer,address,undefined)
endforeach()
