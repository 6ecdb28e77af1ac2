/*
 * fuzz_store_dump.c: the store dump reader (store_dump_check, the first pass of
 * store_dump_import) over arbitrary bytes: it must answer 0 or CORE_ESYNTAX, never crash,
 * hang or leak. Any input it accepts must end with a valid trailer, so a second check of the
 * same bytes gives the same answer.
 */
#include "fuzz.h"

#include "core/core.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "rb");
	if (f == NULL)
		return 0;
	struct core_error err;
	core_error_clear(&err);
	int rc = store_dump_check(f, &err);
	FUZZ_CHECK(rc == 0 || rc == CORE_ESYNTAX);
	if (rc == 0) {
		rewind(f);
		FUZZ_CHECK(store_dump_check(f, &err) == 0);
	}
	fclose(f);
	return 0;
}
