# Tests of the odf-sim command line layer (sim/cli), included from tests/CMakeLists.txt.

# stdout carries only results under -v; progress (rate, ETA) on stderr; --quiet silences it.
odf_expect_test(cli_logging_stdout_clean_quiet_silent 0 "logging: ok" ${CMAKE_CURRENT_SOURCE_DIR}/cli/logging.sh
                ${ODF_SIM} ${CMAKE_CURRENT_BINARY_DIR}/cli-logging)

# inspect --dot: Graphviz parses the picture, and the sharing it shows matches the model's counts (inspect --json).
find_program(ODF_DOT dot)
if(ODF_DOT)
  odf_expect_test(cli_inspect_dot_matches_the_model 0 "inspect-dot: ok" ${CMAKE_CURRENT_SOURCE_DIR}/cli/inspect-dot.sh
                  ${ODF_SIM} ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/cli-inspect-dot)
else()
  message(WARNING "graphviz's dot not found (scripts/setup installs it): cli_inspect_dot_matches_the_model skipped")
endif()
