# cmake -DSRC=/usr/share/duktape -DOUT=<dir> -DOVERRIDES=<file> -P gen_duk_config.cmake
#
# Copies the Duktape amalgamation (duktape.c, duktape.h, duk_config.h) into
# OUT, inserts OVERRIDES at duk_config.h's "__OVERRIDE_DEFINES__" marker and
# makes three small insertions into duktape.c and appends one function
# (below).
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

# Two insertions into duktape.c (see duk_config_overrides.h, "Long natives"),
# each after an anchor that must occur exactly once: a Duktape whose source
# differs stops the build instead of silently losing the protection.
#  1. duk_native_stack_check() also asks RP_DUK_NATIVE_INTERRUPT (the
#     ScriptTimeout deadline and the server's stop) and throws RangeError
#     "execution timeout": regexps, JSON, calls and the compiler all pass
#     through it.
#  2. duk__array_qsort() calls duk_native_stack_check() per partition, so a
#     long Array.prototype.sort without a comparator (no calls) is covered.
function(rp_duk_insert var anchor text)
  string(FIND "${${var}}" "${anchor}" first)
  string(FIND "${${var}}" "${anchor}" last REVERSE)
  if(first EQUAL -1 OR NOT first EQUAL last)
    message(FATAL_ERROR "gen_duk_config.cmake: duktape.c: anchor '${anchor}' not found exactly once: unsupported Duktape version")
  endif()
  string(REPLACE "${anchor}" "${anchor}${text}" out "${${var}}")
  set(${var} "${out}" PARENT_SCOPE)
endfunction()
file(READ "${SRC}/duktape.c" duk)
rp_duk_insert(duk
  "DUK_INTERNAL void duk_native_stack_check(duk_hthread *thr) {\n"
  "#if defined(RP_DUK_NATIVE_INTERRUPT) /* mod_js: gen_duk_config.cmake */\n\tif (RP_DUK_NATIVE_INTERRUPT(thr->heap->heap_udata) != 0) {\n\t\tDUK_ERROR_RANGE(thr, \"execution timeout\");\n\t}\n#endif\n")
rp_duk_insert(duk
  "DUK_LOCAL void duk__array_qsort(duk_hthread *thr, duk_int_t lo, duk_int_t hi) {\n\tduk_int_t p, l, r;\n"
  "\tduk_native_stack_check(thr); /* mod_js: gen_duk_config.cmake */\n")
#  3. duk__numconv_stringify_raw() tries RP_DUK_SHORT_DECIMAL (rt/numfmt.c)
#     for a shortest radix-10 conversion after its uint32 fast path and
#     before Dragon4: short decimals (19.99) without bignums.
rp_duk_insert(duk
  "\t\tp += duk__dragon4_format_uint32(p, uval, radix);\n\t\tduk_push_lstring(thr, (const char *) buf, (duk_size_t) (p - buf));\n\t\treturn;\n\t}\n"
  "#if defined(RP_DUK_SHORT_DECIMAL) /* mod_js: gen_duk_config.cmake */\n\tif (radix == 10 && digits == 0 && flags == 0) {\n\t\tchar rp_buf[32];\n\t\tduk_size_t rp_len = RP_DUK_SHORT_DECIMAL(x, neg, rp_buf);\n\t\tif (rp_len > 0) {\n\t\t\tduk_push_lstring(thr, rp_buf, rp_len);\n\t\t\treturn;\n\t\t}\n\t}\n#endif\n")
# 4. duk_ownkeys.inc (next to OVERRIDES) is appended: mod_js's property
#    helpers (rp_duk_own_key, a walk of a plain object's own keys without an
#    enumerator object; rp_duk_def_accessor; rp_duk_accessor_to_data;
#    rp_duk_push_shape_copy, an object made as a copy of a template's
#    property table).
get_filename_component(ovdir "${OVERRIDES}" DIRECTORY)
file(READ "${ovdir}/duk_ownkeys.inc" ownkeys)
string(APPEND duk "${ownkeys}")
file(WRITE "${OUT}/duktape.c.tmp" "${duk}")
file(RENAME "${OUT}/duktape.c.tmp" "${OUT}/duktape.c")
