# `cmake --install build [--prefix DIR]`: the cvmsim binary, a man page per command made
# from its --help by help2man (scripts/install-deps.sh installs it; without it the pages
# are skipped with a note), and bash completion.
include(GNUInstallDirs)

install(TARGETS cvmsim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/scripts/cvmsim-completion.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME cvmsim)

find_program(CVMSIM_HELP2MAN help2man)
if(NOT CVMSIM_HELP2MAN)
  message(STATUS "help2man not found: no man pages (scripts/install-deps.sh installs it)")
  return()
endif()

# One page for the program and one per command, from the same --help text users see.
set(CVMSIM_MAN_COMMANDS vendor chip provider measure sign-reference pack inspect run mkdisk
    guest verify demo attack trace)
set(man_dir ${CMAKE_BINARY_DIR}/man)
set(man_pages ${man_dir}/cvmsim.1)
add_custom_command(
  OUTPUT ${man_dir}/cvmsim.1
  COMMAND ${CMAKE_COMMAND} -E make_directory ${man_dir}
  COMMAND ${CVMSIM_HELP2MAN} --no-info --no-discard-stderr
          "--name=a confidential-computing server simulator and its host tools"
          --output=${man_dir}/cvmsim.1 $<TARGET_FILE:cvmsim>
  DEPENDS cvmsim
  COMMENT "man page cvmsim.1 (help2man)"
  VERBATIM)
foreach(command IN LISTS CVMSIM_MAN_COMMANDS)
  set(page ${man_dir}/cvmsim-${command}.1)
  list(APPEND man_pages ${page})
  add_custom_command(
    OUTPUT ${page}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${man_dir}
    COMMAND ${CVMSIM_HELP2MAN} --no-info --no-discard-stderr
            "--help-option=${command} --help" --version-option=--version
            "--name=cvmsim ${command}" --output=${page} $<TARGET_FILE:cvmsim>
    DEPENDS cvmsim
    COMMENT "man page cvmsim-${command}.1 (help2man)"
    VERBATIM)
endforeach()
add_custom_target(cvmsim_man ALL DEPENDS ${man_pages})
install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
