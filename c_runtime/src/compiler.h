/*
 * Function attributes the runtime uses where a compiler offers them (GCC, Clang), and nothing
 * where it does not: they steer code layout only, never behaviour.
 */
#ifndef OOC_COMPILER_H
#define OOC_COMPILER_H

/* Keeps a function out of line: a kernel's hot loop, or a rare path, in a function of its own,
   whose registers the compiler allocates for it alone rather than for everything a caller
   inlined it into. */
#if defined(__GNUC__)
#define OOC_NOINLINE __attribute__((noinline))
#else
#define OOC_NOINLINE
#endif

/* Inlined even where the compiler would rather call: a short kernel step inside a per-pixel loop. */
#if defined(__GNUC__)
#define OOC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define OOC_ALWAYS_INLINE inline
#endif

#endif
