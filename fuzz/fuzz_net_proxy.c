/*
 * fuzz_net_proxy.c: libFuzzer target for the PROXY protocol v1/v2 parser (net_proxy_parse).
 * Checks on every input:
 * - the result is CORE_MORE, CORE_ESYNTAX or a byte count within the input;
 * - a complete header ends exactly there: one byte less is still incomplete (so feeding a
 *   connection byte by byte stops at the same place as feeding it at once);
 * - the addresses of a parsed header are NUL-terminated within their fields.
 */
#include "core/core.h"
#include "fuzz.h"
#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_proxy_hdr h;
	int r = net_proxy_parse(data, size, &h);
	FUZZ_CHECK(r == CORE_MORE || r == CORE_ESYNTAX || (r > 0 && (size_t)r <= size));
	if (r > 0) {
		FUZZ_CHECK(memchr(h.src_ip, '\0', sizeof(h.src_ip)) != NULL);
		FUZZ_CHECK(memchr(h.dst_ip, '\0', sizeof(h.dst_ip)) != NULL);
		struct net_proxy_hdr h2;
		FUZZ_CHECK(net_proxy_parse(data, (size_t)r - 1, &h2) == CORE_MORE);
		/* The same header followed by other bytes parses the same. */
		FUZZ_CHECK(net_proxy_parse(data, size, &h2) == r);
		FUZZ_CHECK(memcmp(&h, &h2, sizeof(h)) == 0);
	}
	return 0;
}
