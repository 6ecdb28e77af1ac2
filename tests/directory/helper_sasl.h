/*
 * helper_sasl.h: the in-memory SASL backend shared by the directory tests
 * (helper_sasl_backend.c).
 */
#ifndef STAUNCH_TESTS_DIRECTORY_HELPER_SASL_H
#define STAUNCH_TESTS_DIRECTORY_HELPER_SASL_H

#include <stdbool.h>
#include <stdio.h>

#include "core/core.h"
#include "directory/dir_password.h"
#include "directory/sasl.h"

struct test_backend {
	struct sasl_backend be;
	bool fail_temp; /* every callback answers CORE_ETEMP */
	unsigned calls;
};

extern const char test_sasl_token[];

void test_backend_init(struct test_backend *tb);

#endif
