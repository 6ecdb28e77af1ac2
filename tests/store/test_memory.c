/*
 * test_memory.c: the lookup store cases of the conformance suite against the in-memory
 * lookup backend.
 */
#include "helper_store.h"

static const struct store_test_env memory_env = {
	.name = "memory",
	.lookup_backend = "memory",
};

int main(void)
{
	return store_test_run(&memory_env, store_suite_lookup(), NULL);
}
