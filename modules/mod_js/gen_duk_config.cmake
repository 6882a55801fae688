# cmake -DSRC=/usr/share/duktape -DOUT=<dir> -DOVERRIDES=<file> -P gen_duk_config.cmake
#
# Copies the Duktape amalgamation (duktape.c, duktape.h, duk_config.h) into
# OUT and inserts OVERRIDES at duk_config.h's "__OVERRIDE_DEFINES__" marker.
# All three are copied so that duktape.c's #include "duktape.h" and
# duktape.h's #include "duk_config.h" find the generated configuration
# rather than the originals next to them.
foreach(v SRC OUT OVERRIDES)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "gen_duk_config.cmake: -D${v}=... is required")
  endif()
endforeach()
set(marker "/* __OVERRIDE_DEFINES__ */")
file(READ "${SRC}/duk_config.h" cfg)
file(READ "${OVERRIDES}" ov)
string(FIND "${cfg}" "${marker}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "${SRC}/duk_config.h has no '${marker}' line: unsupported Duktape build")
endif()
string(REPLACE "${marker}" "${marker}\n${ov}" cfg "${cfg}")
file(MAKE_DIRECTORY "${OUT}")
file(WRITE "${OUT}/duk_config.h.tmp" "${cfg}")
file(RENAME "${OUT}/duk_config.h.tmp" "${OUT}/duk_config.h")
configure_file("${SRC}/duktape.h" "${OUT}/duktape.h" COPYONLY)
configure_file("${SRC}/duktape.c" "${OUT}/duktape.c" COPYONLY)
