# Include discipline between the layers of src/ (one folder and one static library each), run
# as a build step: a file of src/LAYER/ may include only headers of its own layer and of the
# layers it links, so a layer cannot reach up even though every library shares the src/
# include root. The error names the file, the include and what the layer may see.
#
# cmake -DSRC_DIR=DIR -DLAYER_SPEC="util=|tensor=util|io=tensor+util|..." -P CheckLayering.cmake
# (each entry: a layer, "=", the layers it links directly, joined by "+").

if(NOT SRC_DIR OR NOT LAYER_SPEC)
  message(FATAL_ERROR "CheckLayering.cmake needs -DSRC_DIR and -DLAYER_SPEC")
endif()

string(REPLACE "|" ";" entries "${LAYER_SPEC}")
set(layers "")
foreach(entry ${entries})
  string(REGEX MATCH "^([a-z_]+)=(.*)$" ok "${entry}")
  if(NOT ok)
    message(FATAL_ERROR "LAYER_SPEC entry '${entry}': expected layer=dep+dep")
  endif()
  list(APPEND layers ${CMAKE_MATCH_1})
  string(REPLACE "+" ";" deps_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
endforeach()

# The layers `name` may include: itself and every layer below it, transitively.
function(visible_layers name out)
  set(visible ${name})
  foreach(dep ${deps_${name}})
    visible_layers(${dep} below)
    list(APPEND visible ${below})
  endforeach()
  list(REMOVE_DUPLICATES visible)
  set(${out} ${visible} PARENT_SCOPE)
endfunction()

set(problems "")
foreach(layer ${layers})
  visible_layers(${layer} visible)
  file(GLOB_RECURSE files ${SRC_DIR}/${layer}/*.h ${SRC_DIR}/${layer}/*.cc)
  foreach(file ${files})
    file(STRINGS ${file} includes REGEX "^#include \"[a-z_]+/")
    foreach(line ${includes})
      string(REGEX REPLACE "^#include \"([a-z_]+)/.*$" "\\1" included "${line}")
      list(FIND layers ${included} is_layer)
      list(FIND visible ${included} is_visible)
      if(is_layer GREATER -1 AND is_visible EQUAL -1)
        file(RELATIVE_PATH rel ${SRC_DIR} ${file})
        string(REPLACE ";" ", " allowed "${visible}")
        string(APPEND problems "  src/${rel}: ${line} reaches the ${included} layer; "
                               "the ${layer} layer may include only ${allowed}\n")
      endif()
    endforeach()
  endforeach()
endforeach()
if(problems)
  message(FATAL_ERROR "include discipline broken:\n${problems}")
endif()
