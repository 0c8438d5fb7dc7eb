# One place for the project's compiler flags; every target links cvmsim_flags.
add_library(cvmsim_flags INTERFACE)
target_compile_options(cvmsim_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(CVMSIM_WERROR)
  target_compile_options(cvmsim_flags INTERFACE -Werror)
endif()
if(CVMSIM_SANITIZE)
  target_compile_options(cvmsim_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(cvmsim_flags INTERFACE -fsanitize=address,undefined)
endif()
