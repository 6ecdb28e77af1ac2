/*
 * fuzz.h: helpers shared by the libFuzzer targets in fuzz/ (one per parser, ARCHITECTURE.md
 * §6). Each target defines LLVMFuzzerTestOneInput(); the prototype is here so targets build
 * with -Wmissing-prototypes. A broken invariant calls FUZZ_CHECK, which aborts so libFuzzer
 * records the input as a crash.
 */
#ifndef STAUNCH_FUZZ_H
#define STAUNCH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with the failed condition: the fuzzer keeps the input that broke it. */
#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                                  \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* A NUL-terminated heap copy of the input (caller frees), for APIs that take C strings. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
