# cmake -DREADME=README.md -DEXAMPLE=examples/stylize.c -P check_readme_example.cmake
# Fails unless README contains EXAMPLE verbatim inside a ```c block.
file(READ ${README} readme)
file(READ ${EXAMPLE} example)
string(FIND "${readme}" "```c\n${example}```" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README} does not show ${EXAMPLE} verbatim in a ```c block; copy it again")
endif()
