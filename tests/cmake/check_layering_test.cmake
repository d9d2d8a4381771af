# Tests cmake/CheckLayering.cmake on two made-up trees: one where every include points down
# (must pass) and one where a low layer includes a higher one (must fail, naming the file).
# cmake -DCHECKER=.../CheckLayering.cmake -DWORK_DIR=DIR -P check_layering_test.cmake

set(spec "low=|mid=low|high=mid")

function(run_checker src_dir out_result out_message)
  execute_process(COMMAND ${CMAKE_COMMAND} -DSRC_DIR=${src_dir} "-DLAYER_SPEC=${spec}"
                          -P ${CHECKER}
                  RESULT_VARIABLE result ERROR_VARIABLE message OUTPUT_QUIET)
  set(${out_result} ${result} PARENT_SCOPE)
  set(${out_message} "${message}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(WRITE ${WORK_DIR}/good/low/a.h "#pragma once\n#include <vector>\n")
file(WRITE ${WORK_DIR}/good/mid/b.h "#include \"low/a.h\"\n")
file(WRITE ${WORK_DIR}/good/high/c.cc "#include \"mid/b.h\"\n#include \"low/a.h\"\n#include \"hwy/base.h\"\n")
run_checker(${WORK_DIR}/good result message)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "a tree whose includes all point down was refused:\n${message}")
endif()

file(WRITE ${WORK_DIR}/bad/low/a.h "#pragma once\n")
file(WRITE ${WORK_DIR}/bad/mid/deep/b.cc "#include \"high/c.h\"\n")
file(WRITE ${WORK_DIR}/bad/high/c.h "#include \"mid/b.h\"\n")
run_checker(${WORK_DIR}/bad result message)
if(result EQUAL 0)
  message(FATAL_ERROR "an upward include (mid -> high) was accepted")
endif()
if(NOT message MATCHES "src/mid/deep/b.cc: #include \"high/c.h\" reaches the high layer; the mid layer may include only mid, low")
  message(FATAL_ERROR "the error does not name the file, the include and the allowed layers:\n${message}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
