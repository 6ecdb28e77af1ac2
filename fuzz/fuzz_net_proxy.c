/*
 * fuzz_net_proxy.c: libFuzzer target for the PROXY protocol v1/v2 parser (net_proxy_parse).
 * Checks the parser's contract on every input: the result is CORE_MORE, CORE_ESYNTAX or a
 * byte count within the input, and a shorter prefix of a complete header never completes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"
#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_proxy_hdr h;
	int r = net_proxy_parse(data, size, &h);
	if (!(r == CORE_MORE || r == CORE_ESYNTAX || (r > 0 && (size_t)r <= size)))
		abort();
	if (r > 0) {
		/* The header ends exactly at r: one byte less is still incomplete. */
		struct net_proxy_hdr h2;
		if (net_proxy_parse(data, (size_t)r - 1, &h2) != CORE_MORE)
			abort();
	}
	return 0;
}
