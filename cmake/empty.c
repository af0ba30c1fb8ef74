/* The shared library's own sources are all in nst_core (linked in whole); CMake wants one here. */
typedef int nst_empty_translation_unit;
