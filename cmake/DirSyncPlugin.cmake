# dirsync_add_plugin(<name> SOURCES <files...> [LIBRARIES <targets...>])
#
# Builds a DirSync plugin as a loadable module named dirsync-<name>.so. Works
# in this tree and, through find_package(DirSync), for out-of-tree plugins.
function(dirsync_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  set(target dirsync-${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET default)
  target_compile_features(${target} PRIVATE cxx_std_20)
  if(TARGET dirsync_sdk)
    target_link_libraries(${target} PRIVATE dirsync_sdk dirsync_warnings ${ARG_LIBRARIES})
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${DIRSYNC_PLUGIN_OUTPUT_DIR}
      INSTALL_RPATH "$ORIGIN/../..")
    install(TARGETS ${target} LIBRARY DESTINATION ${DIRSYNC_PLUGIN_INSTALL_DIR})
  else()
    target_link_libraries(${target} PRIVATE DirSync::sdk ${ARG_LIBRARIES})
  endif()
endfunction()
